//! Turning SIGINT and SIGTERM into a cancellation the whole run can see.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM. A second signal ends the
/// process at once, for an operator who does not want to wait for the calls
/// in flight.
pub fn cancel_on_signal(token: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::warn!("signal received: finishing the calls in flight, sending nothing new");
        token.cancel();
        wait_for_signal().await;
        eprintln!("error: second signal; exiting without waiting");
        std::process::exit(130);
    })
}

/// Resolves on the next SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
