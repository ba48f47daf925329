//! The error answer every service's HTTP API gives: a 4xx (or 5xx) status with a JSON
//! body `{"error": "<reason>"}` that says what to fix. Handlers return
//! `Result<_, ApiError>` and use `?`: a [`crate::http::ClientError`] from a call to another
//! service becomes one through `From` (in [`crate::http::client`]), and a [`RequestBody`] that cannot be read is refused with one.
//!
//! This module owns the error types the request path shares, and depends on no other part
//! of [`crate::http`]: the layers of [`crate::http::stack`] and the outgoing client depend
//! on it, never the other way round.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::{Bytes, HttpBody},
    extract::{FromRequest, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;

/// A refusal or failure as the client sees it: a status and the reason, which is sent as
/// `{"error": reason}`. Internal causes (a driver's text, a task's panic) are logged where
/// they happen and never put in `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: String,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> ApiError {
        ApiError {
            status,
            reason: reason.into(),
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, reason)
    }

    pub fn not_found(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, reason)
    }

    /// A fault this service cannot serve around (a database down, a disk full): 503.
    pub fn unavailable(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason)
    }
}

/// The body of a request, read whole: at most `MAX` bytes (413 beyond, refused before
/// reading when `Content-Length` says so), within the request deadline (408). Its
/// rejection is an [`ApiError`], so a handler takes `RequestBody::<MAX>(bytes)` and never
/// sees a body it could not read.
///
/// The limit is the extractor's own rather than axum's `DefaultBodyLimit` layer: a
/// `Router::layer` wraps every route of the router in a second boxed route, which cost
/// the registry's lookups (which read no body at all) 4 points of their rate.
#[derive(Debug, Clone)]
pub struct RequestBody<const MAX: usize>(pub Bytes);

impl<S: Send + Sync, const MAX: usize> FromRequest<S> for RequestBody<MAX> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<RequestBody<MAX>, ApiError> {
        let body = request.into_body();
        if body.size_hint().lower() > MAX as u64 {
            return Err(too_large::<MAX>());
        }
        match http_body_util::Limited::new(body, MAX).collect().await {
            Ok(collected) => Ok(RequestBody(collected.to_bytes())),
            Err(err) => Err(unreadable::<MAX>(&*err)),
        }
    }
}

fn too_large<const MAX: usize>() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body is too large: at most {} here",
            human_bytes(MAX)
        ),
    )
}

/// `bytes` as a person would say it: `64 KiB`, `16 MiB`, `100 bytes`.
pub(crate) fn human_bytes(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A request body that could not be read: too large (413), too slow (408) or broken off
/// (400).
fn unreadable<const MAX: usize>(err: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut source = Some(err);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return too_large::<MAX>();
        }
        if let Some(timed_out) = error.downcast_ref::<BodyTimedOut>() {
            return ApiError::new(StatusCode::REQUEST_TIMEOUT, timed_out.to_string());
        }
        source = error.source();
    }
    ApiError::bad_request(format!("the request body could not be read: {err}"))
}

/// The error a request body gives when the request's time is up (see
/// [`crate::http::stack::deadline`]); it becomes a 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}", humantime::format_duration(*.0))]
pub struct BodyTimedOut(pub Duration);

/// The reason an [`ApiError`] answer carries, kept in its extensions for the log line the
/// request limits write about every refusal.
#[derive(Debug, Clone)]
pub struct Refusal(pub Arc<str>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.reason })),
        )
            .into_response();
        response
            .extensions_mut()
            .insert(Refusal(self.reason.into()));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read<const MAX: usize>(body: axum::body::Body) -> Result<Bytes, ApiError> {
        let request = Request::builder().body(body).unwrap();
        RequestBody::<MAX>::from_request(request, &())
            .await
            .map(|RequestBody(bytes)| bytes)
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_its_limit_and_refused_beyond_it_said_or_sent() {
        use axum::body::Body;
        assert_eq!(read::<4>(Body::from("abcd")).await.unwrap(), "abcd");
        // Its Content-Length (here, the size the body knows) says too much: refused unread.
        let refused = read::<4>(Body::from("abcde")).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            refused.reason,
            "the request body is too large: at most 4 bytes here"
        );
        // Sent in pieces with no length: refused once the pieces pass the limit.
        let pieces = |n: usize| {
            Body::from_stream(futures::stream::iter(
                (0..n).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(b"xx"))),
            ))
        };
        assert_eq!(read::<4>(pieces(2)).await.unwrap(), "xxxx");
        let refused = read::<4>(pieces(3)).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
        // A body that breaks off is the client's fault, said as such.
        let broken = Body::from_stream(futures::stream::iter([
            Ok(Bytes::from_static(b"x")),
            Err(std::io::Error::other("connection reset")),
        ]));
        let refused = read::<4>(broken).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(
            refused.reason.contains("connection reset"),
            "{}",
            refused.reason
        );
    }

    #[test]
    fn limits_are_said_in_the_unit_a_person_would_use() {
        assert_eq!(human_bytes(100), "100 bytes");
        assert_eq!(human_bytes(64 * 1024), "64 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024), "16 MiB");
        assert_eq!(human_bytes(1536), "1536 bytes");
    }
}
