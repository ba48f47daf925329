//! The runtime's client for the registry's API: register, deregister, renew a TTL, and
//! ask whether the registry still lists an instance. It speaks the original protocol, so
//! it works against the original Go registry too (which lacks the query API; see
//! [`RegistryClient::is_listed`]).
//!
//! A registry may be several nodes (a cluster on etcd): `--registry-url` takes their
//! URLs separated by commas, and the client learns the others from any one of them
//! (`GET /services/Registry`, where each node lists itself; see
//! [`RegistryClient::learn_nodes`]). Every call goes to the node that answered last, and
//! moves on to the next when a node cannot be reached, times out or answers 503, so the
//! loss of any one node costs a call no more than one failed attempt.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use parking_lot::Mutex;

use reqwest::{Client, StatusCode};
use wire::registry::{InstanceInfo, REGISTRY, Registration};

use crate::http::client::{self, ClientError};

/// How long one call to one registry node may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a refusal's body read for its reason.
const MAX_REFUSAL_BYTES: usize = 4096;
/// The largest listing read from a node (10,000 instances of one service are about 3 MB).
const MAX_LISTING_BYTES: usize = 16 * 1024 * 1024;

/// The registry's API, through whichever of its nodes answers. Every call to a node gives
/// up after a few seconds; its errors say whether the registry could not be reached,
/// timed out or refused (with its status and reason), so a caller can tell a registry
/// that is away from one that said no. Cheap to clone: clones share the nodes known.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    nodes: Arc<Nodes>,
    client: Client,
    token: Option<String>,
}

/// The registry's nodes, as base URLs: those given, then those learned. Never empty.
#[derive(Debug)]
struct Nodes {
    urls: Mutex<Vec<String>>,
    /// The node calls go to first: the one that answered last.
    current: AtomicUsize,
}

/// What a TTL renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    /// The registry does not know the instance: register again.
    Unknown,
}

/// Whether a call that failed with `err` should be tried on another node: the node is
/// away (unreachable, timed out) or says it cannot serve now (503). Any other answer is
/// the registry's, and another node would give the same.
fn another_node_may_answer(err: &ClientError) -> bool {
    match err {
        ClientError::Unreachable(_) | ClientError::TimedOut => true,
        ClientError::Refused { status, .. } => *status == StatusCode::SERVICE_UNAVAILABLE,
        ClientError::Unreadable(_) => false,
    }
}

impl RegistryClient {
    /// A client for the registry at `registry_bases` (e.g. `http://127.0.0.1:3000`, or
    /// several nodes' base URLs separated by commas).
    pub fn new(registry_bases: &str) -> RegistryClient {
        RegistryClient::with_token(registry_bases, None)
    }

    /// A client that sends `token` (see [`crate::http::token`]) on every call.
    pub fn with_token(registry_bases: &str, token: Option<&str>) -> RegistryClient {
        let mut urls: Vec<String> = Vec::new();
        for base in registry_bases.split(',') {
            let base = base.trim().trim_end_matches('/');
            if !base.is_empty() && !urls.iter().any(|known| known == base) {
                urls.push(base.to_owned());
            }
        }
        if urls.is_empty() {
            urls.push(registry_bases.trim().to_owned());
        }
        RegistryClient {
            nodes: Arc::new(Nodes {
                urls: Mutex::new(urls),
                current: AtomicUsize::new(0),
            }),
            client: client::with_timeout(CALL_TIMEOUT, token),
            token: token.map(str::to_owned),
        }
    }

    /// The nodes' base URLs, the one calls go to first at the front.
    pub fn nodes(&self) -> Vec<String> {
        let mut urls = self.nodes.urls.lock().clone();
        let current = self.nodes.current.load(Ordering::Relaxed) % urls.len();
        urls.rotate_left(current);
        urls
    }

