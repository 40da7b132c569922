//! What the benchmarks share: their size, scenario folders written once and
//! kept between runs, and a sandbox on loopback.
//!
//! Under `cargo bench` the sizes are the targets' (a million grants, a
//! hundred thousand creates); under `cargo test --benches` each benchmark
//! runs once on a small scenario, so CI checks that they work without
//! paying for the large ones. `GRANTSYNC_BENCH_SIZE` overrides the size.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use grantsync::config::Config;
use grantsync::sandbox::{self, Faults, Sandbox};
use grantsync::scenario::{self, ConfigOptions, Spec};

/// Whether criterion measures (`cargo bench`) rather than checks once.
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// `GRANTSYNC_BENCH_SIZE` when set, else `full` when measuring, else `small`.
pub fn size(full: usize, small: usize) -> usize {
    std::env::var("GRANTSYNC_BENCH_SIZE")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(if measuring() { full } else { small })
}

/// The folder of a scenario, written on first use and reused while its
/// spec is the same: writing and seeding a million grants takes longer than
/// the thing measured.
pub fn scenario_dir(name: &str, spec: &Spec) -> PathBuf {
    let root = std::env::var_os("GRANTSYNC_BENCH_DIR").map_or_else(
        || std::env::temp_dir().join("grantsync-bench"),
        PathBuf::from,
    );
    let dir = root.join(format!("{name}-{}", spec.keys()));
    let marker = dir.join("spec.json");
    let wanted = serde_json::to_string(spec).expect("a spec serializes");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("old scenario removed");
        }
        scenario::write(spec, &dir, &ConfigOptions::default()).expect("scenario written");
        std::fs::write(&marker, wanted).expect("marker written");
    }
    dir
}

/// Starts a sandbox on the scenario's directory, its store in `data` under
/// the scenario folder (kept unless `reset`), and points the scenario's
/// config at it.
pub async fn start_sandbox(dir: &Path, data: &str, reset: bool) -> (Sandbox, Config) {
    let options = sandbox::Options {
        directory: dir.join("directory.yaml"),
        data_dir: dir.join(data),
        reset,
        now: None,
        faults: Faults::default(),
        allow_remote: false,
    };
    let sandbox = Sandbox::start(options, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("sandbox starts");
    let options = ConfigOptions {
        url: sandbox.url(),
        ..ConfigOptions::default()
    };
    let config = scenario::write_config(dir, &options).expect("config written");
    let config = Config::load(&config).expect("generated config loads");
    (sandbox, config)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Calls by route between two snapshots of the sandbox's statistics.
pub fn route_delta(before: &sandbox::Stats, after: &sandbox::Stats, route: &str) -> u64 {
    let count = |s: &sandbox::Stats| s.by_route.get(route).copied().unwrap_or(0);
    count(after) - count(before)
}
