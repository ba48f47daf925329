//! The error answer every service's HTTP API gives: a 4xx (or 5xx) status with a JSON
//! body `{"error": "<reason>"}` that says what to fix.

use axum::{
    Json,
    extract::rejection::BytesRejection,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::request_limits::BodyTimedOut;

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

    /// A request body that could not be read: too large (413), too slow (408) or broken off
    /// (400).
    pub fn body(rejection: BytesRejection) -> ApiError {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.reason })),
        )
            .into_response();
        // For the log line the request limits write about every refusal.
        response
            .extensions_mut()
            .insert(crate::request_limits::Refusal(self.reason.into()));
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
