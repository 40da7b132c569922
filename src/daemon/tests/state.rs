//! What the daemon keeps across changes: the last good state, readiness,
//! reports, one sync at a time, shutdown and the schedule.

use super::*;

#[tokio::test]
async fn an_invalid_save_keeps_the_last_good_state_until_fixed() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    std::fs::write(
        tree.path("conf/access/eng.yaml"),
        "grants:\n  - {identity: alice@example.com, node: acme/eng, role: developer}\n  - {identity: bob@example.com, node: acme/eng}\n",
    )
    .unwrap();
    daemon.expect_no_sync(before).await;
    assert!(!daemon.now().ready);
    let status = daemon.daemon.status();
    assert!(!status.desired_state.valid);
    let error = &status.desired_state.errors[0];
    assert!(
        error.starts_with("environment Production: access/eng.yaml:3:"),
        "{error}"
    );
    assert!(status.not_ready.unwrap().contains("access/eng.yaml:3:"));

    let before = daemon.now();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_AB).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert!(daemon.now().ready);
    assert!(daemon.daemon.status().desired_state.errors.is_empty());
    assert_eq!(
        daemon.last_call(),
        [("Production".to_owned(), DesiredFrom::Files, 2)]
    );
    daemon.stop().await;
}

#[tokio::test]
async fn an_invalid_config_keeps_the_last_good_one_until_fixed() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    let good = std::fs::read_to_string(tree.config()).unwrap();
    std::fs::write(tree.config(), good.replace("reports:", "reprots:")).unwrap();
    daemon.expect_no_sync(before).await;
    let status = daemon.daemon.status();
    assert!(!status.ready);
    assert!(
        status.desired_state.errors[0].contains("grantsync.yaml:6:"),
        "{:?}",
        status.desired_state.errors
    );

    // A schedule that does not parse makes the config invalid too.
    let before = daemon.now();
    std::fs::write(
        tree.config(),
        good.replace("daemon:\n", "daemon:\n  schedule: \"every day\"\n"),
    )
    .unwrap();
    daemon.expect_no_sync(before).await;
    let errors = daemon.daemon.status().desired_state.errors;
    assert!(
        errors[0].contains("daemon.schedule \"every day\""),
        "{errors:?}"
    );

    let before = daemon.now();
    std::fs::write(
        tree.config(),
        good.replace("daemon:\n", "daemon:\n  schedule: \"0 3 * * *\"\n"),
    )
    .unwrap();
    daemon.expect_exactly_one_sync(before).await;
    let status = daemon.daemon.status();
    assert!(status.ready, "{:?}", status.not_ready);
    assert_eq!(status.schedule.unwrap().expression, "0 3 * * *");
    daemon.stop().await;
}

#[tokio::test]
async fn changes_during_a_sync_coalesce_into_one_more() {
    let tree = Tree::new();
    let gate = Arc::new(Semaphore::new(1));
    let syncer = RecordingSyncer {
        gate: Some(Arc::clone(&gate)),
        ..RecordingSyncer::default()
    };
    let mut daemon = start(&tree, syncer).await;

    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_AB).unwrap();
    daemon
        .wait_for("the second sync to start", |p| p.syncs_started == 2)
        .await;
    // Three more changes while that sync is held.
    for (name, identity) in [("a", "carol"), ("b", "dave"), ("c", "erin")] {
        std::fs::write(
            tree.path(&format!("conf/access/{name}.yaml")),
            format!("grants:\n  - {{identity: {identity}@example.com, node: acme/eng, role: developer}}\n"),
        )
        .unwrap();
    }
    gate.add_permits(10);
    let before = daemon
        .wait_for("the held sync to finish", |p| p.syncs_finished == 2)
        .await;

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 5);
    daemon.stop().await;
}

#[tokio::test]
async fn shutdown_during_a_sync_writes_an_interrupted_report() {
    let tree = Tree::new();
    let gate = Arc::new(Semaphore::new(1));
    let syncer = RecordingSyncer {
        gate: Some(Arc::clone(&gate)),
        ..RecordingSyncer::default()
    };
    let mut daemon = start(&tree, syncer).await;
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_AB).unwrap();
    daemon
        .wait_for("the second sync to start", |p| p.syncs_started == 2)
        .await;

    daemon.stop().await;
    let reports: Vec<PathBuf> = std::fs::read_dir(tree.path("state/reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 2);
    let interrupted = reports
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            text.contains("\"interrupted\": true")
        })
        .count();
    assert_eq!(interrupted, 1);
}