    /// `call(base URL)` on the node that answered last, then on each other node in turn
    /// while the answer is one [another node may better](another_node_may_answer); the
    /// first other answer (or the last failure) is the result.
    ///
    /// # Errors
    /// No node gave an answer: the last node's failure.
    pub async fn on_any_node<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let nodes = self.nodes();
        let first = self.nodes.current.load(Ordering::Relaxed);
        let mut failure = None;
        for (step, base) in nodes.iter().enumerate() {
            match call(base.clone()).await {
                Err(err) if another_node_may_answer(&err) => {
                    if nodes.len() > 1 {
                        tracing::debug!(node = %base, %err, "registry node did not answer; trying the next");
                    }
                    failure = Some(err);
                }
                answer => {
                    if step > 0 {
                        let index = self.index_of(base).unwrap_or(first);
                        self.nodes.current.store(index, Ordering::Relaxed);
                        tracing::info!(node = %base, "registry node {} did not answer; using {base}", nodes[0]);
                    }
                    return answer;
                }
            }
        }
        Err(failure.unwrap_or_else(|| ClientError::Unreachable("no registry node is known".into())))
    }

    fn index_of(&self, base: &str) -> Option<usize> {
        self.nodes.urls.lock().iter().position(|url| url == base)
    }

    /// Asks a node which registry nodes there are (each lists itself as an instance of
    /// `Registry`) and adds those not known yet. A registry that lists none (a single
    /// node, the original) leaves the list as it is.
    pub async fn learn_nodes(&self) {
        let listed = self
            .on_any_node(|base| {
                let request = self
                    .client
                    .get(format!("{base}/services/{REGISTRY}"))
                    .send();
                async move {
                    let response = request.await?;
                    if response.status() != StatusCode::OK {
                        return Ok(vec![]);
                    }
                    let body = client::read_limited(response, MAX_LISTING_BYTES).await?;
                    Ok(serde_json::from_slice::<Vec<InstanceInfo>>(&body).unwrap_or_default())
                }
            })
            .await
            .unwrap_or_default();
        let mut urls = self.nodes.urls.lock();
        for node in listed {
            let url = node
                .registration
                .service_url
                .trim_end_matches('/')
                .to_owned();
            if crate::runtime::args::check_http_url("a registry node's URL", &url).is_ok()
                && !urls.contains(&url)
            {
                tracing::info!(node = %url, "learned of registry node {url}");
                urls.push(url);
            }
        }
    }

    /// The token it sends, which the registry also sends with its patches.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The `/services` URL of the node calls go to first.
    pub fn services_url(&self) -> String {
        format!("{}/services", self.nodes()[0])
    }

    /// `POST /services`; only exactly 200 is success, as the original client has it.
    ///
    /// # Errors
    /// No node could be reached or answered in time, or the registry refused the
    /// registration.
    pub async fn register(&self, registration: &Registration) -> Result<(), ClientError> {
        self.on_any_node(|base| {
            let request = self
                .client
                .post(format!("{base}/services"))
                .json(registration)
                .send();
            async move { expect_ok(request.await?).await }
        })
        .await
    }

    /// `DELETE /services` with the instance URL as text.
    ///
    /// # Errors
    /// No node could be reached or answered in time, or the registry refused (404: it
    /// did not know the instance).
    pub async fn deregister(&self, url: &str) -> Result<(), ClientError> {
        self.on_any_node(|base| {
            let request = self.text_call(reqwest::Method::DELETE, &base, url);
            async move { expect_ok(request.await?).await }
        })
        .await
    }

    /// `PUT /services` with the instance URL as text: a TTL renewal.
    ///
    /// # Errors
    /// No node could be reached or answered in time, or the registry refused with
    /// anything but 404.
    pub async fn renew(&self, url: &str) -> Result<Renewal, ClientError> {
        self.on_any_node(|base| {
            let request = self.text_call(reqwest::Method::PUT, &base, url);
            async move {
                let response = request.await?;
                if response.status() == StatusCode::NOT_FOUND {
                    return Ok(Renewal::Unknown);
                }
                expect_ok(response).await.map(|()| Renewal::Renewed)
            }
        })
        .await
    }

    /// `method /services` at `base` with `url` as text.
    fn text_call(
        &self,
        method: reqwest::Method,
        base: &str,
        url: &str,
    ) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + use<> {
        self.client
            .request(method, format!("{base}/services"))
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(url.to_owned())
            .send()
    }

    /// Whether the registry lists `url` among the passing instances of `name`, or
    /// `None` if it cannot say (a registry without the query API, like the original).
    ///
    /// # Errors
    /// No node could be reached or answered in time.
    pub async fn is_listed(&self, name: &str, url: &str) -> Result<Option<bool>, ClientError> {
        self.on_any_node(|base| {
            let client = self.client.clone();
            async move {
                let mut lookup =
                    reqwest::Url::parse(&format!("{base}/services")).map_err(|err| {
                        ClientError::Unreadable(format!("the registry URL is invalid: {err}"))
                    })?;
                lookup
                    .path_segments_mut()
                    .map_err(|()| {
                        ClientError::Unreadable("the registry URL cannot take a path".into())
                    })?
                    .push(name);
                let response = client.get(lookup).send().await?;
                match response.status() {
                    StatusCode::OK => {}
                    StatusCode::SERVICE_UNAVAILABLE => {
                        return Err(ClientError::refusal(response, MAX_REFUSAL_BYTES).await);
                    }
                    _ => return Ok(None),
                }
                let body = client::read_limited(response, MAX_LISTING_BYTES).await?;
                match serde_json::from_slice::<Vec<InstanceInfo>>(&body) {
                    Ok(instances) => Ok(Some(
                        instances.iter().any(|i| i.registration.service_url == url),
                    )),
                    Err(_) => Ok(None),
                }
            }
        })
        .await
    }
}

