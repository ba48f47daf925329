//! The error answer every service's HTTP API gives: a 4xx (or 5xx) status with a JSON
//! body `{"error": "<reason>"}` that says what to fix. Handlers return
//! `Result<_, ApiError>` and use `?`: a [`RequestBody`] that cannot be read, and a
//! [`ClientError`] from a call to another service, become one through `From`.
//!
//! This module owns the error types the request path shares, so the request limits
//! ([`crate::http::limits`]) depend on it and not the other way round.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::http::client::ClientError;

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

/// A request body that could not be read: too large (413), too slow (408) or broken off
/// (400).
impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> ApiError {
        if let Some(timed_out) = timed_out(&rejection) {
            return ApiError::new(StatusCode::REQUEST_TIMEOUT, timed_out.to_string());
        }
        let status = rejection.status();
        let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is too large".to_owned()
        } else {
            format!(
                "the request body could not be read: {}",
                rejection.body_text()
            )
        };
        ApiError::new(status, reason)
    }
}

/// A call to another service that failed: its own refusal of what we asked (a 4xx) is
/// passed on; anything else (unreachable, timed out, a 5xx, an unreadable answer) means
/// this service cannot answer now: 503, with what went wrong.
impl From<ClientError> for ApiError {
    fn from(err: ClientError) -> ApiError {
        match &err {
            ClientError::Refused { status, reason } if status.is_client_error() => {
                ApiError::new(*status, reason.clone())
            }
            _ => ApiError::unavailable(format!("a service this one needs failed: {err}")),
        }
    }
}

/// The body of a request, read whole (within the route's body limit and the request
/// deadline). Its rejection is an [`ApiError`], so a handler takes `RequestBody(bytes)`
/// and never sees a body it could not read.
#[derive(Debug, Clone)]
pub struct RequestBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<RequestBody, ApiError> {
        Ok(RequestBody(Bytes::from_request(request, state).await?))
    }
}

/// The error a request body gives when the request's time is up (see
/// [`crate::http::limits`]); it becomes a 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}", humantime::format_duration(*.0))]
pub struct BodyTimedOut(pub Duration);

/// The body deadline behind a rejection, if that is what broke the body off.
fn timed_out(rejection: &BytesRejection) -> Option<&BodyTimedOut> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if let Some(timed_out) = error.downcast_ref::<BodyTimedOut>() {
            return Some(timed_out);
        }
        source = error.source();
    }
    None
}

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

/// The 405 answer for a method a path does not take, naming the ones it does.
pub fn method_not_allowed(allowed: &'static str) -> Response {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here; use {allowed}"),
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static(allowed),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_from_another_service_is_passed_on_and_a_fault_is_a_503() {
        let refused = ClientError::Refused {
            status: StatusCode::NOT_FOUND,
            reason: "no student 9".into(),
        };
        assert_eq!(ApiError::from(refused), ApiError::not_found("no student 9"));
        let failing = ClientError::Refused {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            reason: "disk full".into(),
        };
        let answer = ApiError::from(failing);
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer.reason.contains("answered 500"), "{}", answer.reason);
        for err in [
            ClientError::TimedOut,
            ClientError::Unreachable("connection failed".into()),
        ] {
            assert_eq!(ApiError::from(err).status, StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}
