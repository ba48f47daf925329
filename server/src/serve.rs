//! Binding and serving, the same for every binary: listen on an address (with a message
//! that says what to do if it is taken), serve until Ctrl-C or SIGTERM, then let requests
//! in flight finish.

use std::{net::SocketAddr, process::ExitCode};

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Says on stderr why `program` cannot start, and gives the exit code for it.
pub fn fail(program: &str, reason: impl std::fmt::Display) -> ExitCode {
    eprintln!("{program}: {reason}");
    ExitCode::FAILURE
}

/// Binds `addr`, or explains on stderr why not.
pub async fn bind(program: &str, addr: SocketAddr) -> Result<TcpListener, ExitCode> {
    TcpListener::bind(addr).await.map_err(|err| {
        fail(
            program,
            format!("cannot listen on {addr}: {err}. Stop whatever uses that address, or pass another with --addr."),
        )
    })
}

/// Serves `app` until `stop` completes (usually [`crate::shutdown::signal`], perhaps
/// followed by deregistering); then cancels `shutdown` (which ends background tasks and
/// long-lived streams), stops accepting and waits for requests in flight.
pub async fn run(
    program: &str,
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
    shutdown: CancellationToken,
) -> ExitCode {
    let stopping = shutdown.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop.await;
            stopping.cancel();
        })
        .await;
    shutdown.cancel();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{program}: {err}");
            ExitCode::FAILURE
        }
    }
}
