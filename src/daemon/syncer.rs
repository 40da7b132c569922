//! One sync, as the daemon asks for it: the selected environments, each
//! from the desired state the controller chose for it.
//!
//! [`RunnerSyncer`] does it through [`Runner`], one environment at a time so
//! that each gets its own duration, gathered into one report under one run
//! id. The [`Syncer`] trait is the seam the controller's tests replace.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::Config;
use crate::desired::SourceOutput;
use crate::report::{EnvironmentReport, Mode, RunReport};
use crate::sync::{RunOptions, Runner};

/// What one environment is synced from.
#[derive(Debug, Clone)]
pub enum Desired {
    /// The files as they are now.
    Files(Arc<Vec<SourceOutput>>),
    /// The files are invalid: their last good reading.
    LastGood(Arc<Vec<SourceOutput>>),
    /// The files are invalid and never were good; the environment is not synced.
    Nothing(Vec<String>),
}

impl Desired {
    pub fn grants(&self) -> usize {
        match self {
            Desired::Files(sources) | Desired::LastGood(sources) => {
                sources.iter().map(|s| s.grants.len()).sum()
            }
            Desired::Nothing(_) => 0,
        }
    }
}

/// One environment of a sync.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub desired: Desired,
}

/// A finished sync: its report, and how long each environment took, in the
/// report's order.
#[derive(Debug)]
pub struct SyncOutput {
    pub report: RunReport,
    pub durations: Vec<Duration>,
}

/// Runs syncs for the controller.
pub trait Syncer: Send + 'static {
    /// Syncs `targets` under `config`. Once `cancel` fires nothing new is
    /// sent; the calls in flight finish and the report says what was not
    /// attempted.
    fn sync(
        &mut self,
        config: &Config,
        targets: &[Target],
        cancel: &CancellationToken,
    ) -> impl Future<Output = SyncOutput> + Send;

    /// Releases what the syncs kept between runs (embedded sandboxes).
    fn shutdown(self) -> impl Future<Output = ()> + Send;
}

/// Syncs through the [`Runner`] that `plan` and `apply` use.
pub struct RunnerSyncer {
    runner: Runner,
    prune: bool,
}

impl RunnerSyncer {
    pub fn new(config: Config, state_dir: Option<PathBuf>, prune: bool) -> RunnerSyncer {
        RunnerSyncer {
            runner: Runner::new(config, state_dir),
            prune,
        }
    }
}

impl Syncer for RunnerSyncer {
    async fn sync(
        &mut self,
        config: &Config,
        targets: &[Target],
        cancel: &CancellationToken,
    ) -> SyncOutput {
        self.runner.set_config(config.clone());
        let started_at = Timestamp::now();
        let mut report = RunReport::new(Mode::Apply, started_at, started_at);
        let mut durations = Vec::new();
        for target in targets {
            let clock = Instant::now();
            let env_report = match &target.desired {
                Desired::Nothing(errors) => EnvironmentReport::failed(
                    &target.name,
                    format!(
                        "the desired state is invalid and was never valid since the daemon started; nothing was synced:\n{}",
                        errors.join("\n")
                    ),
                ),
                _ if cancel.is_cancelled() => EnvironmentReport::failed(
                    &target.name,
                    "the daemon was stopping; this environment was not started".into(),
                ),
                Desired::Files(sources) | Desired::LastGood(sources) => {
                    let mut options = RunOptions::new(Mode::Apply);
                    options.environments = vec![target.name.clone()];
                    options.prune = self.prune;
                    options.cancel = cancel.clone();
                    options.run_id = Some(report.run_id.clone());
                    options
                        .desired
                        .insert(target.name.clone(), Arc::clone(sources));
                    let run = self.runner.run(&options).in_current_span().await;
                    match run {
                        Ok(mut run) if !run.environments.is_empty() => run.environments.remove(0),
                        Ok(_) => EnvironmentReport::failed(
                            &target.name,
                            "the environment is no longer in the config".into(),
                        ),
                        Err(error) => EnvironmentReport::failed(&target.name, error.to_string()),
                    }
                }
            };
            durations.push(clock.elapsed());
            report.environments.push(env_report);
        }
        report.interrupted = cancel.is_cancelled();
        report.finished_at = Some(Timestamp::now());
        SyncOutput { report, durations }
    }

    async fn shutdown(self) {
        self.runner.shutdown().await;
    }
}
