//! The command line: parsing, output, and the exit code.
//!
//! stdout carries the product (the plan, the report, JSON); stderr carries
//! logs, warnings and errors, so `grantsync plan --format json | jq` always
//! works. The exit code is decided in one place, [`exit_code`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::daemon;
use crate::report::junit::{self, JunitOptions};
use crate::report::markdown::{self, MarkdownOptions};
use crate::report::text::{self, TextOptions};
use crate::report::{Mode, RunReport, diff};
use crate::saved_plan;
use crate::sync::{RunOptions, Runner};
use crate::{explain, export, sandbox, schema, validate};

mod manual;

/// Success, and with `--detailed-exitcode` no change pending.
pub const EXIT_OK: i32 = 0;
/// An error, or a run refused by a safety rail.
pub const EXIT_ERROR: i32 = 1;
/// With `--detailed-exitcode`: changes are pending.
pub const EXIT_CHANGES: i32 = 2;
/// An apply in which some items failed.
pub const EXIT_ITEMS_FAILED: i32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "grantsync",
    version,
    about = "Keep an access-management service in the state your files declare"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v: info, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The format of log lines on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would change, without changing anything.
    Plan(PlanArgs),
    /// Make the service match the files.
    Apply(ApplyArgs),
    /// Check the config and every source, and the names they use against the service.
    Validate(ValidateArgs),
    /// Run a local implementation of the access service's API.
    Sandbox(SandboxArgs),
    /// Keep syncing: at start, when a source or the config changes, and on
    /// `daemon.schedule`; serve /healthz /readyz /metrics /status.
    Run(DaemonArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff) of grantsync or of one of its commands.
    Man(ManArgs),
    /// Write the live assignments of an environment as grants files.
    Export(ExportArgs),
    /// Show one identity's grants: where each is declared, what is live, what the plan does.
    Explain(ExplainArgs),
    /// Print or write the JSON Schemas of grantsync's files.
    Schema(SchemaArgs),
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The config file.
    #[arg(long, short = 'c', default_value = "grantsync.yaml")]
    pub config: PathBuf,
    /// Where reports and other state go; `.grantsync/` beside the config by default.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Only this environment (repeatable); all by default.
    #[arg(long = "env", value_name = "NAME")]
    pub environments: Vec<String>,
    /// Revoke live assignments that no source declares, inside the configured scope.
    #[arg(long)]
    pub prune: bool,
    /// Sync once, as at start, and exit with the code `apply` would.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command (`plan`, `apply`, ...) for its own page; grantsync's otherwise.
    pub command: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file.
    #[arg(long, short = 'c', default_value = "grantsync.yaml")]
    pub config: PathBuf,
    /// Only this environment (repeatable); all by default.
    #[arg(long = "env", value_name = "NAME")]
    pub environments: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Revoke live assignments that no source declares, inside the configured scope.
    #[arg(long)]
    pub prune: bool,
    /// Where reports and other state go; `.grantsync/` beside the config by default.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Plan as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// Exit 2 when changes are pending, 0 when none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Refuse an environment with unresolved references.
    #[arg(long)]
    pub strict: bool,
    /// List live-only assignments outside the managed scope (text, markdown, junit).
    #[arg(long)]
    pub show_unmanaged: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Also save the plan to FILE, for a reviewed `apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Allow this run to revoke more than `limits.max_revocations`.
    #[arg(long)]
    pub allow_mass_revoke: bool,
    /// Allow a source that shrank past `limits.max_source_shrink`, or is empty.
    #[arg(long)]
    pub allow_source_shrink: bool,
    /// Apply exactly the plan `plan --out` saved in FILE; refused when a
    /// file or the live state moved since.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["environments", "prune", "now"])]
    pub plan: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The config file.
    #[arg(long, short = 'c', default_value = "grantsync.yaml")]
    pub config: PathBuf,
    /// Only this environment (repeatable); all by default.
    #[arg(long = "env", value_name = "NAME")]
    pub environments: Vec<String>,
    /// Check the files alone; do not ask the service whether the names exist.
    #[arg(long)]
    pub offline: bool,
    /// Where the embedded sandbox keeps its store; `.grantsync/` beside the config by default.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The config file.
    #[arg(long, short = 'c', default_value = "grantsync.yaml")]
    pub config: PathBuf,
    /// The environment to export; needed when the config has more than one.
    #[arg(long = "env", value_name = "NAME")]
    pub environment: Option<String>,
    /// The directory to write the grants files into, one per root node.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
    /// Where the embedded sandbox keeps its store; `.grantsync/` beside the config by default.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// What the files' `$schema` line points at; by default the nearest
    /// `schemas/grants.schema.json` above DIR, else a copy written into DIR.
    #[arg(long, value_name = "PATH_OR_URL")]
    pub schema_ref: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The identity: an email, `external:<HR id>`, or a UUID.
    pub identity: String,
    /// The config file.
    #[arg(long, short = 'c', default_value = "grantsync.yaml")]
    pub config: PathBuf,
    /// Only this environment (repeatable); all by default.
    #[arg(long = "env", value_name = "NAME")]
    pub environments: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Explain the plan as it would be with pruning on.
    #[arg(long)]
    pub prune: bool,
    /// Plan as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// Where reports and other state go; `.grantsync/` beside the config by default.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema to print, by file name (`grants.schema.json`, or `grants`); lists them when left out.
    pub name: Option<String>,
    /// Write every schema into DIR instead of printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "name")]
    pub out: Option<PathBuf>,
    /// Narrow the grants and HR mapping schemas to the role keys and node
    /// paths that this config's service knows, for an editor to check them.
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The environment whose names to use; needed when the config has more than one.
    #[arg(long = "env", value_name = "NAME", requires = "config")]
    pub environment: Option<String>,
    /// Where the embedded sandbox keeps its store; `.grantsync/` beside the config by default.
    #[arg(long, value_name = "DIR", requires = "config")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The directory file that seeds the sandbox.
    #[arg(long, value_name = "FILE")]
    pub directory: PathBuf,
    /// Address to listen on; loopback only unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the store lives.
    #[arg(long, value_name = "DIR", default_value = ".grantsync-sandbox")]
    pub data: PathBuf,
    /// Wipe the store and seed it afresh from the directory.
    #[arg(long)]
    pub reset: bool,
    /// A fixed clock (RFC 3339), for tests that replay.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<Timestamp>,
    /// Listen on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Faults injected on purpose (bulk limit, latency, error rates, seed).
    #[command(flatten)]
    pub faults: FaultArgs,
}

/// Faults `grantsync sandbox` injects on purpose, for trying clients.
#[derive(Debug, Clone, Args)]
pub struct FaultArgs {
    /// Items one bulk-create call may carry; more is answered 413 (default 500).
    #[arg(long)]
    pub bulk_limit: Option<usize>,
    /// Milliseconds added to every request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of requests answered 503 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests answered 429 with Retry-After (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub rate_limit_rate: f64,
    /// Seconds a 429 asks the client to wait.
    #[arg(long)]
    pub retry_after_secs: Option<u64>,
    /// Share of writes committed and then answered with a cut connection.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Share of bulk items that fail on their own.
    #[arg(long, default_value_t = 0.0)]
    pub item_failure_rate: f64,
    /// Seed of the fault decisions, so a run can be replayed.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl From<FaultArgs> for sandbox::Faults {
    fn from(args: FaultArgs) -> sandbox::Faults {
        sandbox::Faults {
            latency_ms: args.latency_ms,
            error_rate: args.error_rate,
            rate_limit_rate: args.rate_limit_rate,
            drop_rate: args.drop_rate,
            item_failure_rate: args.item_failure_rate,
            bulk_limit: args.bulk_limit,
            retry_after_secs: args.retry_after_secs,
            seed: args.seed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Grouped by environment and node, for a terminal or a CI log.
    Text,
    /// The report, for machines.
    Json,
    /// For a pull-request comment.
    Markdown,
    /// A unified diff of live and desired assignments as grants YAML.
    Diff,
    /// JUnit XML, one test case per item, for CI test panels.
    Junit,
}

/// What a command may say on stderr besides errors.
#[derive(Debug, Clone, Copy)]
struct Stderr {
    quiet: bool,
    verbose: u8,
}

/// Runs a parsed command line and returns the process's exit code.
pub async fn run(cli: Cli) -> i32 {
    let stderr = Stderr {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Plan(args) => {
            let reviewed = args.out.map_or(Reviewed::No, Reviewed::Save);
            run_sync(Mode::Plan, args.run, false, false, stderr, reviewed).await
        }
        Command::Apply(args) => {
            let reviewed = args.plan.map_or(Reviewed::No, Reviewed::Apply);
            run_sync(
                Mode::Apply,
                args.run,
                args.allow_mass_revoke,
                args.allow_source_shrink,
                stderr,
                reviewed,
            )
            .await
        }
        Command::Completions(args) => finish_output(manual::write_completions(
            args.shell,
            &mut std::io::stdout(),
        )),
        Command::Man(args) => {
            match manual::write_man(args.command.as_deref(), &mut std::io::stdout()) {
                Ok(()) => EXIT_OK,
                Err(manual::Error::Write(error)) => finish_output(Err(error)),
                Err(error) => fail(&error),
            }
        }
        Command::Validate(args) => {
            let options = validate::Options {
                config: args.config,
                environments: args.environments,
                offline: args.offline,
                state_dir: args.state_dir,
            };
            validate::run(&options).await
        }
        Command::Export(args) => {
            let options = export::Options {
                config: args.config,
                environment: args.environment,
                out: args.out,
                force: args.force,
                state_dir: args.state_dir,
                schema_ref: args.schema_ref,
            };
            export::run(&options).await
        }
        Command::Explain(args) => {
            let options = explain::Options {
                identity: args.identity,
                config: args.config,
                environments: args.environments,
                json: args.format == Format::Json,
                prune: args.prune,
                now: args.now,
                state_dir: args.state_dir,
            };
            explain::run(&options).await
        }
        Command::Schema(args) => {
            let options = schema::Options {
                name: args.name,
                out: args.out,
                config: args.config,
                environment: args.environment,
                state_dir: args.state_dir,
            };
            schema::run(&options).await
        }
        Command::Sandbox(args) => {
            let options = sandbox::Options {
                directory: args.directory,
                data_dir: args.data,
                reset: args.reset,
                now: args.now,
                faults: args.faults.into(),
                allow_remote: args.allow_remote,
            };
            match sandbox::serve_until_signal(options, args.listen).await {
                Ok(()) => EXIT_OK,
                Err(error) => fail(&error),
            }
        }
        Command::Run(args) => run_daemon(args).await,
    }
}

/// `grantsync run`: until SIGTERM or SIGINT, which let the sync in progress
/// finish its calls in flight and write its report; then exit 0.
async fn run_daemon(args: DaemonArgs) -> i32 {
    let options = daemon::Options {
        config: args.config,
        state_dir: args.state_dir,
        environments: args.environments,
        prune: args.prune,
    };
    let shutdown = CancellationToken::new();
    let signals = crate::signal::cancel_on_signal(shutdown.clone());
    let code = if args.once {
        match daemon::run_once(options, shutdown).await {
            Ok(report) => {
                for env in &report.environments {
                    if let Some(error) = &env.error {
                        eprintln!("error: environment {}: {error}", env.name);
                    }
                    for refusal in &env.refusals {
                        eprintln!("error: {}", refusal.message);
                    }
                }
                exit_code(&report, false)
            }
            Err(error) => fail(&error),
        }
    } else {
        match daemon::Daemon::start(options, shutdown).await {
            Ok(running) => {
                running.wait().await;
                tracing::info!("stopped");
                EXIT_OK
            }
            Err(error) => fail(&error),
        }
    };
    signals.abort();
    code
}

/// Whether a plan is saved for review, or a reviewed plan applied.
enum Reviewed {
    No,
    Save(PathBuf),
    Apply(PathBuf),
}

async fn run_sync(
    mode: Mode,
    args: RunArgs,
    allow_mass_revoke: bool,
    allow_source_shrink: bool,
    stderr: Stderr,
    reviewed: Reviewed,
) -> i32 {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    let reports_dir = match (&args.state_dir, &config.reports.dir) {
        (Some(state), _) => state.join("reports"),
        (None, Some(dir)) => dir.clone(),
        (None, None) => config.base_dir.join(".grantsync").join("reports"),
    };
    let keep = config.reports.keep;
    let mut options = RunOptions::new(mode);
    options.environments = args.environments.clone();
    options.prune = args.prune;
    options.now = args.now;
    options.allow_mass_revoke = allow_mass_revoke;
    options.allow_source_shrink = allow_source_shrink;
    options.strict = args.strict;
    // Log lines would tear a progress bar; with -v they are the progress.
    options.progress = !stderr.quiet && stderr.verbose == 0;
    options.keep_assignments = args.format == Format::Diff;
    let signals = crate::signal::cancel_on_signal(options.cancel.clone());

    let mut runner = Runner::new(config, args.state_dir.clone());
    let mut not_saved = false;
    let result: Result<RunReport, Box<dyn std::error::Error>> = match &reviewed {
        Reviewed::No => runner.run(&options).await.map_err(Into::into),
        Reviewed::Apply(path) => saved_plan::apply_file(&mut runner, path, &options)
            .await
            .map_err(Into::into),
        Reviewed::Save(path) => saved_plan::plan_and_save(&mut runner, path, &options)
            .await
            .map(|(report, saved)| {
                not_saved = !announce_saved(path, saved);
                report
            })
            .map_err(Into::into),
    };
    runner.shutdown().await;
    signals.abort();
    let report = match result {
        Ok(report) => report,
        Err(error) => return fail(&*error),
    };

    if mode == Mode::Apply {
        match report.write(&reports_dir, keep) {
            Ok(path) => tracing::info!(path = %path.display(), "report written"),
            Err(error) => eprintln!(
                "error: cannot write the report under {}: {error}",
                reports_dir.display()
            ),
        }
    }
    if finish_output(print_report(&report, &args)) != EXIT_OK {
        return EXIT_ERROR;
    }
    if args.format == Format::Diff && !stderr.quiet {
        for note in diff::left_out(&report) {
            eprintln!("warning: {note}");
        }
    }
    for env in &report.environments {
        if let Some(error) = &env.error {
            eprintln!("error: environment {}: {error}", env.name);
        }
        for refusal in &env.refusals {
            eprintln!("error: {}", refusal.message);
        }
    }
    if report.interrupted {
        eprintln!("error: interrupted; items not sent are reported as not_attempted");
    }
    if not_saved {
        return EXIT_ERROR;
    }
    exit_code(&report, args.detailed_exitcode)
}

/// Says where a plan was saved, or why it was not; whether it was.
fn announce_saved(path: &std::path::Path, saved: Result<(), saved_plan::Error>) -> bool {
    match saved {
        Ok(()) => {
            eprintln!(
                "plan saved to {}; apply exactly this plan with `grantsync apply --plan {}`",
                path.display(),
                path.display()
            );
            true
        }
        Err(error) => {
            fail(&error);
            false
        }
    }
}

fn print_report(report: &RunReport, args: &RunArgs) -> std::io::Result<()> {
    let mut out = anstream::stdout().lock();
    let show_unmanaged = args.show_unmanaged;
    match args.format {
        Format::Json => writeln!(out, "{}", report.to_json())?,
        Format::Text => text::render(report, TextOptions { show_unmanaged }, &mut out)?,
        Format::Markdown => {
            let options = MarkdownOptions {
                show_unmanaged,
                ..MarkdownOptions::default()
            };
            markdown::render(report, options, &mut out)?
        }
        Format::Diff => diff::render(report, &mut out)?,
        Format::Junit => junit::render(report, JunitOptions { show_unmanaged }, &mut out)?,
    }
    out.flush()
}

/// The exit code after writing the product to stdout: a closed pipe is a
/// quiet success (`grantsync plan | head`), any other failure an error.
fn finish_output(result: std::io::Result<()>) -> i32 {
    match result {
        Ok(()) => EXIT_OK,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(error) => {
            eprintln!("error: cannot write the output: {error}");
            EXIT_ERROR
        }
    }
}

/// The exit code of a plan or apply.
pub fn exit_code(report: &RunReport, detailed: bool) -> i32 {
    let refused_or_failed = report
        .environments
        .iter()
        .any(|env| env.error.is_some() || !env.refusals.is_empty());
    if refused_or_failed || report.interrupted {
        return EXIT_ERROR;
    }
    if report.mode == Mode::Apply && report.environments.iter().any(|env| env.failed_items() > 0) {
        return EXIT_ITEMS_FAILED;
    }
    let pending = report
        .environments
        .iter()
        .any(|env| env.summary.changes() > 0);
    if detailed && report.mode == Mode::Plan && pending {
        return EXIT_CHANGES;
    }
    EXIT_OK
}

fn fail(error: &dyn std::error::Error) -> i32 {
    eprintln!("error: {}", crate::error_chain(error));
    EXIT_ERROR
}
