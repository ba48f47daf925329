//! Binding and serving, the same for every binary: listen on an address (with a message
//! that says what to do if it is taken) and say on stdout where it listens (so with
//! `--addr 127.0.0.1:0`, which takes a free port, a script or a test can read the port),
//! serve until Ctrl-C or SIGTERM, then let requests in flight finish.
//!
//! The accept loop is hyper's own rather than `axum::serve`, which cannot bound how long a
//! client may take to send its headers (a connection that trickles them would otherwise be
//! held forever) nor how much of them hyper buffers.

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use axum::{Router, body::Body, extract::Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::{
    http::{
        limits::{Guard, HttpLimits},
        routes::Routes,
        shutdown::Background,
        timer::ConnectionTimer,
    },
    ops::health::Health,
};

/// The most hyper buffers of one request's head; beyond it hyper answers a bare 431.
/// Headers up to this size reach [`crate::http::limits`], which refuses them with a reason.
pub const MAX_READ_BUFFER: usize = 1024 * 1024;

/// How long requests in flight may take to finish once the server is stopping.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Says on stderr why `program` cannot start, and gives the exit code for it.
pub fn fail(program: &str, reason: impl std::fmt::Display) -> ExitCode {
    eprintln!("{program}: {reason}");
    ExitCode::FAILURE
}

/// The line on stdout that says where a binary listens: `<program>: listening on
/// http://<address>`.
pub const LISTENING: &str = "listening on http://";

/// Binds `addr` and says on stdout where it listens (a port 0 becomes a free port), or
/// explains on stderr why it cannot.
pub async fn bind(program: &str, addr: SocketAddr) -> Result<TcpListener, ExitCode> {
    let listener = TcpListener::bind(addr).await.map_err(|err| {
        fail(
            program,
            format!("cannot listen on {addr}: {err}. Stop whatever uses that address, or pass another with --addr."),
        )
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    println!("{program}: {LISTENING}{bound}");
    Ok(listener)
}

/// Serves `app`, `GET /metrics` and `GET /healthz` (answered from `health`), behind
/// `limits`, counting and logging each request, until `stop` completes (usually
/// [`crate::http::shutdown::signal`], perhaps followed by deregistering). Then it stops
/// `background` and keeps serving while its tasks finish (at most [`TASKS_TIMEOUT`]: a
/// log shipper's last delivery may be to this very process), stops accepting, and waits
/// for requests in flight, at most [`DRAIN_TIMEOUT`].
pub async fn run(
    program: &str,
    listener: TcpListener,
    app: Routes,
    health: Health,
    limits: &HttpLimits,
    stop: impl Future<Output = ()> + Send + 'static,
    background: Background,
) -> ExitCode {
    let (app, routes) = app
        .merge(crate::ops::metrics::router())
        .merge(health.router())
        .into_parts();
    // Debug builds (every test) check that the route table labels each request with the
    // route axum matched.
    #[cfg(debug_assertions)]
    let app = app.layer(axum::middleware::from_fn_with_state(
        routes.clone(),
        crate::http::routes::check_against_axum,
    ));
    // Every request, refused by the limits or not, is counted and logged.
    let app = limits.guard(app, routes);
    let mut builder = Builder::new(TokioExecutor::new());
    // The header timeout's timer is given to each connection as it is accepted (hyper
    // panics on a timeout without a timer): see `Acceptor::until`.
    builder
        .http1()
        .header_read_timeout(limits.request_timeout)
        .max_buf_size(MAX_READ_BUFFER);
    // (Not `max_headers`: above hyper's 100 it parses every request's headers into a heap
    // buffer, which cost 12% of the registry's lookup rate. More than 100 fields get
    // hyper's bare 431.)
    builder.http2().timer(TokioTimer::new());
    let connections = GracefulShutdown::new();
    let accept = Acceptor {
        listener: &listener,
        app,
        builder,
        connections: &connections,
    };
    accept.until(stop).await;
    background.stop();
    let finished = background.finished();
    if tokio::time::timeout(TASKS_TIMEOUT, accept.until(finished))
        .await
        .is_err()
    {
        eprintln!(
            "{program}: background tasks still running after {TASKS_TIMEOUT:?}; stopping anyway"
        );
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.shutdown())
        .await
        .is_err()
    {
        eprintln!("{program}: requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
    ExitCode::SUCCESS
}

/// How long background tasks may take to finish once the server is stopping.
pub const TASKS_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts connections and serves each on its own task, watched for the graceful drain.
struct Acceptor<'a> {
    listener: &'a TcpListener,
    app: Guard<Router>,
    builder: Builder<TokioExecutor>,
    connections: &'a GracefulShutdown,
}

impl Acceptor<'_> {
    /// Accepts until `done` completes.
    async fn until(&self, done: impl Future<Output = ()>) {
        let mut done = std::pin::pin!(done);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        // The peer's address as axum's `ConnectInfo` (the teacher login
                        // paces guesses by it).
                        let service = TowerToHyperService::new(
                            self.app.clone().map_request(move |request: Request<hyper::body::Incoming>| {
                                let mut request = request.map(Body::new);
                                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                                request
                            }),
                        );
                        // Each connection times its headers on its own timer (see
                        // `crate::http::timer`).
                        let mut builder = self.builder.clone();
                        builder.http1().timer(ConnectionTimer::default());
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        tokio::spawn(self.connections.watch(connection));
                    }
                    // Out of file descriptors, usually: wait for some to close rather than spin.
                    Err(err) => {
                        tracing::warn!(%err, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                () = &mut done => return,
            }
        }
    }
}
