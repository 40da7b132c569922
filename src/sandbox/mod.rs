//! The sandbox: a local implementation of the access service's contract
//! (DESIGN.md §1), served over HTTP on loopback with durable storage.
//!
//! It is what `grantsync sandbox` runs, what an `api.url` of `sandbox` starts
//! in-process, and what the tests and benchmarks talk to. Start reading at
//! [`Sandbox::start`]. Its parts:
//!
//! - `directory.rs`: the YAML file the store is seeded from;
//! - `store.rs`: SQLite on its own thread, the durable state;
//! - `catalog.rs`: environments, keys, identities, nodes and roles in memory;
//! - `server.rs`: the routes, authentication and error bodies;
//! - `faults.rs` and `stats.rs`: misbehaviour on purpose, and request counts.

mod catalog;
mod directory;
mod faults;
mod server;
mod stats;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use faults::{DEFAULT_BULK_LIMIT, Faults};
pub use server::ROUTES;
pub use stats::{FaultCounts, Stats};
pub use store::StoreError;

pub(crate) use directory::RawDirectory as DirectoryFile;
use faults::FaultPlan;
use server::AppState;
use store::Store;

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory file (YAML) the store is seeded from.
    pub directory: PathBuf,
    /// Where the store lives; created if missing.
    pub data_dir: PathBuf,
    /// Wipe the store and seed it afresh from the directory.
    pub reset: bool,
    /// A fixed clock for `state` and `created_at`; `None` is the system clock.
    pub now: Option<Timestamp>,
    pub faults: Faults,
    /// Allow listening on an address other than loopback.
    pub allow_remote: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read the directory file", path.display())]
    DirectoryRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    DirectoryInvalid {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to listen on {addr}: not a loopback address (allow_remote permits it)")]
    RemoteListen { addr: SocketAddr },
    #[error("invalid sandbox faults: {0}")]
    InvalidFaults(String),
    #[error("cannot wait for a shutdown signal")]
    Signal(#[source] std::io::Error),
    #[error("sandbox startup task failed")]
    Startup(#[source] tokio::task::JoinError),
}

/// Where `state` and `created_at` take their time from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    System,
    Fixed(Timestamp),
}

impl Clock {
    pub fn now(self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => at,
        }
    }
}

/// A running sandbox. Dropping it stops the server without waiting;
/// [`Sandbox::shutdown`] drains requests and closes the store cleanly.
pub struct Sandbox {
    addr: SocketAddr,
    stats: Arc<stats::Recorder>,
    store: Arc<Store>,
    stop: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Sandbox {
    /// Loads the directory, opens (or seeds) the store and starts serving on
    /// `listen` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// Nothing is left running on error. A non-loopback `listen` is refused
    /// unless `options.allow_remote` is set.
    pub async fn start(options: Options, listen: SocketAddr) -> Result<Sandbox, Error> {
        if !listen.ip().is_loopback() && !options.allow_remote {
            return Err(Error::RemoteListen { addr: listen });
        }
        options.faults.validate().map_err(Error::InvalidFaults)?;
        let clock = options.now.map_or(Clock::System, Clock::Fixed);

        // Bind first: a busy port fails before any seeding work.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;

        // Parsing and seeding are blocking work.
        let opened = {
            let options = options.clone();
            tokio::task::spawn_blocking(move || {
                let directory = directory::load(&options.directory)?;
                Ok::<_, Error>(Store::open(
                    &options.data_dir,
                    &directory,
                    options.reset,
                    clock.now(),
                )?)
            })
            .await
            .map_err(Error::Startup)??
        };
        let store = Arc::new(opened.store);
        let catalog = Arc::new(opened.catalog);

        let seed = options.faults.seed.unwrap_or_else(rand::random);
        if options.faults != Faults::default() {
            info!(seed, faults = ?options.faults, "sandbox injects faults; replay with this seed");
        }
        let stats = Arc::new(stats::Recorder::default());
        let state = AppState {
            store: Arc::clone(&store),
            catalog: Arc::clone(&catalog),
            clock,
            faults: Arc::new(FaultPlan::new(options.faults, seed)),
            stats: Arc::clone(&stats),
        };
        let app = server::router(state);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await
        });

        for env in &catalog.environments {
            info!(
                url = %format!("http://{addr}"),
                environment = %env.environment.name,
                environment_id = %env.environment.id,
                keys = catalog.key_count(env.environment.id),
                seeded = opened.seeded,
                "sandbox serving environment"
            );
        }
        Ok(Sandbox {
            addr,
            stats,
            store,
            stop,
            server: Some(server),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Stops accepting, lets requests in flight finish, then closes the store.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "sandbox server stopped with an error"),
                Err(error) => warn!(%error, "sandbox server task failed"),
            }
        }
        self.store.close().await;
        info!(addr = %self.addr, "sandbox stopped");
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The `grantsync sandbox` subcommand's body: start, log where it serves,
/// wait for SIGINT or SIGTERM, shut down.
pub async fn serve_until_signal(options: Options, listen: SocketAddr) -> Result<(), Error> {
    let sandbox = Sandbox::start(options, listen).await?;
    info!(url = %sandbox.url(), "sandbox ready; stop with Ctrl-C");
    let signal = shutdown_signal().await;
    sandbox.shutdown().await;
    signal
}

#[cfg(unix)]
async fn shutdown_signal() -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(Error::Signal),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() -> Result<(), Error> {
    tokio::signal::ctrl_c().await.map_err(Error::Signal)
}

/// The first API key that the directory file lists for `environment`: the
/// key an embedded sandbox is called with when the config names none.
///
/// # Errors
///
/// The directory file cannot be read or is invalid.
pub fn first_key(directory: &std::path::Path, environment: &str) -> Result<Option<String>, Error> {
    let directory = directory::load(directory)?;
    Ok(directory
        .environments
        .iter()
        .find(|env| env.name.eq_ignore_ascii_case(environment))
        .and_then(|env| env.api_keys.first().cloned()))
}
