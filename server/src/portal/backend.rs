//! The teacher portal's server side: what its server functions reach the services
//! through, and the three live streams its pages follow.
//!
//! [`PortalBackend`] implements the app's `ServiceClient` with the service runtime:
//! services are found through the portal instance's providers (with failover), the
//! registry through any of its nodes; every call times out. The live streams
//! (`/portal/events/registry`, `/portal/events/logs`, `/portal/events/grades`) relay the
//! registry's, the log service's and the grading service's Server-Sent Events to the
//! browser from the portal's own origin, so the standalone portal needs no CORS. The
//! registry's comes from the first node that answers; the log's and the grades' from
//! every instance at once, merged event by event (each record or change is told by the
//! one instance that stored it, so a page needs them all). When no source
//! can be reached, the relay answers with one `unavailable` event and a `retry:` delay,
//! so the browser keeps trying.
//!
//! [`warn_if_grades_open`] guards the teacher login's promise: a portal with a login that
//! finds a grading service taking anonymous grade changes says so, naming the flag.

use std::{sync::Arc, time::Duration};

use app::{
    backend::{BoxFuture, Reply, ServiceClient, Target, Unavailable},
    wire::registry::{GRADING_SERVICE, LOG_SERVICE},
};
use axum::{
    body::{Body, Bytes},
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
    routing::get,
};

use futures::{StreamExt, stream::BoxStream};
use leptos::{config::LeptosOptions, prelude::provide_context};
use tokio_util::sync::CancellationToken;

use crate::{
    http::{
        client::{self, ClientError},
        routes::Routes,
    },
    portal::site,
    runtime::{Providers, RegistryClient},
};

/// How long one call to a service may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a look at one registry node may take (it probes etcd for up to a second).
const PROBE_TIMEOUT: Duration = Duration::from_millis(2500);
/// The most of a refusal's body read for its reason.
const MAX_REASON_BYTES: usize = 4096;
/// The largest answer read from a service: the whole Grade Book of a large school is a
/// few MB; past this, the answer is refused rather than held in memory.
pub(super) const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// How long the browser waits before reconnecting to an unavailable stream.
const RETRY_MS: u32 = 2000;

/// How the portal's pages reach the services: the grading and log services through the
/// portal instance's providers (with failover), the registry at its address. It is the
/// app's `ServiceClient`, given to the pages as Leptos context.
pub struct PortalBackend {
    pub(super) providers: Arc<Providers>,
    registry: RegistryClient,
    pub(super) calls: reqwest::Client,
    /// For quick looks at every registry node: a node that is down must not hold a page.
    probes: reqwest::Client,
    streams: reqwest::Client,
    shutdown: CancellationToken,
}

impl PortalBackend {
    /// A backend finding services through `providers` and the registry through
    /// `registry` (any of its nodes), sending `token` (see [`crate::http::token`]) on
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
            probes: client::with_timeout(PROBE_TIMEOUT, token),
            streams,
            shutdown,
        })
    }

    /// Opens the event stream at `url`, an instance of the service `source`: its bytes, or
    /// why it could not be opened.
    async fn open_stream(
        &self,
        url: &str,
        last_event_id: Option<&HeaderValue>,
        source: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, reqwest::Error>>, StreamError> {
        let mut request = self
            .streams
            .get(url)
            .header(header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.clone());
        }
        match request.send().await {
            // A service without an event stream (the original's grading service answers
            // this request with its JSON list) is unavailable as a source, not relayed.
            Ok(response) if response.status().is_success() && !is_event_stream(&response) => {
                Err(StreamError {
                    service: source.to_owned(),
                    cause: ClientError::Unreadable(format!(
                        "it has no event stream (it answered {})",
                        content_type(&response)
                    )),
                })
            }
            Ok(response) if response.status().is_success() => Ok(response.bytes_stream().boxed()),
            Ok(response) => Err(StreamError {
                service: source.to_owned(),
                cause: ClientError::refusal(response, MAX_REASON_BYTES).await,
            }),
            Err(err) => Err(StreamError {
                service: source.to_owned(),
                cause: ClientError::from(err),
            }),
        }
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
            match self.open_stream(&url, last_event_id.as_ref(), source).await {
                Ok(stream) => {
                    let body = stream.take_until(self.shutdown.clone().cancelled_owned());
                    return event_stream(Body::from_stream(body));
                }
                Err(err) => problem = crate::errors::report(&err),
            }
        }
        unavailable_stream(&problem)
    }

    /// Relays the event streams of every one of `urls` that answers, merged event by
    /// event as they come (the streams carry no event ids, so there is nothing to
    /// resume). A source that ends or breaks leaves the others flowing; once all have
    /// ended, so does the relay, and the browser reconnects to every instance then known.
    async fn relay_every(&self, urls: Vec<String>, source: &str) -> Response {
        let opened =
            futures::future::join_all(urls.iter().map(|url| self.open_stream(url, None, source)))
                .await;
        let mut problem = format!("no instance of {source} is known");
        let mut streams = Vec::new();
        for stream in opened {
            match stream {
                Ok(stream) => streams.push(whole_events(stream)),
                Err(err) => problem = crate::errors::report(&err),
            }
        }
        if streams.is_empty() {
            return unavailable_stream(&problem);
        }
        let merged = futures::stream::select_all(streams)
            .map(Ok::<Bytes, std::convert::Infallible>)
            .take_until(self.shutdown.clone().cancelled_owned());
        event_stream(Body::from_stream(merged))
    }
}

