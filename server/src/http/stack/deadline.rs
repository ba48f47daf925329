//! The whole-request deadline: a request's body must have arrived within
//! `--request-timeout` of the request's start, or reading it fails with
//! [`BodyTimedOut`] (a 408 from [`crate::http::RequestBody`]). The deadline is not reset
//! by each piece that arrives, as tower-http's body timeout is: a client sending a byte
//! every few seconds would otherwise hold its connection for ever.
//!
//! The timer is set only when the body first has to be waited for: most bodies arrive
//! whole with their headers, and a timer for each of them cost the log service a point
//! of its ingest rate. A request without a body (every GET) is passed on untouched.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    response::Response,
};
use tokio::time::Sleep;
use tower::{Layer, Service, layer::layer_fn};

use crate::http::error::BodyTimedOut;

/// The layer: bodies must arrive within `timeout` of their request's start.
pub fn layer<S>(timeout: Duration) -> impl Layer<S, Service = Deadline<S>> + Clone {
    layer_fn(move |inner| Deadline { inner, timeout })
}

#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request> for Deadline<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    /// The inner answer as it is: only the body changes.
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.body().is_end_stream() {
            return self.inner.call(request);
        }
        let timeout = self.timeout;
        self.inner.call(request.map(|body| {
            Body::new(DeadlineBody {
                body,
                at: Instant::now() + timeout,
                timer: None,
                timeout,
                finished: false,
            })
        }))
    }
}

/// A request body that fails once its request's time is up.
struct DeadlineBody {
    body: Body,
    /// When the request's time is up.
    at: Instant,
    /// Set once the body has been waited for.
    timer: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    finished: bool,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        // What has arrived is taken whatever the time; only waiting is bounded.
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if frame.is_ready() {
            if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
                this.finished = true;
            }
            return frame;
        }
        let at = tokio::time::Instant::from_std(this.at);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if timer.as_mut().poll(cx).is_ready() {
            this.finished = true;
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