#[tokio::test]
async fn only_the_newest_reports_are_kept() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    for round in 0..4 {
        let before = daemon.now();
        let text = if round % 2 == 0 { GRANTS_AB } else { GRANTS_A };
        std::fs::write(tree.path("conf/access/eng.yaml"), text).unwrap();
        daemon
            .wait_for("a sync", |p| p.syncs_finished > before.syncs_finished)
            .await;
    }
    daemon.stop().await;
    // `reports: {keep: 3}` in the config.
    assert_eq!(
        std::fs::read_dir(tree.path("state/reports"))
            .unwrap()
            .count(),
        3
    );
}

#[tokio::test]
async fn scheduled_syncs_use_the_last_good_state_while_the_files_are_invalid() {
    let tree = Tree::new();
    let config = Config::load(&tree.config()).unwrap();
    let syncer = RecordingSyncer::default();
    let calls = Arc::clone(&syncer.calls);
    let (_wake_tx, wake) = tokio::sync::mpsc::channel(1);
    let mut controller = Controller::new(Parts {
        syncer,
        config_path: tree.config(),
        selected: Vec::new(),
        state_dir: Some(tree.path("state")),
        shared: shared_state(&config),
        settings: Settings::from_config(&config).unwrap(),
        config,
        watcher: None,
        wake,
        shutdown: CancellationToken::new(),
        clock: system_clock(),
    });
    let reading = controller.read();
    controller.sync(Reason::Start, reading).await;

    std::fs::write(tree.path("conf/access/eng.yaml"), "grants: [oops\n").unwrap();
    let reading = controller.read();
    controller.sync(Reason::Schedule, reading).await;

    let calls = calls.lock().unwrap();
    assert_eq!(calls[0], [("Production".to_owned(), DesiredFrom::Files, 1)]);
    assert_eq!(
        calls[1],
        [("Production".to_owned(), DesiredFrom::LastGood, 1)]
    );
}

#[tokio::test]
async fn files_invalid_since_start_are_not_synced() {
    let tree = Tree::new();
    std::fs::write(tree.path("conf/access/eng.yaml"), "grants: [oops\n").unwrap();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    assert_eq!(
        daemon.last_call(),
        [("Production".to_owned(), DesiredFrom::Nothing, 0)]
    );
    assert!(!daemon.now().ready);

    let before = daemon.now();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_A).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert!(daemon.now().ready);
    daemon.stop().await;
}

