//! The shared-secret token: with `--token` set, registering, deregistering, renewing,
//! writing logs and pushing patches need `Authorization: Bearer <token>` (401 otherwise),
//! and with `--token-reads`, reading the registry and the log does too. Every client of
//! ours (the runtime, the log shipper, the registry's patch sender, the portal) sends the
//! token it was given. Without a token nothing changes, so a setup without secrets stays
//! wire-compatible with the original.

use std::sync::Arc;

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};

use crate::http::{error::ApiError, routes::Routes};

/// `--token`, for every binary: what its services require and its clients send.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TokenArgs {
    /// Shared secret: required (as `Authorization: Bearer <token>`) to register,
    /// deregister, renew, write logs and push patches, and sent by this process's clients.
    #[arg(long, env = "DISTRIBUTED_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `--token-reads`, for the binaries that serve the registry or the log.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReadsArgs {
    /// With --token: reading the registry and the log needs the token too.
    #[arg(long, env = "DISTRIBUTED_TOKEN_READS")]
    pub token_reads: bool,
}

impl TokenArgs {
    /// The token, unless unset or empty.
    pub fn token(&self) -> Option<&str> {
        self.token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// What the services of this process require.
    pub fn access(&self, reads: &ReadsArgs) -> Access {
        Access::new(self.token(), reads.token_reads)
    }
}

/// Which calls need the token.
#[derive(Debug, Clone, Default)]
pub struct Access {
    token: Option<Arc<str>>,
    reads: bool,
}

impl Access {
    /// `token` required of writers, and of readers too if `reads`.
    pub fn new(token: Option<&str>, reads: bool) -> Access {
        Access {
            token: token.map(Arc::from),
            reads,
        }
    }

    /// Open to all: no token.
    pub fn open() -> Access {
        Access::default()
    }

    /// `router` with the token required of the calls that need it; `what` names the
    /// service in the 401's reason.
    pub fn guard<S: Clone + Send + Sync + 'static>(
        &self,
        routes: Routes<S>,
        what: &'static str,
    ) -> Routes<S> {
        let Some(token) = self.token.clone() else {
            return routes;
        };
        let reads = self.reads;
        routes.map(|router| {
            router.layer(middleware::from_fn(move |request: Request, next: Next| {
                let token = token.clone();
                async move {
                    let read = matches!(*request.method(), Method::GET | Method::HEAD);
                    if (read && !reads) || presented(request.headers(), &token) {
                        return next.run(request).await;
                    }
                    unauthorized(what, read)
                }
            }))
        })
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`.
fn presented(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = value.trim().split_once(' ') else {
        return false;
    };
    // In constant time, so a guess cannot be refined from how long the refusal took.
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq::constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

fn unauthorized(what: &str, read: bool) -> Response {
    let doing = if read { "reading" } else { "changing" };
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        format!(
            "{doing} the {what} needs Authorization: Bearer <token>; give the same --token \
             (or DISTRIBUTED_TOKEN) to the service that calls it"
        ),
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"distributed\""),
    );
    response
}

/// The headers every client of this process sends: the token, if there is one.
pub fn client_headers(token: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(token) = token
        && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            presented(&headers, "s3cret")
        };
        assert!(with("Bearer s3cret"));
        assert!(with("bearer  s3cret "));
        assert!(!with("Bearer s3cre"));
        assert!(!with("Bearer s3cret2"));
        assert!(!with("Basic s3cret"));
        assert!(!with("s3cret"));
        assert!(!presented(&HeaderMap::new(), "s3cret"));
    }

    #[test]
    fn an_empty_token_is_no_token() {
        let args = TokenArgs {
            token: Some("  ".into()),
        };
        assert_eq!(args.token(), None);
        assert!(client_headers(None).is_empty());
        assert_eq!(client_headers(Some("t"))[header::AUTHORIZATION], "Bearer t");
    }
}
