//! How a process stops: the signal ([`signal`]: Ctrl-C or SIGTERM, whichever comes
//! first), and the background work that must finish before it exits ([`Background`]).
//!
//! Every task a service starts beside its requests (the registry's heartbeat checker and
//! patch workers, each instance's registration, the log shipper) is spawned through a
//! [`Background`], as `mini-redis` tracks its connections: when the process is asked to
//! stop, [`crate::http::serve`] cancels the background's signal, keeps serving while the
//! tasks finish (the all-in-one server's log shipper makes its last delivery to its own
//! `/log`), waits for them, bounded, and only then stops accepting and drains.

use std::{future::Future, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The background tasks of one process (or of one service in a test) and the signal
/// that tells them to finish. Cheap to clone: clones share both.
#[derive(Debug, Clone, Default)]
pub struct Background {
    stopping: CancellationToken,
    tasks: TaskTracker,
}

impl Background {
    pub fn new() -> Background {
        Background::default()
    }

    /// Starts `task`, which must end soon after [`Background::stopping`] is cancelled.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// The signal the tasks (and long-lived answers, such as event streams) end on.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Tells every task to finish, and starts no new one after.
    pub fn stop(&self) {
        self.stopping.cancel();
        self.tasks.close();
    }

    /// Completes once [`Background::stop`] was called and every task has ended.
    pub async fn finished(&self) {
        self.tasks.wait().await;
    }

    /// [`Background::stop`], then waits for the tasks at most `within`; returns whether
    /// they all ended.
    pub async fn stop_within(&self, within: Duration) -> bool {
        self.stop();
        tokio::time::timeout(within, self.finished()).await.is_ok()
    }
}

/// Completes when the process is asked to stop.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, stopping"),
        () = terminate => tracing::info!("SIGTERM received, stopping"),
    }
}
