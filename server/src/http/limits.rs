//! What every service refuses before a handler sees the request, and the reason every
//! refusal carries:
//!
//! - headers over [`MAX_HEADER_BYTES`] in all: 431 with a JSON reason (hyper itself, in
//!   [`crate::http::serve`], answers a bare 431 to more than 100 header fields and to headers
//!   beyond its read buffer of [`crate::http::serve::MAX_READ_BUFFER`]);
//! - a body still arriving when [`HttpLimits::request_timeout`] has passed since the request
//!   began: 408 with a JSON reason, however the client trickles it (tower-http's body
//!   timeout resets on every frame, so a byte every few seconds would never trip it);
//! - a body its handler left unread (refused early) is drained, up to [`MAX_DRAIN_BYTES`],
//!   before the answer goes out, so the client reads the answer;
//! - any other 4xx or 5xx that left its handler with an empty body (axum's own 404, 405
//!   and rejections) gets `{"error": "<status text>: <method> <path>"}`, so no refusal is
//!   silent.
//!
//! Every refusal is also said in the process's log at INFO (a 5xx at WARN), with its
//! reason, so a user sees them without the per-request access log (`--access-log`: one
//! line per request, with its method, URI, status and latency; at DEBUG without the flag).
//!
//! All of it, with the request count of [`crate::ops::metrics`], is one hand-written tower
//! service ([`Guard`]) in front of the whole router, so each request costs one box (heap
//! allocation). As two layers (axum's `from_fn` and tower-http's trace layer) they cost the
//! registry a sixth of its lookup rate, and even as one layer, put on each route with
//! `Router::layer`, they cost 5 points (see `BENCHMARKS.md`); that is why the route a
//! request takes, which the count is labelled with, comes from [`crate::http::routes`]
//! instead of from inside the router.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use tokio::time::Sleep;

use crate::http::{
    error::{ApiError, BodyTimedOut, Refusal},
    routes::RouteTable,
};

/// Most bytes of header names and values one request may carry.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The limits on how requests arrive, and how they are logged, shared by every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimits {
    /// How long a client may take to send a request, headers and body (slower: 408).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Log one line per request (method, URI, status, latency) at INFO. Without it those
    /// lines are DEBUG (`RUST_LOG=debug` shows them); refusals and errors are said at INFO
    /// either way.
    #[arg(long, env = "ACCESS_LOG")]
    pub access_log: bool,

    /// The most connections open at once; more are refused at once (503) until some
    /// close. Never more than half the process's open-file limit, so the files and
    /// outgoing connections a service needs always have room.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

/// `--max-connections` unless given.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            request_timeout: Duration::from_secs(30),
            access_log: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpLimits {
    /// The most connections to keep open: `--max-connections`, but at most half the
    /// open-file limit (`ulimit -n`).
    pub fn connection_limit(&self) -> usize {
        let wanted = self.max_connections as usize;
        // No current limit (unlimited): the flag's.
        match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
            Some(open_files) => wanted.min((open_files / 2).max(1) as usize),
            None => wanted,
        }
    }

    /// `app` with the limits above in front of it, and every request counted in
    /// [`crate::ops::metrics`] by the route `routes` finds for it (one service does all of
    /// it, since each layer costs every request a box).
    pub fn guard<S>(&self, app: S, routes: RouteTable) -> Guard<S> {
        Guard {
            inner: app,
            routes,
            timeout: self.request_timeout,
            access_log: self.access_log,
        }
    }
}

/// The limits above, the request count and the access log, in front of `inner`.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    routes: RouteTable,
    timeout: Duration,
    access_log: bool,
}

impl<S> tower::Service<Request> for Guard<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let pending = Pending {
            count: crate::ops::metrics::RequestCount::start(
                request.method(),
                self.routes.route(request.uri().path()).cloned(),
            ),
            started: (self.access_log || tracing::enabled!(tracing::Level::DEBUG))
                .then(Instant::now),
            access_log: self.access_log,
            method: request.method().clone(),
            uri: request.uri().clone(),
        };
        if let Some(refusal) = headers_too_large(&request) {
            say_refused(
                &pending.method,
                &pending.uri,
                refusal.status,
                &refusal.reason,
            );
            return Box::pin(std::future::ready(
                pending.answered(refusal.into_response()),
            ));
        }
        // The inner service (made ready by `poll_ready`) is called now, and its future
        // owns what it needs: nothing is cloned for the request.
        let (answer, body) = if request.body().is_end_stream() {
            // Most requests (every GET) have no body: nothing to time or drain.
            (self.inner.call(request), None)
        } else {
            let (parts, body) = request.into_parts();
            let body = Deadline::new(body, self.timeout);
            let answer = self
                .inner
                .call(Request::from_parts(parts, Body::new(body.clone())));
            (answer, Some(body))
        };
        Box::pin(async move {
            let Ok(response) = answer.await;
            if let Some(body) = body
                && !body.is_end_stream()
            {
                body.drain().await;
            }
            let response = explain_refusal(response, &pending.method, &pending.uri);
            pending.answered(response)
        })
    }
}

