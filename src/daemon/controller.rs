//! The daemon's loop: when to read the files, when to sync, and what with.
//!
//! One task owns everything that changes ([`Controller`]), so there is one
//! sync at a time without locks: a sync runs inside the loop, and file
//! events that arrive meanwhile wait as one pending wake-up. When the sync
//! ends, the wake-up is debounced, the files are read again and their
//! fingerprint compared with the last reading, so any number of changes
//! during a sync become exactly one more sync, and events that change
//! nothing become none. A scheduled time that passes during a sync also
//! runs once, right after it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::http::{Shared, parse_listen};
use super::reading::{self, Reading};
use super::schedule::Schedule;
use super::status::{self, DesiredFrom, EnvironmentSync, LastSync, Reason, ScheduleStatus};
use super::syncer::{Desired, Syncer, Target};
use super::watch::{self, DirWatcher};
use crate::config::Config;
use crate::desired::SourceOutput;
use crate::report::RunReport;

/// How often the files are read again without any event. Events can be
/// lost (an overflowing inotify queue, a network filesystem that sends
/// none, a directory replaced between two watches); a minute bounds how
/// long such a change waits, and reading a few files a minute costs nothing.
/// A sync that could not reach the service is retried at the same pace.
const RESCAN_INTERVAL: Duration = Duration::from_secs(60);

/// A burst of events is waited out for at most this many debounce periods,
/// so that a directory that never settles (a log written beside the config)
/// still gets read.
const MAX_SETTLE_PERIODS: u32 = 20;

/// Where the schedule reads the time; the system clock but in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// The daemon's settings from the `daemon:` block of a config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub schedule: Option<Schedule>,
    pub listen: std::net::SocketAddr,
    pub debounce: Duration,
}

impl Settings {
    /// # Errors
    ///
    /// The schedule, its time zone or the listen address does not parse;
    /// the message starts with the config file.
    pub fn from_config(config: &Config) -> Result<Settings, String> {
        let located = |message: String| format!("{}: {message}", config.path.display());
        let daemon = &config.daemon;
        let schedule = daemon
            .schedule
            .as_deref()
            .map(|expression| Schedule::parse(expression, daemon.timezone.as_deref()))
            .transpose()
            .map_err(|e| located(e.to_string()))?;
        let listen = parse_listen(daemon.listen.as_deref()).map_err(located)?;
        Ok(Settings {
            schedule,
            listen,
            debounce: Duration::from_millis(daemon.debounce_ms),
        })
    }

    fn schedule_status(&self) -> Option<ScheduleStatus> {
        self.schedule.as_ref().map(|schedule| ScheduleStatus {
            expression: schedule.expression().to_owned(),
            timezone: schedule.zone_name().to_owned(),
            next_run: None,
        })
    }
}

/// Owns the daemon's state; see the module's documentation.
pub struct Controller<S: Syncer> {
    syncer: S,
    /// Absolute, as given (not resolved through symlinks, which change).
    config_path: PathBuf,
    selected: Vec<String>,
    state_dir: Option<PathBuf>,
    /// The last good config and its settings.
    config: Config,
    settings: Settings,
    /// Each environment's last good desired state.
    last_good: HashMap<String, Arc<Vec<SourceOutput>>>,
    fingerprint: Option<blake3::Hash>,
    config_fingerprint: Option<blake3::Hash>,
    /// The last sync failed in an environment for another reason than its
    /// files (the service unreachable): the next rescan syncs again.
    retry: bool,
    /// The files of the last reading, to place the watches before the next.
    files: BTreeSet<PathBuf>,
    watcher: Option<DirWatcher>,
    wake: mpsc::Receiver<()>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    clock: Clock,
}

/// What a controller starts from.
pub struct Parts<S> {
    pub syncer: S,
    pub config_path: PathBuf,
    pub selected: Vec<String>,
    pub state_dir: Option<PathBuf>,
    pub config: Config,
    pub settings: Settings,
    pub watcher: Option<DirWatcher>,
    pub wake: mpsc::Receiver<()>,
    pub shared: Arc<Shared>,
    pub shutdown: CancellationToken,
    pub clock: Clock,
}

