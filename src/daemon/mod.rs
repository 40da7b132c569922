//! The daemon, `grantsync run`: keeps the service in the declared state.
//!
//! It syncs (applies) once at start, again when the config or a source
//! changes, and on `daemon.schedule` to correct drift made behind its back;
//! a sync that could not reach the service is retried every minute.
//! Start reading at [`Daemon::start`]; the loop is in `controller.rs`.
//!
//! - `reading.rs`: the config and the sources as they are on disk, and one
//!   fingerprint of them, so that only real changes cause a sync.
//! - `watch.rs`: which directories to watch, so that rename-saves,
//!   ConfigMap `..data` swaps and git-sync worktree swaps are all seen.
//! - `schedule.rs`: crontab schedules across daylight-saving changes.
//! - `syncer.rs`: one sync through the same [`Runner`](crate::sync::Runner)
//!   as `apply`, reports written like `apply`'s.
//! - `status.rs`, `metrics.rs`, `http.rs`: `/healthz`, `/readyz`,
//!   `/metrics`, `/status`.
//!
//! **A file that turns invalid.** The daemon never syncs with it. It keeps,
//! in memory, the last good reading of each environment's sources (and the
//! last good config): a change that leaves the files invalid causes no sync,
//! and scheduled syncs go on with that last good state, so drift is still
//! corrected while someone fixes the file. `/readyz` answers 503 and
//! `/status` lists each problem with its file and line until the files are
//! valid again. An environment whose files have been invalid since the
//! daemon started has no good state and is not synced. A config that is
//! invalid at start stops the daemon, since then nothing says what to watch
//! or where to listen.
//!
//! Known limitation: the last good state lives in memory only, so a
//! restart while a file is invalid syncs nothing for that environment until
//! the file is fixed.

mod controller;
mod http;
mod metrics;
mod reading;
mod schedule;
mod status;
mod syncer;
mod watch;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::{mpsc, watch as channel};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use self::http::{DEFAULT_LISTEN, Progress, parse_listen};
pub use self::schedule::{Error as ScheduleError, Schedule};
pub use self::status::{DesiredFrom, Reason, Status};

use self::controller::{Controller, Parts, Settings, system_clock};
use self::http::Shared;
use self::syncer::{RunnerSyncer, Syncer};
use self::watch::DirWatcher;
use crate::config::Config;
use crate::report::RunReport;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error("{0}")]
    Settings(String),
    #[error("cannot listen on {addr} (daemon.listen): {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start watching files: {0}")]
    Watch(#[from] notify::Error),
}

/// What `grantsync run` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    /// Where reports and other state go; `.grantsync/` beside the config
    /// when `None`.
    pub state_dir: Option<PathBuf>,
    /// Environments to sync; all when empty.
    pub environments: Vec<String>,
    /// Turn pruning on, within each environment's configured scope.
    pub prune: bool,
}

/// A running daemon.
pub struct Daemon {
    addr: SocketAddr,
    shared: Arc<Shared>,
    progress: channel::Receiver<Progress>,
    controller: JoinHandle<()>,
    server: JoinHandle<()>,
}

impl Daemon {
    /// Loads the config, listens on `daemon.listen`, starts watching, and
    /// runs the daemon in the background until `shutdown` fires: the sync in
    /// progress then sends nothing new, finishes, and writes its report.
    ///
    /// # Errors
    ///
    /// The config is invalid (the daemon does not start on a config it
    /// cannot read), the listen address is taken, or no watcher can be made.
    pub async fn start(options: Options, shutdown: CancellationToken) -> Result<Daemon, Error> {
        let prune = options.prune;
        let state_dir = options.state_dir.clone();
        Daemon::start_with(options, shutdown, |config| {
            RunnerSyncer::new(config.clone(), state_dir, prune)
        })
        .await
    }

    pub(crate) async fn start_with<S: Syncer>(
        options: Options,
        shutdown: CancellationToken,
        syncer: impl FnOnce(&Config) -> S,
    ) -> Result<Daemon, Error> {
        let (config, settings) = load(&options)?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: settings.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: settings.listen,
            source,
        })?;
        if !addr.ip().is_loopback() {
            tracing::info!(%addr, "serving the status endpoints beyond loopback, as daemon.listen says");
        }

        // One pending wake-up is enough: it means "read again".
        let (wake_tx, wake_rx) = mpsc::channel(1);
        let watcher = DirWatcher::new(wake_tx)?;
        let shared = shared_state(&config);
        let progress = shared.progress.subscribe();
        let server = tokio::spawn(http::serve(listener, Arc::clone(&shared), shutdown.clone()));
        tracing::info!(%addr, "status endpoints listening: /healthz /readyz /metrics /status");

        let controller = Controller::new(Parts {
            syncer: syncer(&config),
            config_path: absolute(&options.config),
            selected: options.environments,
            state_dir: options.state_dir,
            config,
            settings,
            watcher: Some(watcher),
            wake: wake_rx,
            shared: Arc::clone(&shared),
            shutdown,
            clock: system_clock(),
        });
        let controller = tokio::spawn(controller.run());
        Ok(Daemon {
            addr,
            shared,
            progress,
            controller,
            server,
        })
    }

    /// Where the endpoints listen.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters that move as the daemon checks and syncs.
    pub fn progress(&self) -> channel::Receiver<Progress> {
        self.progress.clone()
    }

    /// What `/status` would answer now.
    pub fn status(&self) -> Status {
        self.shared.snapshot()
    }

    /// Waits until the daemon has stopped (after its shutdown token fired).
    pub async fn wait(self) {
        if let Err(error) = self.controller.await {
            tracing::error!(error = %error, "the daemon's loop ended abnormally");
        }
        let _ = self.server.await;
    }
}

/// Syncs once, as the daemon does at start, and returns the report (also
/// written under the state directory).
///
/// # Errors
///
/// The config is invalid.
pub async fn run_once(options: Options, cancel: CancellationToken) -> Result<RunReport, Error> {
    let (config, settings) = load(&options)?;
    let (_wake_tx, wake_rx) = mpsc::channel(1);
    let controller = Controller::new(Parts {
        syncer: RunnerSyncer::new(config.clone(), options.state_dir.clone(), options.prune),
        config_path: absolute(&options.config),
        selected: options.environments,
        state_dir: options.state_dir,
        shared: shared_state(&config),
        config,
        settings,
        watcher: None,
        wake: wake_rx,
        shutdown: cancel,
        clock: system_clock(),
    });
    Ok(controller.sync_once().await)
}

fn load(options: &Options) -> Result<(Config, Settings), Error> {
    let config = Config::load(&options.config)?;
    config
        .select(&options.environments)
        .map_err(Error::Settings)?;
    let settings = Settings::from_config(&config).map_err(Error::Settings)?;
    Ok((config, settings))
}

fn shared_state(config: &Config) -> Arc<Shared> {
    Arc::new(Shared {
        status: Mutex::new(Status::new(config.path.clone(), Timestamp::now())),
        metrics: metrics::Metrics::new(),
        progress: channel::Sender::new(Progress::default()),
    })
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
