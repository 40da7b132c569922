//! The `grantsync` binary: parse the command line, set up logging and the
//! runtime, run the library, exit with its code.

use clap::Parser;
use grantsync::cli::{self, Cli, ColorChoice, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() {
    // A usage error exits 1, not clap's 2: under --detailed-exitcode, 2
    // means "changes pending", and a typo must not pass a pipeline.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() {
                cli::EXIT_ERROR
            } else {
                cli::EXIT_OK
            };
            let _ = error.print();
            std::process::exit(code);
        }
    };
    match cli.color {
        ColorChoice::Always => anstream::ColorChoice::Always.write_global(),
        ColorChoice::Never => anstream::ColorChoice::Never.write_global(),
        ColorChoice::Auto => {}
    }
    init_logging(&cli);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            std::process::exit(cli::EXIT_ERROR);
        }
    };
    let code = runtime.block_on(cli::run(cli));
    // Calls still in flight after an interrupt are not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}

/// Logs go to stderr. The level comes from `GRANTSYNC_LOG` when set, else
/// from -v/-q; long-running commands log their lifecycle by default.
fn init_logging(cli: &Cli) {
    let long_running = matches!(cli.command, Command::Sandbox(_) | Command::Run(_));
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) if long_running => "info",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_env("GRANTSYNC_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},hyper=warn,reqwest=warn,h2=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => {
            use std::io::IsTerminal;
            let ansi = match cli.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            builder.with_ansi(ansi).init()
        }
    }
}