fn content_type(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("no Content-Type")
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    content_type(response)
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/event-stream")
}

/// The most bytes one event may take; a source that sends more without ending an event
/// is dropped from a merged relay.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// `stream`'s bytes cut into whole events (each up to and including the blank line that
/// ends it), so that events of several sources can be merged without tearing one. It ends
/// quietly when its source ends or breaks. An `unavailable` event is dropped: only the
/// relay says a source is unavailable, and a page that heard it from one instance of
/// several would show the whole service as down.
fn whole_events(
    stream: BoxStream<'static, Result<Bytes, reqwest::Error>>,
) -> BoxStream<'static, Bytes> {
    futures::stream::unfold(
        (stream, Vec::new()),
        |(mut stream, mut buffer)| async move {
            loop {
                if let Some(end) = buffer.windows(2).position(|pair| pair == b"\n\n") {
                    let event: Vec<u8> = buffer.drain(..end + 2).collect();
                    if says_unavailable(&event) {
                        continue;
                    }
                    return Some((Bytes::from(event), (stream, buffer)));
                }
                if buffer.len() > MAX_EVENT_BYTES {
                    return None;
                }
                match stream.next().await {
                    Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                    Some(Err(_)) | None => return None,
                }
            }
        },
    )
    .boxed()
}

/// Whether `event` (one whole event) is named `unavailable`: its `event` field, with or
/// without the space the format allows after the colon, on a line ended by any of the
/// format's line ends (`\n`, `\r\n` or a lone `\r`, which browsers take too).
fn says_unavailable(event: &[u8]) -> bool {
    event
        .split(|&byte| byte == b'\n' || byte == b'\r')
        .any(|line| {
            line.strip_prefix(b"event:")
                .map(|name| name.strip_prefix(b" ").unwrap_or(name) == b"unavailable")
                .unwrap_or(false)
        })
}

/// One `unavailable` event saying `problem`, with a `retry:` delay for the browser.
fn unavailable_stream(problem: &str) -> Response {
    let reason = problem.replace(['\r', '\n'], " ");
    event_stream(Body::from(format!(
        "retry: {RETRY_MS}\nevent: unavailable\ndata: {reason}\n\n"
    )))
}

fn event_stream(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("a valid response")
}

impl ServiceClient for PortalBackend {
    fn get_from_registry_nodes(
        &self,
        path: String,
    ) -> BoxFuture<Vec<(String, Result<Reply, Unavailable>)>> {
        let (registry, probes) = (self.registry.clone(), self.probes.clone());
        Box::pin(async move {
            registry.learn_nodes().await;
            let mut nodes = registry.nodes();
            nodes.sort();
            futures::future::join_all(nodes.into_iter().map(|node| {
                let answer =
                    get_reply(probes.clone(), format!("{node}{path}"), "the registry node");
                async move { (node, answer.await) }
            }))
            .await
        })
    }