/// Success for exactly 200, as the original client has it; else the refusal.
async fn expect_ok(response: reqwest::Response) -> Result<(), ClientError> {
    if response.status() == StatusCode::OK {
        return Ok(());
    }
    Err(ClientError::refusal(response, MAX_REFUSAL_BYTES).await)
}

#[cfg(test)]
mod tests {
    use axum::{Router, http::StatusCode, routing::any};

    use super::*;

    /// A node answering every call with `status`, at its base URL.
    async fn node(status: StatusCode) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(any(move || async move { (status, "a reason") }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    /// A base URL where nothing listens.
    async fn dead_node() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }

    #[test]
    fn the_nodes_given_are_kept_in_order_once_each() {
        let client = RegistryClient::new(" http://a:1/ ,http://b:2,http://a:1,, ");
        assert_eq!(client.nodes(), ["http://a:1", "http://b:2"]);
        assert_eq!(client.services_url(), "http://a:1/services");
    }

    #[tokio::test]
    async fn a_dead_or_unavailable_node_is_passed_over_and_the_next_one_kept() {
        let (dead, busy, live) = (
            dead_node().await,
            node(StatusCode::SERVICE_UNAVAILABLE).await,
            node(StatusCode::OK).await,
        );
        let client = RegistryClient::new(&format!("{dead},{busy},{live}"));
        client.deregister("http://x").await.unwrap();
        assert_eq!(client.nodes()[0], live, "the node that answered goes first");
        client.deregister("http://x").await.unwrap();
    }

    #[tokio::test]
    async fn a_refusal_is_the_registrys_answer_and_not_retried_elsewhere() {
        let (refusing, live) = (
            node(StatusCode::BAD_REQUEST).await,
            node(StatusCode::OK).await,
        );
        let client = RegistryClient::new(&format!("{refusing},{live}"));
        let err = client.deregister("http://x").await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Refused {
                    status: StatusCode::BAD_REQUEST,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(client.nodes()[0], refusing);
    }

    #[tokio::test]
    async fn when_no_node_answers_the_last_failure_is_said() {
        let client = RegistryClient::new(&format!(
            "{},{}",
            dead_node().await,
            node(StatusCode::SERVICE_UNAVAILABLE).await
        ));
        let err = client.deregister("http://x").await.unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
    }
}