#[tokio::test]
async fn the_endpoints_answer_health_readiness_metrics_and_status() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let base = format!("http://{}", daemon.daemon.addr());
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };

    assert_eq!(get("/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(get("/readyz").await, (200, "ready\n".to_owned()));
    let (code, metrics) = get("/metrics").await;
    assert_eq!(code, 200);
    for line in [
        "grantsync_syncs_total{environment=\"Production\",result=\"success\"} 1",
        "grantsync_watched_files 2",
        "grantsync_desired_grants{environment=\"Production\"} 1",
        "grantsync_desired_state_valid 1",
        "# TYPE grantsync_sync_duration_seconds histogram",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    let (code, status) = get("/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["ready"], true);
    assert_eq!(status["last_sync"]["reason"], "start");
    let env = &status["environments"][0];
    assert_eq!(env["name"], "Production");
    assert_eq!(env["desired_from"], "files");
    assert_eq!(env["last_sync"]["result"], "success");
    assert_eq!(env["last_sync"]["summary"]["unchanged"], 1);

    let before = daemon.now();
    std::fs::write(
        tree.path("conf/access/eng.yaml"),
        "grants:\n  - {node: acme}\n",
    )
    .unwrap();
    daemon.expect_no_sync(before).await;
    let (code, body) = get("/readyz").await;
    assert_eq!(code, 503);
    assert!(body.contains("access/eng.yaml:2:"), "{body}");
    assert!(
        get("/metrics")
            .await
            .1
            .contains("grantsync_desired_state_valid 0")
    );
    daemon.stop().await;
}

#[test]
fn the_environment_filter_must_name_a_configured_environment() {
    let tree = Tree::new();
    let options = Options {
        environments: vec!["Staging".into()],
        ..tree.options()
    };
    let error = crate::daemon::load(&options).unwrap_err().to_string();
    assert!(error.contains("no environment \"Staging\""), "{error}");
    let _: &Path = tree.root.path();
}

/// A wall clock that moves with tokio's paused time.
fn paused_clock() -> crate::daemon::controller::Clock {
    let wall = Timestamp::now();
    let start = tokio::time::Instant::now();
    Arc::new(move || wall + (tokio::time::Instant::now() - start))
}

#[tokio::test(start_paused = true)]
async fn the_schedule_syncs_at_each_of_its_times() {
    let tree = Tree::new();
    let text = std::fs::read_to_string(tree.config()).unwrap();
    std::fs::write(
        tree.config(),
        text.replace("daemon:\n", "daemon:\n  schedule: \"* * * * *\"\n"),
    )
    .unwrap();
    let config = Config::load(&tree.config()).unwrap();
    let shared = shared_state(&config);
    let mut progress = shared.progress.subscribe();
    let (_wake_tx, wake) = tokio::sync::mpsc::channel(1);
    let controller = Controller::new(Parts {
        syncer: RecordingSyncer::default(),
        config_path: tree.config(),
        selected: Vec::new(),
        state_dir: Some(tree.path("state")),
        shared: Arc::clone(&shared),
        settings: Settings::from_config(&config).unwrap(),
        config,
        watcher: None,
        wake,
        shutdown: CancellationToken::new(),
        clock: paused_clock(),
    });
    let running = tokio::spawn(controller.run());

    // Paused time jumps to each timer: three scheduled minutes go by at once.
    // The deadline is in the same virtual time, so it must lie beyond them.
    let waited = tokio::time::timeout(
        Duration::from_secs(3600),
        progress.wait_for(|p| p.syncs_finished >= 4),
    )
    .await;
    assert!(waited.is_ok(), "the schedule did not fire");
    let status = shared.snapshot();
    assert_eq!(status.last_sync.unwrap().reason, Reason::Schedule);
    let next_run = status.schedule.unwrap().next_run.unwrap();
    assert_eq!(next_run.as_second() % 60, 0, "{next_run}");
    running.abort();
}

#[tokio::test(start_paused = true)]
async fn a_sync_that_could_not_reach_the_service_is_retried_on_the_rescan() {
    let tree = Tree::new();
    let config = Config::load(&tree.config()).unwrap();
    let shared = shared_state(&config);
    let mut progress = shared.progress.subscribe();
    let (_wake_tx, wake) = tokio::sync::mpsc::channel(1);
    let syncer = RecordingSyncer {
        unreachable_for: 2,
        ..RecordingSyncer::default()
    };
    let calls = Arc::clone(&syncer.calls);
    let controller = Controller::new(Parts {
        syncer,
        config_path: tree.config(),
        selected: Vec::new(),
        state_dir: Some(tree.path("state")),
        shared: Arc::clone(&shared),
        settings: Settings::from_config(&config).unwrap(),
        config,
        watcher: None,
        wake,
        shutdown: CancellationToken::new(),
        clock: paused_clock(),
    });
    let running = tokio::spawn(controller.run());

    // Two failures, then a success; the deadline is in paused time.
    let ready = tokio::time::timeout(Duration::from_secs(3600), progress.wait_for(|p| p.ready))
        .await
        .is_ok();
    assert!(ready, "never ready: {:?}", shared.snapshot().not_ready);
    assert_eq!(calls.lock().unwrap().len(), 3);
    assert_eq!(shared.snapshot().last_sync.unwrap().reason, Reason::Retry);

    // Once it got through, a rescan with nothing changed syncs no more.
    let checks = progress.borrow().checks;
    let _ = progress.wait_for(|p| p.checks >= checks + 2).await;
    assert_eq!(calls.lock().unwrap().len(), 3);
    running.abort();
}
