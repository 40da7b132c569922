//! The daemon's loop on a real filesystem, with a stand-in for the service.
//!
//! Each test writes a config and grants files into a temporary directory,
//! starts a daemon whose syncs are recorded instead of sent, changes the
//! files the way a deployment does, and awaits the daemon's progress
//! counters with a deadline. "Exactly one sync" is checked by waiting for
//! the sync, then for a quiet period of a few debounce periods: a bounded
//! wait for something not to happen, which no event can signal.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::controller::{Controller, Parts, Settings, system_clock};
use super::syncer::{Desired, SyncOutput, Syncer, Target};
use super::{Daemon, DesiredFrom, Options, Progress, Reason, shared_state};
use crate::config::Config;
use crate::report::{EnvironmentReport, Mode, RunReport};

const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long the quiet period after an expected sync lasts.
const QUIET: Duration = Duration::from_millis(3 * 100);
/// The most any awaited step may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

const GRANTS_A: &str =
    "grants:\n  - {identity: alice@example.com, node: acme/eng, role: developer}\n";
const GRANTS_AB: &str = "grants:\n  - {identity: alice@example.com, node: acme/eng, role: developer}\n  - {identity: bob@example.com, node: acme/eng, role: developer}\n";

/// What one recorded sync was given, per environment.
type Call = Vec<(String, DesiredFrom, usize)>;

/// Records syncs; with a gate, each sync waits for a permit (or shutdown).
#[derive(Clone, Default)]
struct RecordingSyncer {
    calls: Arc<Mutex<Vec<Call>>>,
    gate: Option<Arc<Semaphore>>,
}

impl Syncer for RecordingSyncer {
    async fn sync(
        &mut self,
        _config: &Config,
        targets: &[Target],
        cancel: &CancellationToken,
    ) -> SyncOutput {
        let call = targets
            .iter()
            .map(|t| {
                let from = match &t.desired {
                    Desired::Files(_) => DesiredFrom::Files,
                    Desired::LastGood(_) => DesiredFrom::LastGood,
                    Desired::Nothing(_) => DesiredFrom::Nothing,
                };
                (t.name.clone(), from, t.desired.grants())
            })
            .collect();
        self.calls.lock().unwrap().push(call);
        if let Some(gate) = &self.gate {
            tokio::select! {
                permit = gate.acquire() => permit.unwrap().forget(),
                () = cancel.cancelled() => {}
            }
        }
        let now = Timestamp::now();
        let mut report = RunReport::new(Mode::Apply, now, now);
        for target in targets {
            let mut env = EnvironmentReport::failed(&target.name, String::new());
            match &target.desired {
                Desired::Nothing(errors) => env.error = Some(errors.join("\n")),
                _ => {
                    env.error = None;
                    env.summary.unchanged = target.desired.grants();
                    env.outcomes = Some(BTreeMap::new());
                }
            }
            report.environments.push(env);
        }
        report.interrupted = cancel.is_cancelled();
        report.finished_at = Some(Timestamp::now());
        let durations = vec![Duration::from_millis(5); targets.len()];
        SyncOutput { report, durations }
    }

    async fn shutdown(self) {}
}

fn config_text(sources: &str) -> String {
    format!(
        "environments:\n  - name: Production\n    api: {{url: https://access.example.com, key_env: GRANTSYNC_TEST_KEY}}\n    sources:\n      - grants: {sources}\nreports: {{keep: 3}}\ndaemon:\n  listen: 127.0.0.1:0\n  debounce_ms: {}\n",
        DEBOUNCE.as_millis()
    )
}

/// A temporary tree: `conf/` (the config, `conf/access/eng.yaml`) and
/// `state/`, kept apart so that the daemon's own writes are not watched.
struct Tree {
    root: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let tree = Tree {
            root: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(tree.path("conf/access")).unwrap();
        std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_A).unwrap();
        std::fs::write(tree.config(), config_text("access/*.yaml")).unwrap();
        tree
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn config(&self) -> PathBuf {
        self.path("conf/grantsync.yaml")
    }

    fn options(&self) -> Options {
        Options {
            config: self.config(),
            state_dir: Some(self.path("state")),
            environments: Vec::new(),
            prune: false,
        }
    }
}

struct Running {
    daemon: Daemon,
    progress: watch::Receiver<Progress>,
    shutdown: CancellationToken,
    calls: Arc<Mutex<Vec<Call>>>,
}

