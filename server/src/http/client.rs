//! Outgoing HTTP: the one way a process builds a client for calls to other services, and
//! [`ClientError`], what such a call can come to.
//!
//! No client of ours follows a redirect (a registrant's URL, or a service that moved, must
//! not send us elsewhere); each sends the token it was given (see [`crate::http::token`])
//! and bounds how long a call may take. Callers match on [`ClientError`] to decide what to
//! do next: another instance is worth trying after [`ClientError::Unreachable`] or
//! [`ClientError::TimedOut`], never after a refusal.

use std::time::Duration;

use reqwest::{Client, ClientBuilder, Response, StatusCode, redirect};

/// The longest reason kept from a refusal's body.
const MAX_REASON_CHARS: usize = 300;

/// What a call to another service came to, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made, or it broke before an answer came.
    #[error("{0}")]
    Unreachable(String),
    /// No answer within the client's time.
    #[error("timed out")]
    TimedOut,
    /// It answered, with a status that is not the one asked for; `reason` is its own
    /// (the `error` of a JSON answer, else the text), possibly empty.
    #[error("answered {status}{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    Refused { status: StatusCode, reason: String },
    /// It answered as asked, but the body could not be read or decoded.
    #[error("its answer could not be read: {0}")]
    Unreadable(String),
}

impl ClientError {
    /// A refusal with `status`, its reason read from `body`.
    pub fn refused(status: StatusCode, body: &[u8]) -> ClientError {
        let text = String::from_utf8_lossy(body);
        let reason = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|json| json.get("error")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| text.trim().to_owned());
        ClientError::Refused {
            status,
            reason: reason.chars().take(MAX_REASON_CHARS).collect(),
        }
    }

    /// The refusal `response` is, its reason read from at most `limit` bytes of its body.
    pub async fn refusal(response: Response, limit: usize) -> ClientError {
        let status = response.status();
        ClientError::refused(status, &read_at_most(response, limit).await)
    }

    /// Whether the peer could not be reached or did not answer in time: a call another
    /// instance of the same service may well answer.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable(_) | ClientError::TimedOut)
    }

    /// The status the peer answered, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(err: reqwest::Error) -> ClientError {
        if err.is_timeout() {
            ClientError::TimedOut
        } else if err.is_decode() || err.is_body() {
            ClientError::Unreadable(crate::errors::report(&err))
        } else if err.is_connect() {
            ClientError::Unreachable("connection failed".into())
        } else {
            ClientError::Unreachable(crate::errors::report(&err))
        }
    }
}

/// The settings every client of ours shares: no redirects, `token` on every call. Add the
/// timeouts that fit the calls, then [`build`] it.
pub fn builder(token: Option<&str>) -> ClientBuilder {
    Client::builder()
        .redirect(redirect::Policy::none())
        .default_headers(token_headers(token))
}

/// A client whose every call gives up after `timeout`, sending `token`.
pub fn with_timeout(timeout: Duration, token: Option<&str>) -> Client {
    build(builder(token).timeout(timeout))
}

/// Builds a client from [`builder`]'s settings.
pub fn build(builder: ClientBuilder) -> Client {
    // Fails only if the TLS back-end cannot start, which no setting here can cause.
    builder
        .build()
        .expect("the HTTP client's settings are valid")
}

/// Reads at most `limit` bytes of `response`'s body (a small answer leaves its connection
/// reusable; a large one cannot hold us); what the peer sends past it is dropped.
pub async fn read_at_most(mut response: Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() <= limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit + 1 - body.len())])
            }
            _ => break,
        }
    }
    body.truncate(limit);
    body
}

