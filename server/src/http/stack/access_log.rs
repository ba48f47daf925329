//! The access log: one line per request (method, URI, status, latency), at INFO with
//! `--access-log` and at DEBUG without it. Nothing is measured when neither shows: most
//! runs keep it off, and a line per heartbeat or per log write costs a busy service a
//! fifth of its throughput. These lines are never shipped to the log service (see the
//! log shipper's quiet targets).

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::Request,
    http::{Method, Uri},
    response::Response,
};
use tower::{Layer, Service, layer::layer_fn};

/// The layer: every request through it is logged, at INFO if `info`, else at DEBUG.
pub fn layer<S>(info: bool) -> impl Layer<S, Service = AccessLog<S>> + Clone {
    layer_fn(move |inner| AccessLog { inner, info })
}

#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    info: bool,
}

/// What a request's line says besides its answer.
struct Started {
    method: Method,
    uri: Uri,
    at: Instant,
    info: bool,
}

impl<S> Service<Request> for AccessLog<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = (self.info || tracing::enabled!(tracing::Level::DEBUG)).then(|| Started {
            method: request.method().clone(),
            uri: request.uri().clone(),
            at: Instant::now(),
            info: self.info,
        });
        ResponseFuture {
            inner: self.inner.call(request),
            started,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner answer, logged as it comes.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        started: Option<Started>,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        if let Some(Started {
            method,
            uri,
            at,
            info,
        }) = this.started.take()
        {
            let (status, latency) = (response.status().as_u16(), at.elapsed());
            if info {
                tracing::info!(%method, %uri, status, ?latency, "request");
            } else {
                tracing::debug!(%method, %uri, status, ?latency, "request");
            }
        }
        Poll::Ready(Ok(response))
    }
}
