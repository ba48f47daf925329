//! The teacher portal's server side: what its server functions reach the services
//! through, and the two live streams its pages follow.
//!
//! [`PortalBackend`] implements the app's `ServiceClient` with the service runtime:
//! services are found through the portal instance's providers (with failover), the
//! registry at its configured address; every call times out. The live streams
//! (`/portal/events/registry`, `/portal/events/logs`) relay the registry's and the log
//! service's Server-Sent Events to the browser from the portal's own origin, so the
//! standalone portal needs no CORS. When a source cannot be reached, the relay answers
//! with one `unavailable` event and a `retry:` delay, so the browser keeps trying.
//!
//! [`warn_if_grades_open`] guards the teacher login's promise: a portal with a login that
//! finds a grading service taking anonymous grade changes says so, naming the flag.

use std::{sync::Arc, time::Duration};

use app::{
    backend::{BoxFuture, Reply, ServiceClient, Target, Unavailable},
    wire::registry::{GRADING_SERVICE, LOG_SERVICE},
};
use axum::{
    Router,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
    routing::get,
};
use futures::StreamExt;
use leptos::{config::LeptosOptions, prelude::provide_context};
use tokio_util::sync::CancellationToken;

use crate::{
    http::client::{self, ClientError},
    portal::site,
    runtime::{Providers, RegistryClient},
};

/// How long one call to a service may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a refusal's body read for its reason.
const MAX_REASON_BYTES: usize = 4096;
/// How long the browser waits before reconnecting to an unavailable stream.
const RETRY_MS: u32 = 2000;

/// How the portal's pages reach the services: the grading and log services through the
/// portal instance's providers (with failover), the registry at its address. It is the
/// app's `ServiceClient`, given to the pages as Leptos context.
pub struct PortalBackend {
    providers: Arc<Providers>,
    registry: RegistryClient,
    calls: reqwest::Client,
    streams: reqwest::Client,
    shutdown: CancellationToken,
}

impl PortalBackend {
    /// A backend finding services through `providers` and the registry through
    /// `registry` (any of its nodes), sending `token` (see [`crate::http::access`]) on
    /// every call.
    pub fn new(
        providers: Arc<Providers>,
        registry: RegistryClient,
        token: Option<&str>,
        shutdown: CancellationToken,
    ) -> Arc<PortalBackend> {
        let calls = client::with_timeout(CALL_TIMEOUT, token);
        // A stream lives as long as the page that follows it: no overall timeout, but a
        // connection must come quickly and the source must say something every minute.
        let streams = client::build(
            client::builder(token)
                .connect_timeout(Duration::from_secs(3))
                .read_timeout(Duration::from_secs(60)),
        );
        Arc::new(PortalBackend {
            providers,
            registry,
            calls,
            streams,
            shutdown,
        })
    }

    /// Relays the first of `urls` that answers with an event stream.
    async fn relay(
        &self,
        urls: Vec<String>,
        last_event_id: Option<HeaderValue>,
        source: &str,
    ) -> Response {
        let mut problem = format!("no instance of {source} is known");
        for url in urls {
            let mut request = self
                .streams
                .get(&url)
                .header(header::ACCEPT, "text/event-stream");
            if let Some(id) = &last_event_id {
                request = request.header("last-event-id", id.clone());
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let body = response
                        .bytes_stream()
                        .take_until(self.shutdown.clone().cancelled_owned());
                    return event_stream(Body::from_stream(body));
                }
                Ok(response) => {
                    let err = ClientError::refusal(response, MAX_REASON_BYTES).await;
                    problem = format!("{source} {err}");
                }
                Err(err) => problem = format!("{source}: {}", ClientError::from(err)),
            }
        }
        let reason = problem.replace(['\r', '\n'], " ");
        event_stream(Body::from(format!(
            "retry: {RETRY_MS}\nevent: unavailable\ndata: {reason}\n\n"
        )))
    }
}

fn event_stream(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("a valid response")
}