/// Reads `response`'s whole body, unless it is larger than `limit` bytes: then the call
/// fails as [`ClientError::Unreadable`], saying so, and what was read is dropped. Every
/// answer from a provider is read this way, so an instance cannot hold a process's
/// memory with an endless answer.
///
/// # Errors
/// The body is larger than `limit`, or could not be read.
pub async fn read_limited(mut response: Response, limit: usize) -> Result<Vec<u8>, ClientError> {
    let too_large = || ClientError::Unreadable(format!("its answer is larger than {limit} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A call to another service that failed: its own refusal of what we asked (a 4xx) is
/// passed on; anything else (unreachable, timed out, a 5xx, an unreadable answer) means
/// this service cannot answer now: 503, with what went wrong.
impl From<ClientError> for crate::http::ApiError {
    fn from(err: ClientError) -> crate::http::ApiError {
        use crate::http::ApiError;
        match &err {
            ClientError::Refused { status, reason } if status.is_client_error() => {
                ApiError::new(*status, reason.clone())
            }
            _ => ApiError::unavailable(format!("a service this one needs failed: {err}")),
        }
    }
}

/// The headers every client of this process sends: the token, if there is one (the server
/// side of the token is [`crate::http::token`]).
fn token_headers(token: Option<&str>) -> reqwest::header::HeaderMap {
    use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
    let mut headers = HeaderMap::new();
    if let Some(token) = token
        && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use crate::http::ApiError;

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

    #[test]
    fn every_call_carries_the_token_if_there_is_one() {
        assert!(token_headers(None).is_empty());
        assert_eq!(
            token_headers(Some("t"))[reqwest::header::AUTHORIZATION],
            "Bearer t"
        );
    }

    use super::*;

    #[test]
    fn a_refusal_keeps_the_peers_own_reason() {
        let json = ClientError::refused(StatusCode::UNAUTHORIZED, br#"{"error":"needs a token"}"#);
        assert_eq!(json.to_string(), "answered 401 Unauthorized: needs a token");
        let text = ClientError::refused(StatusCode::NOT_FOUND, b"  no such instance\n");
        assert_eq!(text.to_string(), "answered 404 Not Found: no such instance");
        let bare = ClientError::refused(StatusCode::TEMPORARY_REDIRECT, b"");
        assert_eq!(bare.to_string(), "answered 307 Temporary Redirect");
        let long = ClientError::refused(StatusCode::BAD_REQUEST, "x".repeat(5000).as_bytes());
        assert_eq!(
            long.to_string().len(),
            "answered 400 Bad Request: ".len() + MAX_REASON_CHARS
        );
        assert_eq!(long.status(), Some(StatusCode::BAD_REQUEST));
        assert!(!long.is_unreachable());
    }

    #[tokio::test]
    async fn an_answer_over_the_limit_is_refused_whether_or_not_it_says_its_length() {
        use axum::{Router, body::Body, routing::get};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/sized", get(|| async { "x".repeat(2000) }))
            .route(
                "/streamed",
                get(|| async {
                    // Chunked, with no length: an endless answer would look the same.
                    let chunks = futures::stream::iter(
                        (0..20).map(|_| Ok::<_, std::convert::Infallible>("y".repeat(100))),
                    );
                    Body::from_stream(chunks)
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = with_timeout(Duration::from_secs(5), None);
        for path in ["sized", "streamed"] {
            let answer = || client.get(format!("{base}/{path}")).send();
            let err = read_limited(answer().await.unwrap(), 1999)
                .await
                .unwrap_err();
            assert_eq!(
                err,
                ClientError::Unreadable("its answer is larger than 1999 bytes".into()),
                "{path}"
            );
            let whole = read_limited(answer().await.unwrap(), 2000).await.unwrap();
            assert_eq!(whole.len(), 2000, "{path}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_peer_and_a_slow_one_are_told_apart() {
        // A port nothing listens on: bind one, then free it.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = with_timeout(Duration::from_millis(200), None);
        let err = ClientError::from(
            client
                .get(format!("http://{closed}/"))
                .send()
                .await
                .unwrap_err(),
        );
        assert_eq!(err, ClientError::Unreachable("connection failed".into()));
        assert!(err.is_unreachable());

        // A listener that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                held.push(stream);
            }
        });
        let err = ClientError::from(
            client
                .get(format!("http://{addr}/"))
                .send()
                .await
                .unwrap_err(),
        );
        assert_eq!(err, ClientError::TimedOut);
        assert_eq!(err.to_string(), "timed out");
    }
}
