//! Refuses a request whose headers carry more than [`MAX_HEADER_BYTES`] in all (431),
//! before anything reads it. (hyper bounds the number of header fields, and how long
//! the headers take to arrive.)

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use futures::future::{Either, Ready, ready};
use tower::{Layer, Service, layer::layer_fn};

use crate::http::error::ApiError;

/// Most bytes of header names and values one request may carry.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The layer.
pub fn layer<S>() -> impl Layer<S, Service = HeaderLimit<S>> + Clone {
    layer_fn(|inner| HeaderLimit { inner })
}

#[derive(Clone)]
pub struct HeaderLimit<S> {
    inner: S,
}

impl<S> Service<Request> for HeaderLimit<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    /// The refusal, ready at once, or the inner answer.
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let bytes: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if bytes > MAX_HEADER_BYTES {
            let refusal = ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "the request's headers are too large: at most {} KiB in all",
                    MAX_HEADER_BYTES / 1024
                ),
            );
            return Either::Left(ready(Ok(refusal.into_response())));
        }
        Either::Right(self.inner.call(request))
    }
}
