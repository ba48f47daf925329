//! The runtime's client for the registry's API: register, deregister, renew a TTL, and
//! ask whether the registry still lists an instance. It speaks the original protocol, so
//! it works against the original Go registry too (which lacks the query API; see
//! [`RegistryClient::is_listed`]).

use std::time::Duration;

use app::wire::registry::{InstanceInfo, Registration};
use reqwest::{Client, StatusCode};

use crate::http::client::{self, ClientError};

/// How long one call to the registry may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a refusal's body read for its reason.
const MAX_REFUSAL_BYTES: usize = 4096;

/// The registry's API, for one registry. Every call gives up after a few seconds; its
/// errors say whether the registry could not be reached, timed out or refused (with its
/// status and reason), so a caller can tell a registry that is away from one that said no.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    services_url: String,
    client: Client,
    token: Option<String>,
}

/// What a TTL renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// The registry does not know the instance: register again.
    Unknown,
}

impl RegistryClient {
    /// A client for the registry at `registry_base` (e.g. `http://127.0.0.1:3000`).
    pub fn new(registry_base: &str) -> RegistryClient {
        RegistryClient::with_token(registry_base, None)
    }

    /// A client that sends `token` (see [`crate::http::access`]) on every call.
    pub fn with_token(registry_base: &str, token: Option<&str>) -> RegistryClient {
        RegistryClient {
            services_url: format!("{registry_base}/services"),
            client: client::with_timeout(CALL_TIMEOUT, token),
            token: token.map(str::to_owned),
        }
    }

    /// The token it sends, which the registry also sends with its patches.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The registry's `/services` URL.
    pub fn services_url(&self) -> &str {
        &self.services_url
    }

    /// `POST /services`; only exactly 200 is success, as the original client has it.
    ///
    /// # Errors
    /// The registry could not be reached or timed out, or refused the registration.
    pub async fn register(&self, registration: &Registration) -> Result<(), ClientError> {
        let response = self
            .client
            .post(&self.services_url)
            .json(registration)
            .send()
            .await?;
        expect_ok(response).await
    }

    /// `DELETE /services` with the instance URL as text.
    ///
    /// # Errors
    /// The registry could not be reached or timed out, or refused (404: it did not know
    /// the instance).
    pub async fn deregister(&self, url: &str) -> Result<(), ClientError> {
        let response = self
            .client
            .delete(&self.services_url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(url.to_owned())
            .send()
            .await?;
        expect_ok(response).await
    }

    /// `PUT /services` with the instance URL as text: a TTL renewal.
    ///
    /// # Errors
    /// The registry could not be reached or timed out, or refused with anything but 404.
    pub async fn renew(&self, url: &str) -> Result<Renewal, ClientError> {
        let response = self
            .client
            .put(&self.services_url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(url.to_owned())
            .send()
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Renewal::Unknown);
        }
        expect_ok(response).await.map(|()| Renewal::Renewed)
    }

    /// Whether the registry lists `url` among the passing instances of `name`, or
    /// `None` if it cannot say (a registry without the query API, like the original).
    ///
    /// # Errors
    /// The registry could not be reached or timed out.
    pub async fn is_listed(&self, name: &str, url: &str) -> Result<Option<bool>, ClientError> {
        let mut lookup = reqwest::Url::parse(&self.services_url).map_err(|err| {
            ClientError::Unreachable(format!("the registry URL is invalid: {err}"))
        })?;
        lookup
            .path_segments_mut()
            .map_err(|()| ClientError::Unreachable("the registry URL cannot take a path".into()))?
            .push(name);
        let response = self.client.get(lookup).send().await?;
        if response.status() != StatusCode::OK {
            return Ok(None);
        }
        match response.json::<Vec<InstanceInfo>>().await {
            Ok(instances) => Ok(Some(
                instances.iter().any(|i| i.registration.service_url == url),
            )),
            Err(_) => Ok(None),
        }
    }
}

/// Success for exactly 200, as the original client has it; else the refusal.
async fn expect_ok(response: reqwest::Response) -> Result<(), ClientError> {
    if response.status() == StatusCode::OK {
        return Ok(());
    }
    Err(ClientError::refusal(response, MAX_REFUSAL_BYTES).await)
}