impl<S: Syncer> Controller<S> {
    pub fn new(parts: Parts<S>) -> Controller<S> {
        let schedule = parts.settings.schedule_status();
        parts
            .shared
            .update_status(|status| status.schedule = schedule);
        Controller {
            syncer: parts.syncer,
            config_path: parts.config_path,
            selected: parts.selected,
            state_dir: parts.state_dir,
            config: parts.config,
            settings: parts.settings,
            last_good: HashMap::new(),
            fingerprint: None,
            config_fingerprint: None,
            retry: false,
            files: BTreeSet::new(),
            watcher: parts.watcher,
            wake: parts.wake,
            shared: parts.shared,
            shutdown: parts.shutdown,
            clock: parts.clock,
        }
    }

    /// Syncs once, as at start, and stops.
    pub async fn sync_once(mut self) -> RunReport {
        let reading = self.read();
        let report = self.sync(Reason::Start, reading).await;
        self.syncer.shutdown().await;
        report
    }

    /// Syncs at start, then on changes and on schedule, until shutdown.
    pub async fn run(mut self) {
        let reading = self.read();
        self.sync(Reason::Start, reading).await;

        let mut rescan =
            tokio::time::interval_at(Instant::now() + RESCAN_INTERVAL, RESCAN_INTERVAL);
        rescan.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut schedule_from = (self.clock)();
        while !self.shutdown.is_cancelled() {
            let next_run = self
                .settings
                .schedule
                .as_ref()
                .and_then(|schedule| schedule.next_after(schedule_from));
            self.shared.update_status(|status| {
                if let Some(schedule) = &mut status.schedule {
                    schedule.next_run = next_run;
                }
            });
            // Recomputed on every pass, so a wall clock that jumps is caught
            // up with by the next rescan at the latest.
            let until_next_run = next_run.map(|at| {
                at.duration_since((self.clock)())
                    .try_into()
                    .unwrap_or(Duration::ZERO)
            });
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                Some(()) = self.wake.recv() => {
                    if self.settle().await {
                        self.check(Reason::Change).await;
                    }
                }
                _ = rescan.tick() => self.check(Reason::Rescan).await,
                () = tokio::time::sleep(until_next_run.unwrap_or(RESCAN_INTERVAL)),
                    if until_next_run.is_some() =>
                {
                    let started = (self.clock)();
                    let reading = self.read();
                    self.sync(Reason::Schedule, reading).await;
                    // Times that passed during the sync make one more run;
                    // the one just run never runs again, even if the timer
                    // woke a little before the wall clock reached it.
                    schedule_from = next_run.map_or(started, |at| at.max(started));
                }
            }
        }
        self.syncer.shutdown().await;
    }

    /// Waits until no event has come for the debounce period. False when
    /// the daemon is stopping.
    async fn settle(&mut self) -> bool {
        let debounce = self.settings.debounce;
        let cap = Instant::now() + debounce * MAX_SETTLE_PERIODS;
        let mut deadline = Instant::now() + debounce;
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return false,
                Some(()) = self.wake.recv() => deadline = (Instant::now() + debounce).min(cap),
                () = tokio::time::sleep_until(deadline) => return true,
            }
        }
    }

    /// Reads the files; syncs when they changed into something valid, and
    /// on a rescan when the last sync could not reach an environment.
    async fn check(&mut self, reason: Reason) {
        let reading = self.read();
        if self.fingerprint != Some(reading.fingerprint) {
            if reading.has_valid_change() {
                tracing::info!(reason = reason.as_str(), "the desired state changed");
                self.sync(reason, reading).await;
            } else {
                self.absorb(&reading);
            }
        } else if reason == Reason::Rescan && self.retry {
            tracing::info!("retrying the environments the last sync could not sync");
            self.sync(Reason::Retry, reading).await;
        }
        self.shared.progress.send_modify(|p| p.checks += 1);
    }

    /// Reads the config and the sources, placing the watches first so that a
    /// change made during the reading is not missed.
    pub(super) fn read(&mut self) -> Reading {
        let read = |this: &Self| {
            let check = |config: &Config| Settings::from_config(config).map(drop);
            reading::read(
                &this.config_path,
                &this.config,
                &this.selected,
                Timestamp::now(),
                check,
            )
        };
        let Some(watcher) = &mut self.watcher else {
            return read(self);
        };
        let before =
            watch::directories(&self.config_path, &self.config, &self.selected, &self.files);
        watcher.update(&before);
        let mut reading = read(self);
        let config = reading.config.as_ref().unwrap_or(&self.config);
        let after = watch::directories(&self.config_path, config, &self.selected, &reading.files);
        if after != before {
            if let Some(watcher) = &mut self.watcher {
                watcher.update(&after);
            }
            reading = read(self);
        }
        reading
    }

    /// Takes in a reading: the config and each environment's desired state
    /// when valid, the errors when not.
    fn absorb(&mut self, reading: &Reading) {
        let was_invalid = self.shared.snapshot().desired_state.invalid_since.is_some();
        let config_changed = self
            .config_fingerprint
            .is_some_and(|f| f != reading.config_fingerprint);
        self.fingerprint = Some(reading.fingerprint);
        self.config_fingerprint = Some(reading.config_fingerprint);
        if let Ok(config) = &reading.config {
            let settings = Settings::from_config(config).expect("checked when read");
            if config_changed && settings.listen != self.settings.listen {
                tracing::warn!(listen = %settings.listen, "daemon.listen changed; the endpoints stay where they are until a restart");
            }
            if config_changed {
                tracing::info!(config = %self.config_path.display(), "config reloaded");
            }
            self.settings = Settings {
                listen: self.settings.listen,
                ..settings
            };
            self.config = config.clone();
        }
        for env in &reading.environments {
            if let Ok(sources) = &env.sources {
                self.last_good.insert(env.name.clone(), Arc::clone(sources));
            }
        }

        let errors = reading.errors();
        for error in &errors {
            tracing::warn!(error = %error, "the desired state is invalid; the last good one stays in effect");
        }
        if errors.is_empty() && was_invalid {
            tracing::info!("the desired state is valid again");
        }
        self.files = reading.files.clone();
        let names: Vec<String> = reading
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect();
        let watched = self
            .watcher
            .as_ref()
            .map(|w| w.watched().iter().cloned().collect());
        let schedule = self.settings.schedule_status();
        self.shared.metrics.set_desired_valid(errors.is_empty());
        self.shared
            .metrics
            .set_watched_files(reading.files.iter().filter(|f| f.exists()).count());
        self.shared.update_status(|status| {
            let now = Timestamp::now();
            let desired = &mut status.desired_state;
            if errors.is_empty() {
                desired.invalid_since = None;
            } else if desired.valid || desired.invalid_since.is_none() {
                desired.invalid_since = Some(now);
            }
            desired.valid = errors.is_empty();
            desired.errors = errors;
            desired.checked_at = Some(now);
            status.watch.files = reading.files.len();
            status.watch.directories = watched.unwrap_or_default();
            let next_run = status.schedule.as_ref().and_then(|s| s.next_run);
            status.schedule = schedule.map(|s| ScheduleStatus { next_run, ..s });
            status.retain_environments(&names);
        });
    }

    /// What each environment is synced from: its files when they are valid,
    /// else their last good reading, else nothing.
    fn targets(&self, reading: &Reading) -> Vec<Target> {
        reading
            .environments
            .iter()
            .map(|env| {
                let desired = match (&env.sources, self.last_good.get(&env.name)) {
                    (Ok(sources), _) => Desired::Files(Arc::clone(sources)),
                    (Err(_), Some(last)) => Desired::LastGood(Arc::clone(last)),
                    (Err(errors), None) => Desired::Nothing(errors.clone()),
                };
                Target {
                    name: env.name.clone(),
                    desired,
                }
            })
            .collect()
    }

    pub(super) async fn sync(&mut self, reason: Reason, reading: Reading) -> RunReport {
        self.absorb(&reading);
        let targets = self.targets(&reading);
        for target in &targets {
            self.shared
                .metrics
                .set_desired_grants(&target.name, target.desired.grants());
        }
        self.shared.progress.send_modify(|p| p.syncs_started += 1);
        self.shared.update_status(|status| status.syncing = true);

        let span = tracing::info_span!("sync", reason = reason.as_str());
        let output = self
            .syncer
            .sync(&self.config, &targets, &self.shutdown)
            .instrument(span)
            .await;
        let report = output.report;
        let report_path = match report.write(&self.reports_dir(), self.config.reports.keep) {
            Ok(path) => Some(path),
            Err(error) => {
                tracing::error!(directory = %self.reports_dir().display(), error = %error, "cannot write the sync's report");
                None
            }
        };
        self.retry = report.environments.iter().any(|env| {
            let from_files = targets
                .iter()
                .any(|t| t.name == env.name && !matches!(t.desired, Desired::Nothing(_)));
            env.error.is_some() && from_files
        });
        self.record(reason, &report, &output.durations, &targets, report_path);
        self.shared.progress.send_modify(|p| p.syncs_finished += 1);
        report
    }

    /// Logs, counts and shows a finished sync.
    fn record(
        &self,
        reason: Reason,
        report: &RunReport,
        durations: &[Duration],
        targets: &[Target],
        report_path: Option<PathBuf>,
    ) {
        let finished_at = report.finished_at.unwrap_or_else(Timestamp::now);
        let mut syncs = Vec::new();
        for (index, env) in report.environments.iter().enumerate() {
            let duration = durations.get(index).copied().unwrap_or_default();
            let result = status::result_of(env, report.interrupted);
            self.shared
                .metrics
                .record_environment(env, result, duration, finished_at);
            log_environment(&report.run_id, reason, env, result, duration);
            let desired_from = match targets
                .iter()
                .find(|t| t.name == env.name)
                .map(|t| &t.desired)
            {
                Some(Desired::Files(_)) => DesiredFrom::Files,
                Some(Desired::LastGood(_)) => DesiredFrom::LastGood,
                _ => DesiredFrom::Nothing,
            };
            let grants = targets
                .iter()
                .find(|t| t.name == env.name)
                .map_or(0, |t| t.desired.grants());
            let sync = EnvironmentSync::new(
                &report.run_id,
                report.started_at,
                duration.as_secs_f64(),
                env,
                report.interrupted,
            );
            syncs.push((env.name.clone(), desired_from, grants, sync));
        }
        let good = !report.interrupted && report.environments.iter().all(|e| e.error.is_none());
        self.shared.update_status(|status| {
            for (name, desired_from, grants, sync) in syncs {
                let env = status.environment_mut(&name);
                if sync.result == "success" {
                    env.last_success_at = Some(finished_at);
                }
                env.desired_from = desired_from;
                env.desired_grants = grants;
                env.last_sync = Some(sync);
            }
            status.last_sync = Some(LastSync {
                run_id: report.run_id.clone(),
                reason,
                started_at: report.started_at,
                finished_at,
                duration_seconds: finished_at.duration_since(report.started_at).as_secs_f64(),
                interrupted: report.interrupted,
                report: report_path,
            });
            status.syncs += 1;
            status.syncing = false;
            if good {
                status.mark_good_sync();
            }
        });
    }

    /// Where reports go: as for `apply`.
    fn reports_dir(&self) -> PathBuf {
        match (&self.state_dir, &self.config.reports.dir) {
            (Some(state), _) => state.join("reports"),
            (None, Some(dir)) => dir.clone(),
            (None, None) => self.config.base_dir.join(".grantsync").join("reports"),
        }
    }
}

/// The one line an operator reads per environment and sync.
fn log_environment(
    run_id: &str,
    reason: Reason,
    env: &crate::report::EnvironmentReport,
    result: &'static str,
    duration: Duration,
) {
    let s = &env.summary;
    let duration_ms = duration.as_millis() as u64;
    let failed = env.failed_items();
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                %run_id,
                environment = %env.name,
                reason = reason.as_str(),
                result,
                create = s.create,
                update = s.update,
                renew = s.renew,
                revoke = s.revoke,
                unchanged = s.unchanged,
                unresolved = s.unresolved,
                failed,
                duration_ms,
                error = env.error.as_deref(),
                "sync finished"
            )
        };
    }
    match result {
        "success" => line!(info),
        "error" => line!(error),
        _ => line!(warn),
    }
}
