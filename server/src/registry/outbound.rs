//! The HTTP client for calls to registrants' URLs (heartbeats and patches). Those URLs
//! come from whoever registered, so every call is defensive: redirects are never followed,
//! every call times out, at most [`MAX_RESPONSE_BYTES`] of an answer are read, and a
//! name is never connected to at a link-local or the unspecified address
//! ([`SafeResolver`]; a registration naming such an address outright is refused).
//! Connections are pooled and reused across rounds.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

use crate::http::client::{self, ClientError, read_at_most};

/// The most bytes read from any answer; the rest is discarded with the connection.
pub const MAX_RESPONSE_BYTES: usize = 4096;

/// The registry's client for registrants' URLs. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Outbound {
    client: Client,
}

impl Outbound {
    /// A client whose every call gives up after `timeout`, sending `token` (see
    /// [`crate::http::token`]) if there is one.
    pub fn new(timeout: Duration, token: Option<&str>) -> Outbound {
        let client = client::build(
            client::builder(token)
                .dns_resolver(std::sync::Arc::new(SafeResolver))
                .timeout(timeout)
                .connect_timeout(timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                .user_agent(concat!("distributed-registry/", env!("CARGO_PKG_VERSION"))),
        );
        Outbound { client }
    }

    /// GETs a heartbeat URL: alive if it answers exactly 200, like the original.
    /// Returns the round-trip time either way, and why it failed.
    pub async fn heartbeat(&self, url: &str) -> (Duration, Result<(), ClientError>) {
        let started = Instant::now();
        let result = match self.client.get(url).send().await {
            Ok(response) if response.status() == StatusCode::OK => {
                read_at_most(response, MAX_RESPONSE_BYTES).await;
                Ok(())
            }
            Ok(response) => Err(refused(response).await),
            Err(err) => Err(err.into()),
        };
        (started.elapsed(), result)
    }

    /// POSTs a JSON body with extra `headers`; any 2xx answer is a delivery.
    ///
    /// # Errors
    /// The target could not be reached, timed out, or answered something else than 2xx.
    pub async fn post_json(
        &self,
        url: &str,
        body: String,
        headers: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.body(body).send().await?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        read_at_most(response, MAX_RESPONSE_BYTES).await;
        Ok(())
    }
}

/// A registrant's refusal, by its status alone: what it says is its own business, and the
/// reason is shown on the registry's page.
async fn refused(response: reqwest::Response) -> ClientError {
    let status = response.status();
    read_at_most(response, MAX_RESPONSE_BYTES).await;
    ClientError::Refused {
        status,
        reason: String::new(),
    }
}

/// Resolves names as the system does, but drops every address the registry must never
/// call ([`crate::registry::validate::forbidden_ip`]: link-local, where clouds serve their
/// credentials, and unspecified), so a registrant's name that points there (a DNS name
/// it controls, say) reaches nothing.
#[derive(Debug, Clone, Copy)]
pub struct SafeResolver;

impl reqwest::dns::Resolve for SafeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = allowed_addresses(resolved);
            if allowed.is_empty() {
                return Err(Box::new(NoAllowedAddress { host }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A registrant's host name resolves only to addresses the registry never calls.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves to no address the registry may call (link-local and unspecified ones \
     are never called)"
)]
pub struct NoAllowedAddress {
    pub host: String,
}

/// The addresses of `resolved` the registry may call.
fn allowed_addresses(
    resolved: impl Iterator<Item = std::net::SocketAddr>,
) -> Vec<std::net::SocketAddr> {
    resolved
        .filter(|addr| crate::registry::validate::forbidden_ip(addr.ip()).is_none())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_lead_to_link_local_or_unspecified_addresses() {
        let addrs: Vec<std::net::SocketAddr> = [
            "169.254.169.254:0",
            "[fe80::1]:0",
            "0.0.0.0:0",
            "[::]:0",
            "[::ffff:169.254.1.1]:0",
            "10.0.0.5:0",
            "127.0.0.1:0",
            "[2001:db8::1]:0",
        ]
        .iter()
        .map(|addr| addr.parse().unwrap())
        .collect();
        let allowed: Vec<String> = allowed_addresses(addrs.into_iter())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(allowed, ["10.0.0.5:0", "127.0.0.1:0", "[2001:db8::1]:0"]);
    }

    #[tokio::test]
    async fn a_name_is_still_resolved_and_called() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let outbound = Outbound::new(Duration::from_secs(5), None);
        let (_, result) = outbound
            .heartbeat(&format!("http://localhost:{port}/heartbeat"))
            .await;
        assert_eq!(result, Ok(()));
    }
}
