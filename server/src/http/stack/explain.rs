//! The one place a refusal is explained: every 4xx and 5xx is said in the log with its
//! reason (INFO, WARN for a 5xx), and one that left its handler with an empty body (axum's
//! own 404 and 405, a layer's bare status) gets a JSON reason, as every API refusal has.
//! A 405's reason names the methods its `Allow` header lists, which axum computes from
//! the routes, so it cannot drift from them.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    body::{Body, HttpBody},
    extract::Request,
    http::{HeaderValue, Method, StatusCode, Uri, header},
    response::Response,
};
use tower::{Layer, Service, layer::layer_fn};

use crate::http::error::Refusal;

/// The layer.
pub fn layer<S>() -> impl Layer<S, Service = Explain<S>> + Clone {
    layer_fn(|inner| Explain { inner })
}

#[derive(Clone)]
pub struct Explain<S> {
    inner: S,
}

impl<S> Service<Request> for Explain<S>
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
        let asked = Some((request.method().clone(), request.uri().clone()));
        ResponseFuture {
            inner: self.inner.call(request),
            asked,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner answer, explained if it is a refusal.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        asked: Option<(Method, Uri)>,
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
        let response = match this.asked.take() {
            Some((method, uri)) => explain(response, &method, &uri),
            None => response,
        };
        Poll::Ready(Ok(response))
    }
}

/// A 4xx or 5xx answer, said in the log with its reason; one with an empty body gets a
/// JSON reason.
fn explain(response: Response, method: &Method, uri: &Uri) -> Response {
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let head = method == Method::HEAD;
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
    let reason = match parts.headers.get(header::ALLOW) {
        Some(allowed) if parts.status == StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = allowed.to_str().unwrap_or_default().replace(',', ", ");
            format!("method not allowed here; use {allowed}")
        }
        _ => {
            let status = parts
                .status
                .canonical_reason()
                .unwrap_or("the request was refused");
            format!("{status}: {method} {}", uri.path())
        }
    };
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
fn say_refused(method: &Method, uri: &Uri, status: StatusCode, reason: &str) {
    let status = status.as_u16();
    if status >= 500 {
        tracing::warn!(%method, %uri, status, reason, "request failed");
    } else {
        tracing::info!(%method, %uri, status, reason, "request refused");
    }
}
