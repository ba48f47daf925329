//! Binding and serving, the same for every binary: listen on an address (with a message
//! that says what to do if it is taken) and say on stdout where it listens (so with
//! `--addr 127.0.0.1:0`, which takes a free port, a script or a test can read the port),
//! serve until Ctrl-C or SIGTERM, then let requests in flight finish.
//!
//! The accept loop is hyper's own rather than `axum::serve`, which cannot bound how long a
//! client may take to send its headers (a connection that trickles them would otherwise be
//! held forever) nor how much of them hyper buffers. A connection also has
//! at most `--request-timeout` to show which HTTP version it speaks (hyper-util's own
//! detection waits for the HTTP/2 preface with no timer, so a socket that sent nothing, or
//! half the preface, was held forever), and at most `--max-connections` are open at once:
//! past it, a new one is answered 503 and closed at once, so silent sockets can never use
//! up the process's file descriptors.

use std::{
    net::SocketAddr,
    pin::Pin,
    process::ExitCode,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, extract::Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tower::ServiceExt;

use crate::{
    http::{limits::HttpLimits, routes::Routes, shutdown::Background, timer::ConnectionTimer},
    ops::health::Health,
};

/// The most bytes hyper buffers of one request's head; beyond it hyper answers a bare 431.
/// Headers up to this size reach [`crate::http::stack::header_limit`], which refuses them with a
/// reason.
pub const MAX_READ_BUFFER: usize = 1024 * 1024;

/// How long requests in flight may take to finish once the server is stopping.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Says on stderr why `program` cannot start, and returns the exit code for it.
pub fn fail(program: &str, reason: impl std::fmt::Display) -> ExitCode {
    eprintln!("{program}: {reason}");
    ExitCode::FAILURE
}

/// The line on stdout that says where a binary listens: `<program>: listening on
/// http://<address>`. The tests and the benchmark wait for it
/// (`testkit::process::Child::listening`).
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
/// for requests in flight, at most [`DRAIN_TIMEOUT`]. Binaries call
/// [`crate::runtime::serve`], which calls this.
pub(crate) async fn serve_until(
    program: &str,
    listener: TcpListener,
    app: Routes,
    health: Health,
    limits: &HttpLimits,
    stop: impl Future<Output = ()> + Send + 'static,
    background: Background,
) -> ExitCode {
    // Every request, refused or not, goes through the stack of layers.
    let app = crate::http::stack::stack(
        app.merge(crate::ops::metrics::router())
            .merge(health.router()),
        limits,
    );
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
    // An HTTP/2 peer that stops answering pings is dropped; a connection's streams are
    // bounded.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE)
        .max_concurrent_streams(HTTP2_MAX_STREAMS);
    let connections = GracefulShutdown::new();
    let accept = Acceptor {
        listener: &listener,
        app,
        builder,
        connections: &connections,
        slots: Arc::new(tokio::sync::Semaphore::new(limits.connection_limit())),
        sniff_timeout: limits.request_timeout,
        draining: tokio_util::sync::CancellationToken::new(),
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
    // A connection that has not said which HTTP it speaks has no request in flight.
    accept.draining.cancel();
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

/// How often an HTTP/2 connection is pinged, and how long its answer may take.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// The most streams (requests) one HTTP/2 connection may have open at once.
const HTTP2_MAX_STREAMS: u32 = 100;
/// What a connection past `--max-connections` is told before it is closed.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    content-type: application/json\r\nconnection: close\r\ncontent-length: 74\r\n\r\n\
    {\"error\":\"too many connections are open; try again when some have closed\"}";
/// The client preface every HTTP/2 connection starts with.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Accepts connections and serves each on its own task, watched for the graceful drain.
struct Acceptor<'a> {
    listener: &'a TcpListener,
    app: crate::http::stack::Stack,
    builder: Builder<TokioExecutor>,
    connections: &'a GracefulShutdown,
    /// A permit for each open connection, held from accept to close (`--max-connections`).
    slots: Arc<tokio::sync::Semaphore>,
    /// How long a new connection has to show which HTTP it speaks.
    sniff_timeout: Duration,
    /// Cancelled when the server drains: a connection still being sniffed is closed.
    draining: tokio_util::sync::CancellationToken,
}

impl Acceptor<'_> {
    /// Accepts until `done` completes.
    async fn until(&self, done: impl Future<Output = ()>) {
        let mut done = std::pin::pin!(done);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let Ok(open) = self.slots.clone().try_acquire_owned() else {
                            // Best effort: a full socket buffer just closes it.
                            let _ = stream.try_write(TOO_MANY_CONNECTIONS);
                            tracing::debug!(%peer, "a connection over --max-connections refused");
                            continue;
                        };
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
                        let (watcher, sniff_timeout) = (self.connections.watcher(), self.sniff_timeout);
                        let draining = self.draining.clone();
                        tokio::spawn(async move {
                            let _open = open;
                            let mut stream = stream;
                            let sniffed = tokio::select! {
                                sniffed = sniff(&mut stream, sniff_timeout) => sniffed,
                                () = draining.cancelled() => None,
                            };
                            let Some((first, http2)) = sniffed else {
                                return; // Silent, gone, or the server is stopping: closed.
                            };
                            let builder = if http2 { builder.http2_only() } else { builder.http1_only() };
                            let connection = builder
                                .serve_connection_with_upgrades(
                                    TokioIo::new(Prefixed { first, read: 0, stream }),
                                    service,
                                )
                                .into_owned();
                            let _ = watcher.watch(connection).await;
                        });
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

/// Reads the start of a new connection, at most `timeout` long, to tell HTTP/2 (its
/// preface) from HTTP/1: what was read, and whether it is HTTP/2. `None` if the client
/// sent nothing that tells in time, or closed.
async fn sniff(stream: &mut TcpStream, timeout: Duration) -> Option<(Vec<u8>, bool)> {
    let read = async {
        let mut first = Vec::with_capacity(4096);
        loop {
            if stream.read_buf(&mut first).await.ok()? == 0 {
                return None;
            }
            let common = first.len().min(HTTP2_PREFACE.len());
            if first[..common] != HTTP2_PREFACE[..common] {
                return Some((first, false));
            }
            if first.len() >= HTTP2_PREFACE.len() {
                return Some((first, true));
            }
        }
    };
    tokio::time::timeout(timeout, read).await.ok().flatten()
}

/// A connection whose first bytes were already read (by [`sniff`]): they are read again
/// first, then the stream.
struct Prefixed {
    first: Vec<u8>,
    read: usize,
    stream: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.read < this.first.len() {
            let rest = &this.first[this.read..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            if this.read == this.first.len() {
                this.first = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_listening_line_is_the_one_the_tests_and_the_benchmark_wait_for() {
        assert_eq!(super::LISTENING, testkit::process::LISTENING);
    }
}
