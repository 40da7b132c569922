//! Reads and parses every source of a config's environments with the same
//! code a plan uses, and says how many grants it found: the parsing floor
//! that `benches/run.sh` sets beside a whole plan.
//!
//! ```sh
//! cargo run --release --example load_sources -- /tmp/scale-1m/grantsync.yaml
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use grantsync::config::Config;

#[derive(Debug, Parser)]
#[command(about = "Read and parse the sources of a config, nothing else")]
struct Args {
    /// The config file.
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let now = jiff::Timestamp::now();
    let mut grants = 0;
    for env in &config.environments {
        match grantsync::sync::load_sources(&config.base_dir, env, now) {
            Ok(sources) => grants += sources.iter().map(|s| s.grants.len()).sum::<usize>(),
            Err(message) => {
                eprintln!("error: environment {}: {message}", env.name);
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{{\"grants\": {grants}, \"seconds\": {:.3}}}",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
