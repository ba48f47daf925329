//! The shared-secret token: with `--token` set, registering, deregistering, renewing,
//! writing logs and pushing patches need `Authorization: Bearer <token>` (or
//! `X-Consul-Token: <token>`, as Consul's clients send it to the registry's Consul
//! catalog; 401 otherwise),
//! and with `--token-reads`, reading the registry and the log does too. Every client of
//! ours (the runtime, the log shipper, the registry's patch sender, the portal) sends the
//! token it was given. Without a token nothing changes, so a setup without secrets stays
//! wire-compatible with the original. A binary refuses to listen beyond loopback without a
//! token unless told `--open` ([`TokenArgs::check_exposure`], protected mode).

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

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

    /// Listen on an address other than loopback without --token: anyone who can reach it
    /// may then register services, push patches and write logs. Without this (or a
    /// token) such an address is refused at start-up.
    #[arg(long, env = "DISTRIBUTED_OPEN", value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::SetTrue)]
    pub open: bool,
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

    /// Protected mode (Redis' is the model): listening on `addr` is refused when it is not
    /// a loopback address and there is neither a token nor `--open`, since anyone on the
    /// network could then change the system. The reason, naming both flags, goes to
    /// stderr, and the exit code is 2.
    pub fn check_exposure(&self, program: &str, addr: SocketAddr) -> Result<(), ExitCode> {
        if addr.ip().is_loopback() || self.token().is_some() || self.open {
            return Ok(());
        }
        eprintln!(
            "{program}: refusing to listen on {addr} without a token: anyone who can reach \
             that address could register services, push patches and write logs. Give every \
             process the same --token (or DISTRIBUTED_TOKEN), listen on 127.0.0.1, or pass \
             --open (DISTRIBUTED_OPEN=1) if the system is really meant to be open."
        );
        Err(ExitCode::from(2))
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
        routes.layer(middleware::from_fn(move |request: Request, next: Next| {
            let token = token.clone();
            async move {
                let read = matches!(*request.method(), Method::GET | Method::HEAD);
                if (read && !reads) || presented(request.headers(), &token) {
                    return next.run(request).await;
                }
                unauthorized(what, read)
            }
        }))
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`, or `X-Consul-Token: <token>`
/// as Consul's clients send it (the registry reads as a Consul catalog too).
fn presented(headers: &HeaderMap, token: &str) -> bool {
    // In constant time, so a guess cannot be refined from how long the refusal took.
    let matches =
        |given: &str| constant_time_eq::constant_time_eq(given.trim().as_bytes(), token.as_bytes());
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if text(wire::consul::TOKEN_HEADER).is_some_and(matches) {
        return true;
    }
    let Some((scheme, given)) =
        text(header::AUTHORIZATION.as_str()).and_then(|v| v.trim().split_once(' '))
    else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && matches(given)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_be_served_without_a_token_or_open() {
        let args = |token: Option<&str>, open| TokenArgs {
            token: token.map(str::to_owned),
            open,
        };
        let on = |addr: &str| addr.parse::<SocketAddr>().unwrap();
        for loopback in ["127.0.0.1:3000", "127.0.0.2:0", "[::1]:3000"] {
            assert!(args(None, false).check_exposure("t", on(loopback)).is_ok());
        }
        for exposed in ["0.0.0.0:3000", "[::]:3000", "192.0.2.7:3000"] {
            assert!(args(None, false).check_exposure("t", on(exposed)).is_err());
            assert!(
                args(Some(" "), false)
                    .check_exposure("t", on(exposed))
                    .is_err()
            );
            assert!(
                args(Some("s"), false)
                    .check_exposure("t", on(exposed))
                    .is_ok()
            );
            assert!(args(None, true).check_exposure("t", on(exposed)).is_ok());
        }
    }

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
            open: false,
        };
        assert_eq!(args.token(), None);
    }
}