async fn start(tree: &Tree, syncer: RecordingSyncer) -> Running {
    let calls = Arc::clone(&syncer.calls);
    let shutdown = CancellationToken::new();
    let daemon = Daemon::start_with(tree.options(), shutdown.clone(), |_| syncer)
        .await
        .expect("the daemon starts");
    let mut running = Running {
        progress: daemon.progress(),
        daemon,
        shutdown,
        calls,
    };
    running
        .wait_for("the first sync", |p| p.syncs_finished == 1)
        .await;
    running
}

impl Running {
    async fn wait_for(&mut self, what: &str, done: impl Fn(&Progress) -> bool) -> Progress {
        let waited = tokio::time::timeout(DEADLINE, self.progress.wait_for(|p| done(p)))
            .await
            .map(|result| result.map(|progress| *progress));
        match waited {
            Ok(Ok(progress)) => progress,
            _ => panic!(
                "timed out waiting for {what}; progress {:?}, status {}",
                *self.progress.borrow(),
                serde_json::to_string_pretty(&self.daemon.status()).unwrap()
            ),
        }
    }

    fn now(&self) -> Progress {
        *self.progress.borrow()
    }

    /// Awaits one more sync than `before` had, then a quiet period without
    /// any further one.
    async fn expect_exactly_one_sync(&mut self, before: Progress) {
        let target = before.syncs_finished + 1;
        self.wait_for("one more sync", |p| p.syncs_finished >= target)
            .await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            self.now().syncs_started,
            target,
            "more than one sync: {:?}",
            self.calls.lock().unwrap()
        );
    }

    /// Awaits the daemon reading the files again, then a quiet period, and
    /// checks that no sync came of it.
    async fn expect_no_sync(&mut self, before: Progress) {
        self.wait_for("the files to be read again", |p| p.checks > before.checks)
            .await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(self.now().syncs_started, before.syncs_started);
    }

    fn last_call(&self) -> Call {
        self.calls.lock().unwrap().last().cloned().unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.daemon.wait())
            .await
            .expect("the daemon stops");
    }
}

#[tokio::test]
async fn start_syncs_once_and_is_ready() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    assert!(daemon.now().ready);
    assert_eq!(
        daemon.last_call(),
        [("Production".to_owned(), DesiredFrom::Files, 1)]
    );
    let status = daemon.daemon.status();
    assert_eq!(status.watch.files, 2);
    assert_eq!(status.watch.directories.len(), 2);
    daemon.expect_exactly_one_sync(Progress::default()).await;
    daemon.stop().await;
}

#[tokio::test]
async fn vim_save_by_rename_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    // vim with backups: the original becomes the backup, a new file is written.
    let file = tree.path("conf/access/eng.yaml");
    std::fs::write(tree.path("conf/access/.eng.yaml.swp"), "swap").unwrap();
    std::fs::rename(&file, tree.path("conf/access/eng.yaml~")).unwrap();
    std::fs::write(&file, GRANTS_AB).unwrap();
    std::fs::remove_file(tree.path("conf/access/eng.yaml~")).unwrap();
    std::fs::remove_file(tree.path("conf/access/.eng.yaml.swp")).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn jetbrains_safe_write_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    let file = tree.path("conf/access/eng.yaml");
    let new = tree.path("conf/access/eng.yaml___jb_tmp___");
    let old = tree.path("conf/access/eng.yaml___jb_old___");
    std::fs::write(&new, GRANTS_AB).unwrap();
    std::fs::rename(&file, &old).unwrap();
    std::fs::rename(&new, &file).unwrap();
    std::fs::remove_file(&old).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn truncate_then_write_causes_one_sync() {
    use std::io::Write;
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    let mut file = std::fs::File::create(tree.path("conf/access/eng.yaml")).unwrap();
    file.flush().unwrap();
    let (first, rest) = GRANTS_AB.split_at(30);
    file.write_all(first.as_bytes()).unwrap();
    file.flush().unwrap();
    file.write_all(rest.as_bytes()).unwrap();
    drop(file);

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn a_new_file_matching_the_glob_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    std::fs::write(
        tree.path("conf/access/ops.yaml"),
        "grants:\n  - {identity: carol@example.com, node: acme/ops, role: viewer}\n",
    )
    .unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    assert_eq!(daemon.daemon.status().watch.files, 3);
    daemon.stop().await;
}

