//! The HTTP client for calls to registrants' URLs (heartbeats and patches). Those URLs
//! come from whoever registered, so every call is defensive: redirects are never followed,
//! every call times out, and at most [`MAX_RESPONSE_BYTES`] of an answer are read.
//! Connections are pooled and reused across rounds.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode, redirect};

/// The most bytes read from any answer; the rest is discarded with the connection.
pub const MAX_RESPONSE_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct Outbound {
    client: Client,
}

impl Outbound {
    /// A client whose every call gives up after `timeout`, sending `token` (see
    /// [`crate::access`]) if there is one.
    pub fn new(timeout: Duration, token: Option<&str>) -> Outbound {
        let client = Client::builder()
            .default_headers(crate::access::client_headers(token))
            .redirect(redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("distributed-registry/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's settings are valid");
        Outbound { client }
    }

    /// GETs a heartbeat URL: alive if it answers exactly 200, like the original.
    /// Returns the round-trip time either way, and why it failed.
    pub async fn heartbeat(&self, url: &str) -> (Duration, Result<(), String>) {
        let started = Instant::now();
        let result = match self.client.get(url).send().await {
            Ok(response) if response.status() == StatusCode::OK => {
                drain(response).await;
                Ok(())
            }
            Ok(response) => {
                let status = response.status();
                drain(response).await;
                Err(format!("answered {status}"))
            }
            Err(err) => Err(describe(&err)),
        };
        (started.elapsed(), result)
    }

    /// POSTs a JSON body with one extra header; any 2xx answer is a delivery.
    pub async fn post_json(
        &self,
        url: &str,
        body: String,
        (name, value): (&str, &str),
    ) -> Result<(), String> {
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(name, value)
            .body(body)
            .send()
            .await
            .map_err(|err| describe(&err))?;
        let status = response.status();
        drain(response).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of the body, so that a small answer leaves its
/// connection reusable and a large one cannot hold us.
async fn drain(mut response: Response) {
    let mut read = 0;
    while read <= MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection failed".into()
    } else {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        text
    }
}
