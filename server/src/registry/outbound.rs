//! The HTTP client for calls to registrants' URLs (heartbeats and patches). Those URLs
//! come from whoever registered, so every call is defensive: redirects are never followed,
//! every call times out, and at most [`MAX_RESPONSE_BYTES`] of an answer are read.
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
    /// [`crate::http::access`]) if there is one.
    pub fn new(timeout: Duration, token: Option<&str>) -> Outbound {
        let client = client::build(
            client::builder(token)
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

    /// POSTs a JSON body with one extra header; any 2xx answer is a delivery.
    ///
    /// # Errors
    /// The target could not be reached, timed out, or answered something else than 2xx.
    pub async fn post_json(
        &self,
        url: &str,
        body: String,
        (name, value): (&str, &str),
    ) -> Result<(), ClientError> {
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(name, value)
            .body(body)
            .send()
            .await?;
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
