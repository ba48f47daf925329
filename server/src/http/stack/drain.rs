//! Drains what a handler left of its request's body once it has answered, up to
//! [`MAX_DRAIN_BYTES`] (and the request's deadline: this layer sits inside
//! [`super::deadline`]). A client still sending (a body over the limit, say, refused as
//! soon as its `Content-Length` was seen) then reads the refusal instead of a reset
//! connection. A request without a body (every GET) is passed on untouched.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    response::Response,
};
use parking_lot::Mutex;
use tower::{Layer, Service, layer::layer_fn};

/// The most of an unread request body drained (and dropped) after an early answer.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// The layer.
pub fn layer<S>() -> impl Layer<S, Service = Drain<S>> + Clone {
    layer_fn(|inner| Drain { inner })
}

#[derive(Clone)]
pub struct Drain<S> {
    inner: S,
}

/// A request body the handler reads while this layer keeps a hold on it.
#[derive(Clone)]
struct Shared(Arc<Mutex<Body>>);

impl<S> Service<Request> for Drain<S>
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
        if request.body().is_end_stream() {
            return ResponseFuture {
                inner: self.inner.call(request),
                body: None,
                answer: None,
                drained: 0,
            };
        }
        let (parts, body) = request.into_parts();
        let body = Shared(Arc::new(Mutex::new(body)));
        let request = Request::from_parts(parts, Body::new(body.clone()));
        ResponseFuture {
            inner: self.inner.call(request),
            body: Some(body),
            answer: None,
            drained: 0,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner answer, held back until what is left of the body is drained.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        body: Option<Shared>,
        answer: Option<Response>,
        drained: usize,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.answer.is_none() {
            let Ok(response) = ready!(this.inner.as_mut().poll(cx));
            *this.answer = Some(response);
        }
        if let Some(Shared(body)) = this.body.as_ref() {
            let mut body = body.lock();
            while *this.drained < MAX_DRAIN_BYTES && !body.is_end_stream() {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(frame))) => {
                        *this.drained += frame.data_ref().map_or(0, Bytes::len);
                    }
                    // The end, the deadline or a broken connection: nothing more to read.
                    Poll::Ready(_) => break,
                }
            }
        }
        *this.body = None;
        Poll::Ready(Ok(this.answer.take().expect("answered once")))
    }
}

impl HttpBody for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut *self.0.lock()).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.lock().size_hint()
    }
}
