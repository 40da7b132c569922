//! Apply under a bad network and a bad day: a sandbox that fails on purpose,
//! an apply interrupted by a signal, and an apply killed at random moments.
//! In every case the next run converges with nothing lost and nothing doubled.

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use common::scenario::{Grant, KEY_ENV, PROD_KEY, Scenario, members, person};
use common::{run_with_key, start_sandbox_with};
use grantsync::api::{ApiKey, Client, ClientOptions};
use grantsync::sandbox::{Faults, Sandbox};
use rand::{Rng, SeedableRng};
use serde_json::Value;

const BULK_ROUTE: &str = "POST /api/v1/assignments/bulk-create";

/// Every live assignment, checked to hold each (identity, node, role) once.
async fn live_keys(sandbox: &Sandbox) -> HashSet<(uuid::Uuid, uuid::Uuid, uuid::Uuid)> {
    let client = Client::new(
        &sandbox.url(),
        ApiKey::new(PROD_KEY),
        ClientOptions::default(),
    )
    .unwrap();
    let live = client.list_assignments().await.unwrap();
    let keys: HashSet<_> = live
        .iter()
        .map(|a| (a.identity_id, a.node_id, a.role_id))
        .collect();
    assert_eq!(
        keys.len(),
        live.len(),
        "no (identity, node, role) is held twice"
    );
    keys
}

fn outcomes(report: &Value) -> &Value {
    &report["environments"][0]["outcomes"]
}

fn count(report: &Value, outcome: &str) -> u64 {
    outcomes(report)[outcome].as_u64().unwrap_or(0)
}

