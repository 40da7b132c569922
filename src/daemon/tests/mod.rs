//! The daemon's loop on a real filesystem, with a stand-in for the service.
//!
//! Each test writes a config and grants files into a temporary directory,
//! starts a daemon whose syncs are recorded instead of sent, changes the
//! files, and awaits the daemon's progress counters with a deadline:
//! `changes.rs` changes them in each way a deployment does, `state.rs`
//! checks what the daemon keeps (the last good state, readiness, reports,
//! one sync at a time, shutdown, the schedule). "Exactly one sync" is checked by waiting for
//! the sync, then for a quiet period of a few debounce periods: a bounded
//! wait for something not to happen, which no event can signal.

use std::collections::BTreeMap;
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
    /// This many syncs fail as if the service were unreachable.
    unreachable_for: usize,
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
        let unreachable = self.calls.lock().unwrap().len() <= self.unreachable_for;
        for target in targets {
            let mut env = EnvironmentReport::failed(&target.name, String::new());
            match &target.desired {
                Desired::Nothing(errors) => env.error = Some(errors.join("\n")),
                _ if unreachable => env.error = Some("connection refused".into()),
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

mod changes;
mod state;