/// A request on its way through the guard: what its answer is counted and logged with.
struct Pending {
    count: crate::ops::metrics::RequestCount,
    /// When it began, if the access log (or DEBUG) will say how long it took.
    started: Option<Instant>,
    access_log: bool,
    method: Method,
    uri: axum::http::Uri,
}

impl Pending {
    /// Counts the answer and says it in the access log.
    fn answered(self, response: Response) -> Result<Response, Infallible> {
        self.count.finish(response.status());
        if let Some(started) = self.started {
            let (method, uri) = (self.method, self.uri);
            let (status, latency) = (response.status().as_u16(), started.elapsed());
            if self.access_log {
                tracing::info!(%method, %uri, status, ?latency, "request");
            } else {
                tracing::debug!(%method, %uri, status, ?latency, "request");
            }
        }
        Ok(response)
    }
}

/// The refusal of a request whose headers are over [`MAX_HEADER_BYTES`] in all.
fn headers_too_large(request: &Request) -> Option<ApiError> {
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (bytes > MAX_HEADER_BYTES).then(|| {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request's headers are too large: at most {} KiB in all",
                MAX_HEADER_BYTES / 1024
            ),
        )
    })
}

/// A 4xx or 5xx answer, said in the log with its reason; one that left its handler with
/// an empty body gets a JSON reason.
fn explain_refusal(response: Response, method: &Method, uri: &axum::http::Uri) -> Response {
    let head = method == Method::HEAD;
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let has_body = response.body().size_hint().exact() != Some(0);
    if let Some(Refusal(reason)) = response.extensions().get::<Refusal>() {
        say_refused(method, uri, response.status(), reason);
    } else if head || has_body {
        say_refused(method, uri, response.status(), "(see the answer)");
    }
    if head || has_body {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let status = parts
        .status
        .canonical_reason()
        .unwrap_or("the request was refused");
    let asked = format!("{method} {}", uri.path());
    let reason = format!("{status}: {asked}");
    say_refused(method, uri, parts.status, &reason);
    let body = serde_json::json!({ "error": reason }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Says a refused request in the log: INFO for a 4xx, WARN for a 5xx.
fn say_refused(method: &Method, uri: &axum::http::Uri, status: StatusCode, reason: &str) {
    let status = status.as_u16();
    if status >= 500 {
        tracing::warn!(%method, %uri, status, reason, "request failed");
    } else {
        tracing::info!(%method, %uri, status, reason, "request refused");
    }
}

/// The most of an unread request body drained (and dropped) after an early answer.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// A request body that fails once its request's time is up. The guard keeps a clone, so
/// what a handler left unread can be drained after it answers: a client still sending
/// (say, a body over the limit, refused as soon as its `Content-Length` was seen) then
/// reads the refusal instead of a reset connection.
///
/// The timer is set only when the body first has to be waited for: most bodies have
/// arrived whole with their headers, and a timer for each of them cost the log service
/// a point of its ingest rate.
#[derive(Clone)]
struct Deadline(Arc<Mutex<DeadlineState>>);

struct DeadlineState {
    body: Body,
    /// When the request's time is up.
    at: Instant,
    /// Set once the body has been waited for.
    timer: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    finished: bool,
}

impl Deadline {
    fn new(body: Body, timeout: Duration) -> Deadline {
        Deadline(Arc::new(Mutex::new(DeadlineState {
            body,
            at: Instant::now() + timeout,
            timer: None,
            timeout,
            finished: false,
        })))
    }

    /// Reads and drops what is left of the body, up to [`MAX_DRAIN_BYTES`] and the deadline.
    async fn drain(mut self) {
        let mut drained = 0;
        while drained < MAX_DRAIN_BYTES {
            match self.frame().await {
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, Bytes::len),
                _ => return,
            }
        }
    }
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let mut state = self.0.lock();
        let state = &mut *state;
        if state.finished {
            return Poll::Ready(None);
        }
        // What has arrived is taken whatever the time; only waiting is bounded.
        let frame = Pin::new(&mut state.body).poll_frame(cx);
        if frame.is_ready() {
            if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
                state.finished = true;
            }
            return frame;
        }
        let at = tokio::time::Instant::from_std(state.at);
        let timer = state
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if timer.as_mut().poll(cx).is_ready() {
            state.finished = true;
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(state.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let state = self.0.lock();
        state.finished || state.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.lock().body.size_hint()
    }
}
