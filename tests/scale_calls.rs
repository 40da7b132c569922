//! The calls a sync makes, counted on a generated scenario: creates go in
//! ⌈creates / bulk limit⌉ bulk calls, live assignments are listed in pages
//! of 1000, and an apply with nothing to do writes nothing. Counts, not
//! times: the timings are in `benches/`.

mod common;

use grantsync::sandbox::{Faults, Sandbox};
use grantsync::scenario::{self, ConfigOptions, Spec};
use serde_json::Value;

const BULK_LIMIT: usize = 500;

const BULK_ROUTE: &str = "POST /api/v1/assignments/bulk-create";
const LIST_ROUTE: &str = "GET /api/v1/assignments";

/// A scenario of `spec` under a temporary directory, its sandbox started on
/// loopback with the given bulk limit, and its config pointed at it.
async fn scenario(spec: &Spec) -> (tempfile::TempDir, Sandbox, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let written = scenario::write(spec, dir.path(), &ConfigOptions::default()).unwrap();
    let faults = Faults {
        bulk_limit: Some(BULK_LIMIT),
        ..Faults::default()
    };
    let data = dir.path().join("sandbox-data");
    let sandbox = common::start_sandbox_with(&written.directory, &data, None, faults).await;
    let options = ConfigOptions {
        url: sandbox.url(),
        bulk_size: BULK_LIMIT,
        concurrency: 4,
    };
    let config = scenario::write_config(dir.path(), &options).unwrap();
    (dir, sandbox, config)
}

/// Runs the real binary off the runtime's threads, so the sandbox it calls
/// keeps serving.
async fn grantsync(args: &[&str]) -> (i32, Value) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_json(&args)
    })
    .await
    .unwrap()
}

fn route(stats: &grantsync::sandbox::Stats, route: &str) -> u64 {
    stats.by_route.get(route).copied().unwrap_or(0)
}

fn calls(report: &Value) -> &Value {
    &report["environments"][0]["calls"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_take_the_fewest_bulk_calls_and_a_second_apply_writes_nothing() {
    let spec = Spec::sized(1, 0, 0, 2_500, 0);
    let (dir, sandbox, config) = scenario(&spec).await;
    let config = config.to_str().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();

    let (code, report) = grantsync(&["apply", "-c", config, "--state-dir", state]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(common::summary(&report)["create"], 2_500);
    assert_eq!(report["environments"][0]["outcomes"]["created"], 2_500);
    let after_first = sandbox.stats();
    assert_eq!(route(&after_first, BULK_ROUTE), 5, "{after_first:?}");
    assert_eq!(after_first.writes, 5, "{after_first:?}");
    assert_eq!(calls(&report)["writes"], 5);

    let (code, report) = grantsync(&["apply", "-c", config, "--state-dir", state]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(common::counts(&report), [0, 0, 0, 2_500, 0, 0, 0]);
    let after_second = sandbox.stats();
    assert_eq!(after_second.writes, after_first.writes, "{after_second:?}");
    assert_eq!(calls(&report)["writes"], 0);
    assert_eq!(
        route(&after_second, LIST_ROUTE) - route(&after_first, LIST_ROUTE),
        3,
        "2,500 live assignments take three pages of 1,000"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_scenario_plans_its_counts_and_writes_once_per_change() {
    let spec = Spec::sized(2, 2_000, 100, 300, 100);
    let (dir, sandbox, config) = scenario(&spec).await;
    let config = config.to_str().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();

    let (code, plan) = grantsync(&["plan", "-c", config, "--state-dir", state]).await;
    assert_eq!(code, 0, "{plan}");
    assert_eq!(common::counts(&plan), [300, 100, 0, 2_000, 100, 0, 0]);
    assert_eq!(calls(&plan)["writes"], 0);

    let before = sandbox.stats();
    let (code, report) = grantsync(&["apply", "-c", config, "--state-dir", state]).await;
    assert_eq!(code, 0, "{report}");
    let after = sandbox.stats();
    // One bulk call for the 300 creates, one PATCH per update, one DELETE
    // per revoke.
    assert_eq!(route(&after, BULK_ROUTE) - route(&before, BULK_ROUTE), 1);
    assert_eq!(after.writes - before.writes, 1 + 100 + 100, "{after:?}");
    assert_eq!(calls(&report)["writes"], 201);

    let (code, report) = grantsync(&["apply", "-c", config, "--state-dir", state]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(common::counts(&report), [0, 0, 0, 2_400, 0, 0, 0]);
    assert_eq!(sandbox.stats().writes, after.writes);
    sandbox.shutdown().await;
}
