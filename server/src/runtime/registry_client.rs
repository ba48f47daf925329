//! The runtime's client for the registry's API: register, deregister, renew a TTL, and
//! ask whether the registry still lists an instance. It speaks the original protocol, so
//! it works against the original Go registry too (which lacks the query API; see
//! [`RegistryClient::is_listed`]).

use std::time::Duration;

use app::wire::registry::{InstanceInfo, Registration};
use reqwest::{Client, StatusCode, redirect};

/// How long one call to the registry may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// A client that sends `token` (see [`crate::access`]) on every call.
    pub fn with_token(registry_base: &str, token: Option<&str>) -> RegistryClient {
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .timeout(CALL_TIMEOUT)
            .default_headers(crate::access::client_headers(token))
            .build()
            .expect("the HTTP client's settings are valid");
        RegistryClient {
            services_url: format!("{registry_base}/services"),
            client,
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
    pub async fn register(&self, registration: &Registration) -> Result<(), String> {
        let response = self
            .client
            .post(&self.services_url)
            .json(registration)
            .send()
            .await
            .map_err(|err| describe(&err))?;
        expect_ok(response).await
    }

    /// `DELETE /services` with the instance URL as text.
    pub async fn deregister(&self, url: &str) -> Result<(), String> {
        let response = self
            .client
            .delete(&self.services_url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(url.to_owned())
            .send()
            .await
            .map_err(|err| describe(&err))?;
        expect_ok(response).await
    }

    /// `PUT /services` with the instance URL as text: a TTL renewal.
    pub async fn renew(&self, url: &str) -> Result<Renewal, String> {
        let response = self
            .client
            .put(&self.services_url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(url.to_owned())
            .send()
            .await
            .map_err(|err| describe(&err))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Renewal::Unknown);
        }
        expect_ok(response).await.map(|()| Renewal::Renewed)
    }

    /// Whether the registry lists `url` among the passing instances of `name`, or
    /// `None` if it cannot say (a registry without the query API, like the original).
    pub async fn is_listed(&self, name: &str, url: &str) -> Result<Option<bool>, String> {
        let mut lookup = reqwest::Url::parse(&self.services_url).map_err(|err| err.to_string())?;
        lookup
            .path_segments_mut()
            .map_err(|()| "the registry URL cannot take a path".to_owned())?
            .push(name);
        let response = self
            .client
            .get(lookup)
            .send()
            .await
            .map_err(|err| describe(&err))?;
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

async fn expect_ok(response: reqwest::Response) -> Result<(), String> {
    let status = response.status();
    if status == StatusCode::OK {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let reason: String = body.trim().chars().take(300).collect();
    Err(if reason.is_empty() {
        format!("the registry answered {status}")
    } else {
        format!("the registry answered {status}: {reason}")
    })
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_connect() {
        "the registry cannot be reached (connection failed)".into()
    } else if err.is_timeout() {
        "the registry did not answer in time".into()
    } else {
        format!("calling the registry failed: {err}")
    }
}
