//! The daemon's HTTP endpoints: `/healthz`, `/readyz`, `/metrics`,
//! `/status`.
//!
//! They serve what the controller has recorded in [`Shared`]; none of them
//! waits for a sync. The address comes from `daemon.listen`, loopback by
//! default: anything else is served only when the config names it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::status::Status;

/// Where the endpoints listen when `daemon.listen` says nothing: loopback,
/// so that a daemon never exposes its status by accident.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// What the controller records and the endpoints serve.
pub struct Shared {
    pub status: Mutex<Status>,
    pub metrics: Metrics,
    pub progress: watch::Sender<Progress>,
}

/// Counters a caller can await: how far the daemon has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Readings of the files after a change or a rescan, finished.
    pub checks: u64,
    pub syncs_started: u64,
    pub syncs_finished: u64,
    pub ready: bool,
}

impl Shared {
    /// Changes the status under its lock and publishes readiness.
    pub fn update_status<T>(&self, change: impl FnOnce(&mut Status) -> T) -> T {
        let mut status = self.status.lock().expect("status lock is never poisoned");
        let out = change(&mut status);
        status.update_readiness();
        let ready = status.ready;
        self.progress.send_modify(|p| p.ready = ready);
        out
    }

    pub fn snapshot(&self) -> Status {
        self.status
            .lock()
            .expect("status lock is never poisoned")
            .clone()
    }
}

/// Reads `daemon.listen`.
///
/// # Errors
///
/// The text is not `ADDRESS:PORT`.
pub fn parse_listen(listen: Option<&str>) -> Result<SocketAddr, String> {
    match listen {
        None => Ok(DEFAULT_LISTEN),
        Some(text) => text.trim().parse().map_err(|_| {
            format!("daemon.listen \"{text}\" is not an address and port like 127.0.0.1:9464")
        }),
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(shared)
}

/// Serves the endpoints on `listener` until `shutdown` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let app = router(shared);
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %error, "the status endpoints stopped");
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.snapshot();
    match status.not_ready {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.snapshot()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_defaults_to_loopback() {
        let addr = parse_listen(None).unwrap();
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), 9464);
        assert_eq!(
            parse_listen(Some("0.0.0.0:9464")).unwrap().to_string(),
            "0.0.0.0:9464"
        );
        assert!(parse_listen(Some("localhost")).is_err());
    }
}
