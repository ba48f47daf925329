//! Counts every request in `http_requests_total` ([`crate::ops::metrics`]), labelled with
//! the pattern the route table finds for its path ([`crate::http::routes`]) and the status
//! it was answered with.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{extract::Request, response::Response};
use tower::{Layer, Service, layer::layer_fn};

use crate::{http::routes::RouteTable, ops::metrics::RequestCount};

/// The layer: every request through it is counted by `routes`' label.
pub fn layer<S>(routes: RouteTable) -> impl Layer<S, Service = Count<S>> + Clone {
    layer_fn(move |inner| Count {
        inner,
        routes: routes.clone(),
    })
}

#[derive(Clone)]
pub struct Count<S> {
    inner: S,
    routes: RouteTable,
}

impl<S> Service<Request> for Count<S>
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
        let route = self.routes.route(request.uri().path()).cloned();
        let count = RequestCount::start(request.method(), route);
        ResponseFuture {
            inner: self.inner.call(request),
            count: Some(count),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner answer, counted as it comes.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        count: Option<RequestCount>,
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
        if let Some(count) = this.count.take() {
            count.finish(response.status());
        }
        Poll::Ready(Ok(response))
    }
}
