//! Lists every live assignment of a running sandbox (or service) through
//! grantsync's own client, and says how many and in how many pages: the
//! listing floor that `benches/run.sh` sets beside a whole plan.
//!
//! ```sh
//! cargo run --release --example list_live -- --url http://127.0.0.1:18080 \
//!     --key-file /tmp/scale-1m/sandbox.key
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use grantsync::api::{ApiKey, Client, ClientOptions};

#[derive(Debug, Parser)]
#[command(about = "List every live assignment through grantsync's client")]
struct Args {
    /// The service's base URL.
    #[arg(long)]
    url: String,
    /// A file that holds the API key.
    #[arg(long)]
    key_file: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let key = match ApiKey::from_file(&args.key_file) {
        Ok(key) => key,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let client = match Client::new(&args.url, key, ClientOptions::default()) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    match client.list_assignments().await {
        Ok(live) => {
            let calls = client.stats().snapshot();
            println!(
                "{{\"assignments\": {}, \"pages\": {}, \"seconds\": {:.3}}}",
                live.len(),
                calls.reads,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