    fn get_from_every(
        &self,
        name: &'static str,
        path: String,
    ) -> BoxFuture<Vec<Result<Reply, Unavailable>>> {
        let calls = self.calls.clone();
        let instances = self.providers.all(name);
        Box::pin(futures::future::join_all(instances.into_iter().map(
            move |base| get_reply(calls.clone(), format!("{base}{path}"), name),
        )))
    }

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
            // An addition is named once, and the same name goes with every attempt: when
            // one instance takes it and then times out, the next (which may share its
            // database) answers with what the first stored rather than storing it twice.
            let key = (method == axum::http::Method::POST)
                .then(crate::portal::teacher_login::random_token);
            let request = |base: String| {
                let mut request = calls.request(method.clone(), format!("{base}{path}"));
                if let Some(key) = &key {
                    request = request.header(crate::grading::http::IDEMPOTENCY_KEY, key);
                }
                if let Some(body) = &json_body {
                    request = request
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(body.clone());
                }
                async move {
                    let response = request.send().await?;
                    let status = response.status().as_u16();
                    let body = client::read_limited(response, MAX_ANSWER_BYTES).await?;
                    Ok::<Reply, ClientError>(Reply { status, body })
                }
            };
            match target {
                Target::Registry => registry
                    .on_any_node(|base| {
                        let reply = request(base);
                        async move {
                            let reply = reply.await?;
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

/// `GET url` with the `calls` client: the answer, or why there is none.
async fn get_reply(
    calls: reqwest::Client,
    url: String,
    service: &str,
) -> Result<Reply, Unavailable> {
    let answer = async {
        let response = calls.get(&url).send().await?;
        let status = response.status().as_u16();
        let body = client::read_limited(response, MAX_ANSWER_BYTES).await?;
        Ok::<Reply, ClientError>(Reply { status, body })
    };
    answer.await.map_err(|err| Unavailable {
        service: service.into(),
        reason: err.to_string(),
    })
}

/// The portal: its pages, server functions and static files, and its live streams.
/// `teachers` decides who may change grades; `monitoring` is what the registry page links
/// to.
pub fn router(
    backend: Arc<PortalBackend>,
    teachers: crate::portal::teacher_login::TeacherLogins,
    monitoring: app::components::monitoring::Monitoring,
    options: LeptosOptions,
) -> Routes {
    let context: app::backend::Backend = backend.clone();
    let teachers: app::teacher::server_side::Teachers = Arc::new(teachers);
    let streams = Routes::new()
        .route("/portal/events/registry", get(registry_events))
        .route("/portal/events/logs", get(log_events))
        .route("/portal/events/grades", get(grade_events))
        .route("/students.csv", get(super::grade_book_csv::download))
        .with_state(backend);
    streams.merge(site::router(options, move || {
        provide_context(context.clone());
        provide_context(teachers.clone());
        provide_context(monitoring.clone());
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
) -> Response {
    let query = query.unwrap_or_default();
    let urls = backend
        .providers
        .all(LOG_SERVICE)
        .into_iter()
        .map(|base| format!("{base}/log?{query}"))
        .collect();
    backend.relay_every(urls, LOG_SERVICE).await
}

/// Every grading service instance's changes, merged (each instance tells of the changes
/// made through it).
async fn grade_events(State(backend): State<Arc<PortalBackend>>) -> Response {
    let urls = backend
        .providers
        .all(GRADING_SERVICE)
        .into_iter()
        .map(|base| format!("{base}/students"))
        .collect();
    backend.relay_every(urls, GRADING_SERVICE).await
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

/// Why the event stream of one instance of a service could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{service}")]
struct StreamError {
    /// The service, as the portal's 503 names it.
    service: String,
    #[source]
    cause: ClientError,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events `chunks` make, as the merged relay passes them on.
    async fn events_of(chunks: &[&str]) -> Vec<String> {
        let chunks: Vec<Result<Bytes, reqwest::Error>> = chunks
            .iter()
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk.as_bytes())))
            .collect();
        whole_events(futures::stream::iter(chunks).boxed())
            .map(|event| String::from_utf8(event.to_vec()).unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn events_are_passed_whole_and_a_sources_own_unavailable_is_dropped() {
        let events = events_of(&[
            "event: added\ndata: {\"StudentID\"",
            ":1}\n\nevent: unavailable\ndata: all down\n\nevent:unavail",
            "able\r\ndata: x\r\n\nevent: deleted\ndata: {\"StudentID\":2}\n\n",
            "data: unavailable\n\nevent: unavailable2\n\nevent: unavailable\rdata: y\n\n",
            "event: half",
        ])
        .await;
        assert_eq!(
            events,
            [
                "event: added\ndata: {\"StudentID\":1}\n\n",
                "event: deleted\ndata: {\"StudentID\":2}\n\n",
                "data: unavailable\n\n",
                "event: unavailable2\n\n",
            ]
        );
    }
}