impl ServiceClient for PortalBackend {
    fn send(
        &self,
        target: Target,
        method: axum::http::Method,
        path: String,
        json_body: Option<String>,
    ) -> BoxFuture<Result<Reply, Unavailable>> {
        let calls = self.calls.clone();
        let providers = self.providers.clone();
        let registry = self.registry.clone();
        Box::pin(async move {
            let request = |base: String| {
                let mut request = calls.request(method.clone(), format!("{base}{path}"));
                if let Some(body) = &json_body {
                    request = request
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(body.clone());
                }
                async move {
                    let response = request.send().await?;
                    let status = response.status().as_u16();
                    let body = response.bytes().await?.to_vec();
                    Ok::<Reply, reqwest::Error>(Reply { status, body })
                }
            };
            match target {
                Target::Registry => registry
                    .on_any_node(|base| {
                        let reply = request(base);
                        async move {
                            let reply = reply.await.map_err(ClientError::from)?;
                            if reply.status == 503 {
                                return Err(ClientError::refused(
                                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                    &reply.body,
                                ));
                            }
                            Ok(reply)
                        }
                    })
                    .await
                    .map_err(|err| Unavailable {
                        service: "the registry".into(),
                        reason: err.to_string(),
                    }),
                Target::Service(name) => {
                    providers
                        .call(name, request)
                        .await
                        .map_err(|err| Unavailable {
                            service: name.into(),
                            reason: err.to_string(),
                        })
                }
            }
        })
    }
}

/// The portal: its pages, server functions and static files, and its live streams.
/// `teachers` decides who may change grades.
pub fn router(
    backend: Arc<PortalBackend>,
    teachers: crate::portal::teacher_login::TeacherLogins,
    options: LeptosOptions,
) -> Router {
    let context: app::backend::Backend = backend.clone();
    let teachers: app::teacher::server_side::Teachers = Arc::new(teachers);
    let streams = Router::new()
        .route("/portal/events/registry", get(registry_events))
        .route("/portal/events/logs", get(log_events))
        .with_state(backend);
    streams.merge(site::router(options, move || {
        provide_context(context.clone());
        provide_context(teachers.clone());
    }))
}

async fn registry_events(
    State(backend): State<Arc<PortalBackend>>,
    headers: HeaderMap,
) -> Response {
    let urls = backend
        .registry
        .nodes()
        .into_iter()
        .map(|base| format!("{base}/services"))
        .collect();
    backend
        .relay(urls, headers.get("last-event-id").cloned(), "the registry")
        .await
}

async fn log_events(
    State(backend): State<Arc<PortalBackend>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let urls = backend
        .providers
        .all(LOG_SERVICE)
        .into_iter()
        .map(|base| format!("{base}/log?{query}"))
        .collect();
    backend
        .relay(urls, headers.get("last-event-id").cloned(), LOG_SERVICE)
        .await
}

/// For a portal with a teacher login: once it finds a grading service, asks it, without a
/// token, to add a student it would refuse anyway (`{}` has no names). A 401 means grade
/// changes are closed to anyone but the portal; any other answer means anybody can change
/// grades around the login, and a warning says which flag closes it. Ends when the
/// answer is in, or at `shutdown`.
pub async fn warn_if_grades_open(providers: Arc<Providers>, shutdown: CancellationToken) {
    let anonymous = client::with_timeout(CALL_TIMEOUT, None);
    loop {
        if let Some(url) = providers.all(GRADING_SERVICE).into_iter().next() {
            let probe = anonymous
                .post(format!("{url}/students"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}")
                .send()
                .await;
            match probe {
                Ok(answer) if answer.status() == reqwest::StatusCode::UNAUTHORIZED => return,
                Ok(answer) => {
                    tracing::warn!(
                        "the grading service at {url} accepts grade changes without a token \
                         (it answered {} to an anonymous one), so anyone can change grades \
                         around the teacher login: give the grading service and this portal \
                         the same --token (DISTRIBUTED_TOKEN)",
                        answer.status()
                    );
                    return;
                }
                Err(_) => {} // Not reachable yet: ask again.
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
