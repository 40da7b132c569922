//! The daemon in-process against a sandbox on 127.0.0.1: what a sync does
//! to the service, and what `/metrics` and `/status` say about it.

mod common;
mod daemon_workspace;

use daemon_workspace::{DEADLINE, Workspace, get, sample};
use grantsync::daemon::{Daemon, Options, Progress};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

async fn wait_for(progress: &mut watch::Receiver<Progress>, done: impl Fn(&Progress) -> bool) {
    tokio::time::timeout(DEADLINE, progress.wait_for(|p| done(p)))
        .await
        .expect("the daemon gets there in time")
        .expect("the daemon is running");
}

fn options(workspace: &Workspace) -> Options {
    Options {
        config: workspace.config(),
        state_dir: Some(workspace.state()),
        environments: Vec::new(),
        prune: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_shows_in_the_service_the_metrics_and_the_status() {
    let workspace = Workspace::new();
    let sandbox = common::start_sandbox(
        &workspace.path("directory.yaml"),
        &workspace.path("sandbox-data"),
        None,
    )
    .await;
    workspace.write_config_for(&sandbox.url());

    let shutdown = CancellationToken::new();
    let daemon = Daemon::start(options(&workspace), shutdown.clone())
        .await
        .expect("the daemon starts");
    let base = format!("http://{}", daemon.addr());
    let mut progress = daemon.progress();
    wait_for(&mut progress, |p| p.syncs_finished == 1 && p.ready).await;

    // The service got the three missing grants, in one call each.
    let stats = sandbox.stats();
    assert_eq!(stats.by_route["POST /api/v1/assignments/bulk-create"], 3);

    let (code, status) = get(&format!("{base}/status")).await;
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["ready"], true);
    assert_eq!(status["desired_state"]["valid"], true);
    assert_eq!(status["watch"]["files"], 2);
    let env = &status["environments"][0];
    assert_eq!(env["desired_grants"], 4);
    let sync = &env["last_sync"];
    assert_eq!(sync["result"], "success");
    assert_eq!(sync["summary"]["create"], 3);
    assert_eq!(sync["summary"]["unchanged"], 1);
    assert_eq!(sync["outcomes"]["created"], 3);
    assert_eq!(status["last_sync"]["run_id"], sync["run_id"]);
    assert!(sync["duration_seconds"].as_f64().unwrap() > 0.0);

    // Every request the client made is counted, by status, as the service saw it.
    let (code, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(code, 200);
    let series = |labels: &str| {
        format!("grantsync_api_requests_total{{environment=\"Production\",status=\"{labels}\"}}")
    };
    let answered_200 = sample(&metrics, &series("200")).unwrap_or(0.0);
    assert_eq!(
        answered_200 as u64,
        stats.by_status.get(&200).copied().unwrap_or(0)
    );
    assert_eq!(
        sync["calls"]["reads"].as_u64().unwrap() + sync["calls"]["writes"].as_u64().unwrap(),
        stats.requests
    );
    let env_label = "{environment=\"Production\"}";
    for (series, expected) in [
        (
            "grantsync_syncs_total{environment=\"Production\",result=\"success\"}".to_owned(),
            1.0,
        ),
        (
            "grantsync_items_total{environment=\"Production\",outcome=\"created\"}".to_owned(),
            3.0,
        ),
        (format!("grantsync_desired_grants{env_label}"), 4.0),
        (
            format!("grantsync_sync_duration_seconds_count{env_label}"),
            1.0,
        ),
        ("grantsync_watched_files".to_owned(), 2.0),
    ] {
        assert_eq!(
            sample(&metrics, &series),
            Some(expected),
            "{series} in\n{metrics}"
        );
    }
    let last_success = sample(
        &metrics,
        &format!("grantsync_last_success_timestamp_seconds{env_label}"),
    )
    .unwrap();
    let started: jiff::Timestamp = status["started_at"].as_str().unwrap().parse().unwrap();
    assert!(
        last_success >= started.as_second() as f64,
        "{last_success} < {started}"
    );

    // One more grant in the file: one more sync, with one create.
    let mut team = std::fs::read_to_string(workspace.path("access/team.yaml")).unwrap();
    team.push_str("  - {identity: bob@example.com, node: acme/ops, role: viewer}\n");
    std::fs::write(workspace.path("access/team.yaml"), team).unwrap();
    wait_for(&mut progress, |p| p.syncs_finished == 2).await;
    let status = daemon.status();
    let sync = status.environments[0].last_sync.as_ref().unwrap();
    assert_eq!((sync.summary.create, sync.summary.unchanged), (1, 4));
    let (_, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(
        sample(
            &metrics,
            "grantsync_items_total{environment=\"Production\",outcome=\"created\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        sandbox.stats().by_route["POST /api/v1/assignments/bulk-create"],
        4
    );

    // Both syncs left a report, as `apply` does.
    let reports = workspace.reports();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[1]["environments"][0]["summary"]["create"], 1);

    shutdown.cancel();
    tokio::time::timeout(DEADLINE, daemon.wait()).await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_service_makes_the_daemon_not_ready() {
    let workspace = Workspace::new();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    workspace.write_config(
        &format!("{{url: \"http://127.0.0.1:{port}\", key_file: key.txt, timeout_secs: 2}}"),
        "",
    );
    let shutdown = CancellationToken::new();
    let daemon = Daemon::start(options(&workspace), shutdown.clone())
        .await
        .unwrap();
    let mut progress = daemon.progress();
    wait_for(&mut progress, |p| p.syncs_finished == 1).await;

    let (code, body) = get(&format!("http://{}/readyz", daemon.addr())).await;
    assert_eq!(code, 503);
    assert!(
        body.starts_with("not ready: the last sync failed: environment Production:"),
        "{body}"
    );
    let (_, metrics) = get(&format!("http://{}/metrics", daemon.addr())).await;
    assert_eq!(
        sample(
            &metrics,
            "grantsync_syncs_total{environment=\"Production\",result=\"error\"}"
        ),
        Some(1.0)
    );
    // Every attempt that got no answer is counted.
    let unanswered = sample(
        &metrics,
        "grantsync_api_requests_total{environment=\"Production\",status=\"transport\"}",
    );
    assert!(unanswered.is_some_and(|n| n >= 2.0), "{metrics}");
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, daemon.wait()).await.unwrap();
}