#[tokio::test]
async fn a_directory_deleted_and_recreated_causes_one_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    std::fs::remove_dir_all(tree.path("conf/access")).unwrap();
    std::fs::create_dir(tree.path("conf/access")).unwrap();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_AB).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);

    // The new directory is watched: a later edit in it is seen.
    let before = daemon.now();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_A).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 1);
    daemon.stop().await;
}

#[tokio::test]
async fn a_configmap_update_causes_one_sync() {
    // The kubelet's layout: the files are symlinks through `..data`, which
    // points at a timestamped directory and is replaced by a rename.
    let tree = Tree::new();
    let mount = tree.path("mount");
    let write_version = |name: &str, grants: &str| {
        let dir = mount.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("grantsync.yaml"), config_text("grants-*.yaml")).unwrap();
        std::fs::write(dir.join("grants-eng.yaml"), grants).unwrap();
    };
    write_version("..2026_12_04_10_00_00.1", GRANTS_A);
    symlink("..2026_12_04_10_00_00.1", mount.join("..data")).unwrap();
    for file in ["grantsync.yaml", "grants-eng.yaml"] {
        symlink(format!("..data/{file}"), mount.join(file)).unwrap();
    }
    let options = Options {
        config: mount.join("grantsync.yaml"),
        ..tree.options()
    };
    let syncer = RecordingSyncer::default();
    let calls = Arc::clone(&syncer.calls);
    let shutdown = CancellationToken::new();
    let started = Daemon::start_with(options, shutdown.clone(), |_| syncer)
        .await
        .unwrap();
    let mut daemon = Running {
        progress: started.progress(),
        daemon: started,
        shutdown,
        calls,
    };
    daemon
        .wait_for("the first sync", |p| p.syncs_finished == 1)
        .await;
    assert_eq!(daemon.last_call()[0].2, 1);
    let before = daemon.now();

    write_version("..2026_12_04_11_00_00.2", GRANTS_AB);
    symlink("..2026_12_04_11_00_00.2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_12_04_10_00_00.1")).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);

    // And the next update too, through the new timestamped directory.
    let before = daemon.now();
    write_version("..2026_12_04_12_00_00.3", GRANTS_A);
    symlink("..2026_12_04_12_00_00.3", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    std::fs::remove_dir_all(mount.join("..2026_12_04_11_00_00.2")).unwrap();
    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 1);
    daemon.stop().await;
}

#[tokio::test]
async fn a_git_sync_worktree_swap_causes_one_sync() {
    // git-sync: `repo/current` is a symlink to a worktree, replaced by a
    // rename when a new commit is checked out.
    let tree = Tree::new();
    let repo = tree.path("repo");
    let worktree = |name: &str, grants: &str| {
        let dir = repo.join(".worktrees").join(name).join("access");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("eng.yaml"), grants).unwrap();
    };
    worktree("aaa111", GRANTS_A);
    symlink(".worktrees/aaa111", repo.join("current")).unwrap();
    let pattern = format!("{}/current/access/*.yaml", repo.display());
    std::fs::write(tree.config(), config_text(&pattern)).unwrap();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    assert_eq!(daemon.last_call()[0].2, 1);
    let before = daemon.now();

    worktree("bbb222", GRANTS_AB);
    symlink(".worktrees/bbb222", repo.join("current.tmp")).unwrap();
    std::fs::rename(repo.join("current.tmp"), repo.join("current")).unwrap();
    std::fs::remove_dir_all(repo.join(".worktrees/aaa111")).unwrap();

    daemon.expect_exactly_one_sync(before).await;
    assert_eq!(daemon.last_call()[0].2, 2);
    daemon.stop().await;
}

#[tokio::test]
async fn a_touch_that_changes_nothing_causes_no_sync() {
    let tree = Tree::new();
    let mut daemon = start(&tree, RecordingSyncer::default()).await;
    let before = daemon.now();

    let file = std::fs::File::options()
        .append(true)
        .open(tree.path("conf/access/eng.yaml"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    drop(file);
    daemon.expect_no_sync(before).await;

    // Saving the same text again is no change either.
    let before = daemon.now();
    std::fs::write(tree.path("conf/access/eng.yaml"), GRANTS_A).unwrap();
    daemon.expect_no_sync(before).await;
    daemon.stop().await;
}

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
    let error = super::load(&options).unwrap_err().to_string();
    assert!(error.contains("no environment \"Staging\""), "{error}");
    let _: &Path = tree.root.path();
}

/// A wall clock that moves with tokio's paused time.
fn paused_clock() -> super::controller::Clock {
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
