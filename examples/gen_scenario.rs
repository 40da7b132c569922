//! Writes a scale scenario: a sandbox directory with the live assignments,
//! grants files with the desired ones, and a config that syncs the two.
//!
//! ```sh
//! cargo run --release --example gen_scenario -- --out /tmp/scale-1m \
//!     --desired 1000000 --live 1000000 --creates 0.05 --updates 0.05
//! cargo run --release --example gen_scenario -- --out /tmp/scale-apply \
//!     --desired 100000 --live 0 --creates 1 --url http://127.0.0.1:18080
//! ```
//!
//! The same flags and seed always write the same files. `--url` points the
//! config at a sandbox that runs on its own (`grantsync sandbox`), whose key
//! the config reads from `sandbox.key`; without it the config starts the
//! embedded sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use grantsync::scenario::{self, ConfigOptions, Spec};

#[derive(Debug, Parser)]
#[command(about = "Write a deterministic scale scenario for grantsync")]
struct Args {
    /// The folder to write into; created if missing.
    #[arg(long)]
    out: PathBuf,
    /// Desired grants in all.
    #[arg(long, default_value_t = 10_000)]
    desired: usize,
    /// Live assignments in all.
    #[arg(long, default_value_t = 10_000)]
    live: usize,
    /// Share of the desired grants that are not live (creates).
    #[arg(long, default_value_t = 0.05)]
    creates: f64,
    /// Share of the desired grants that are live with another window (updates).
    #[arg(long, default_value_t = 0.05)]
    updates: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Desired grants per grants file.
    #[arg(long)]
    grants_per_file: Option<usize>,
    /// `sandbox`, or the base URL of a sandbox that runs on its own.
    #[arg(long, default_value = "sandbox")]
    url: String,
    /// `api.bulk_size` of the written config.
    #[arg(long, default_value_t = 500)]
    bulk_size: usize,
    /// `api.concurrency` of the written config.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut spec = match Spec::from_shares(
        args.seed,
        args.desired,
        args.live,
        args.creates,
        args.updates,
    ) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(per_file) = args.grants_per_file {
        spec.grants_per_file = per_file;
    }
    let options = ConfigOptions {
        url: args.url,
        bulk_size: args.bulk_size,
        concurrency: args.concurrency,
    };
    match scenario::write(&spec, &args.out, &options) {
        Ok(written) => {
            eprintln!(
                "wrote {} desired grants in {} files and {} live assignments ({} creates, {} updates, {} revokes, {} unchanged) to {}",
                spec.desired(),
                written.grants_files,
                spec.live(),
                spec.creates,
                spec.updates,
                spec.revokes,
                spec.unchanged,
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "error: cannot write the scenario to {}: {error}",
                args.out.display()
            );
            ExitCode::FAILURE
        }
    }
}