fn write_config(scenario: &Scenario, url: &str, api: &str, extra: &str) -> String {
    let yaml = format!(
        "environments:\n  - name: Production\n    api: {{url: \"{url}\", key_env: {KEY_ENV}{api}}}\n    sources:\n      - grants: access/*.yaml\n{extra}"
    );
    let path = scenario.path().join("grantsync.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_converges_through_a_matrix_of_faults() {
    let scenario = Scenario::new(1000, 5, &[]);
    let faults = Faults {
        error_rate: 0.2,
        rate_limit_rate: 0.1,
        drop_rate: 0.05,
        bulk_limit: Some(100),
        retry_after_secs: Some(0),
        seed: Some(20261204),
        ..Faults::default()
    };
    let sandbox = start_sandbox_with(
        &scenario.directory(),
        &scenario.path().join("store"),
        None,
        faults,
    )
    .await;
    let desired = members(1000, 5);
    scenario.write_grants("teams", &desired);
    let config = write_config(&scenario, &sandbox.url(), "", "");

    // A run may end with items failed after every retry; the next one picks
    // them up. Each run must account for every item.
    let mut already_assigned = 0;
    let mut first: Option<Value> = None;
    for attempt in 1.. {
        assert!(attempt <= 4, "no convergence after three runs");
        let run = run_with_key(
            &["apply", "--config", &config, "--format", "json"],
            PROD_KEY,
        )
        .await;
        let report = run.json();
        let items = report["environments"][0]["items"].as_array().unwrap();
        assert!(
            items.iter().all(|i| i["outcome"].is_string()),
            "every item has an outcome"
        );
        already_assigned += count(&report, "already_assigned");
        if first.is_none() {
            first = Some(report.clone());
        }
        if run.code == 0 {
            break;
        }
        assert_eq!(run.code, 3, "only item failures may remain: {}", run.stderr);
    }
    let first = first.unwrap();
    assert_eq!(
        count(&first, "created") + count(&first, "already_assigned") + count(&first, "failed"),
        5000,
        "{}",
        outcomes(&first)
    );
    let stats = sandbox.stats();
    assert!(
        stats.faults.unavailable > 0 && stats.faults.rate_limited > 0,
        "{stats:?}"
    );
    assert!(
        stats.by_status.get(&413).copied().unwrap_or(0) > 0,
        "the client met the bulk limit"
    );
    if stats.faults.dropped > 0 {
        assert!(
            already_assigned > 0,
            "a lost answer's retry comes back already_assigned"
        );
    }

    assert_eq!(live_keys(&sandbox).await.len(), 5000);
    let run = run_with_key(&["plan", "--config", &config, "--format", "json"], PROD_KEY).await;
    assert_eq!(common::counts(&run.json()), [0, 0, 0, 5000, 0, 0, 0]);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_apply_finishes_calls_in_flight_and_reports_the_rest() {
    let scenario = Scenario::new(300, 5, &[]);
    let faults = Faults {
        latency_ms: 300,
        bulk_limit: Some(100),
        ..Faults::default()
    };
    let sandbox = start_sandbox_with(
        &scenario.directory(),
        &scenario.path().join("store"),
        None,
        faults,
    )
    .await;
    scenario.write_grants("teams", &members(300, 5));
    let config = write_config(
        &scenario,
        &sandbox.url(),
        ", bulk_size: 100, concurrency: 1",
        "",
    );
    let state = scenario.path().join("state");

    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("grantsync"))
        .args([
            "apply",
            "--config",
            &config,
            "--format",
            "json",
            "--state-dir",
        ])
        .arg(&state)
        .env(KEY_ENV, PROD_KEY)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Interrupt once the apply is under way: two bulk calls have arrived.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sandbox
        .stats()
        .by_route
        .get(BULK_ROUTE)
        .copied()
        .unwrap_or(0)
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the apply never started its creates"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["interrupted"], true);
    let created = count(&report, "created");
    let not_attempted = count(&report, "not_attempted");
    assert!(created > 0 && not_attempted > 0, "{}", outcomes(&report));
    assert_eq!(created + not_attempted, 1500);

    // Nothing new was sent after the signal: every bulk call that reached the
    // service was answered and is counted as created.
    let bulk_calls = sandbox.stats().by_route[BULK_ROUTE];
    assert_eq!(created, bulk_calls * 100);
    assert_eq!(live_keys(&sandbox).await.len() as u64, created);

    // The report on disk says the same, item by item.
    let written = std::fs::read_dir(state.join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let on_disk: Value = serde_json::from_slice(&std::fs::read(written).unwrap()).unwrap();
    assert_eq!(outcomes(&on_disk), outcomes(&report));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_fifty_random_moments_then_the_next_run_converges() {
    let mut live = members(200, 1);
    live.push(Grant::new(&person(0), "acme", "admin"));
    let scenario = Scenario::new(200, 4, &live);
    let faults = Faults {
        latency_ms: 2,
        bulk_limit: Some(50),
        ..Faults::default()
    };
    let sandbox = start_sandbox_with(
        &scenario.directory(),
        &scenario.path().join("store"),
        None,
        faults,
    )
    .await;
    let config = write_config(
        &scenario,
        &sandbox.url(),
        ", bulk_size: 50, concurrency: 2",
        "    prune: {enabled: true, scope: {nodes: [acme]}}\n    limits: {max_revocations: 100%, max_source_shrink: 100%}\n",
    );
    let state = scenario.path().join("state").display().to_string();

    // Two desired states that undo each other: every apply has creates,
    // revocations and window changes to make wherever it is killed.
    let mut a: Vec<Grant> = members(200, 2);
    a.push(Grant::new(&person(0), "acme", "admin"));
    let mut b: Vec<Grant> = members(200, 4)[200..].to_vec();
    b.push(Grant {
        effective_to: Some("2030-01-01T00:00:00Z".into()),
        ..Grant::new(&person(0), "acme", "admin")
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let binary = assert_cmd::cargo::cargo_bin("grantsync");
    let mut killed_mid_write = 0;
    for round in 0..50 {
        let writes_before = sandbox.stats().writes;
        scenario.write_grants("teams", if round % 2 == 0 { &a } else { &b });
        let mut child = std::process::Command::new(&binary)
            .args(["apply", "--config", &config, "--state-dir", &state])
            .env(KEY_ENV, PROD_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The moment of the kill is what is being varied, not a wait for anything.
        let kill_after = Duration::from_millis(rng.random_range(0..700));
        tokio::time::sleep(kill_after).await;
        child.kill().unwrap();
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();

        // Count the kills that landed between the first write and the last.
        let wrote = sandbox.stats().writes > writes_before;
        let pending = run_with_key(
            &[
                "plan",
                "--detailed-exitcode",
                "--config",
                &config,
                "--state-dir",
                &state,
            ],
            PROD_KEY,
        )
        .await;
        if wrote && pending.code == 2 {
            killed_mid_write += 1;
        }
    }
    eprintln!("kills that landed mid-apply: {killed_mid_write} of 50");
    assert!(
        killed_mid_write >= 10,
        "only {killed_mid_write} of 50 kills landed mid-apply"
    );

    scenario.write_grants("teams", &a);
    let run = run_with_key(
        &[
            "apply",
            "--config",
            &config,
            "--state-dir",
            &state,
            "--format",
            "json",
        ],
        PROD_KEY,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = run_with_key(
        &[
            "plan",
            "--config",
            &config,
            "--state-dir",
            &state,
            "--format",
            "json",
        ],
        PROD_KEY,
    )
    .await;
    assert_eq!(common::counts(&run.json()), [0, 0, 0, 401, 0, 0, 0]);
    assert_eq!(live_keys(&sandbox).await.len(), 401);
    sandbox.shutdown().await;
}
