//! The registry's HTTP API, on `/services`:
//!
//! | call | answer |
//! | --- | --- |
//! | `POST /services`, JSON Registration | 200, empty (the original's call); 403 for the name `Registry` unless writes need the token; 503 past `--max-instances` |
//! | `DELETE /services`, the instance URL as text | 200; 404 if unknown (the original's call) |
//! | `PUT /services`, the instance URL as text | 200 (TTL renewal); 404 if unknown |
//! | `GET /services` | every instance as JSON (header `Self-Preservation: active` while evictions are held); with `Accept: text/event-stream`, live events |
//! | `GET /services/{name}` | the passing instances of one service |
//! | `GET /services?at=<time or id>`, `GET /services/{name}?at=…` | the same, as they were then (see [`super::history`]) |
//! | `GET /history?from=&to=&service=&instance=&limit=` | the changes the registry made, oldest first (see [`super::history::http`]) |
//! | `GET /history/availability?service=&from=&to=` | each instance's share of the time passing, and when it was down |
//! | `GET /prometheus/targets` | every instance as a target group of Prometheus' `http_sd_configs` (see [`super::prometheus`]) |
//! | `GET /v1/agent/self`, `/v1/catalog/services`, `/v1/catalog/service/{name}`, `/v1/health/service/{name}` | the registry as a Consul catalog (see [`super::consul`]) |
//! | `GET /cluster` | this node: its URL, store, leadership, revision and etcd members (see [`super::cluster`]) |
//! | `GET /cluster/heartbeats?after=<n>` | a cluster leader's latest heartbeat round once numbered above `n` (a long poll; see [`super::etcd::rounds`]) |
//!
//! Bodies are limited to [`MAX_BODY_BYTES`]; every refusal is a 4xx with a JSON reason.

use std::{convert::Infallible, sync::Arc};

use axum::{
    Json,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use wire::registry::{REGISTRY, REVISION_HEADER, Registration, STALE_HEADER};

use super::{
    Registry,
    journal::{Entry, EventId},
    store::{Readiness, Store},
    validate,
};
use crate::http::{RequestBody, error::ApiError, routes::Routes};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(registry: Registry) -> Routes {
    Routes::new()
        .route(
            "/services",
            get(list).post(register).delete(deregister).put(renew),
        )
        .route("/services/{name}", get(by_name))
        .route("/history", get(super::history::http::events))
        .route(
            "/history/availability",
            get(super::history::http::availability),
        )
        .route("/prometheus/targets", get(super::prometheus::targets))
        .route("/v1/agent/self", get(super::consul::agent_self))
        .route("/v1/catalog/services", get(super::consul::catalog_services))
        .route(
            "/v1/catalog/service/{name}",
            get(super::consul::catalog_service),
        )
        .route(
            "/v1/health/service/{name}",
            get(super::consul::health_service),
        )
        .route("/cluster", get(super::cluster::status))
        .route("/cluster/heartbeats", get(super::etcd::rounds::latest))
        .with_state(registry)
}

async fn register(
    State(registry): State<Registry>,
    RequestBody(body): RequestBody<MAX_BODY_BYTES>,
) -> Result<StatusCode, ApiError> {
    if body.trim_ascii().is_empty() {
        return Err(ApiError::bad_request(
            r#"empty body: send a JSON Registration such as {"ServiceName":"LogService","ServiceURL":"http://127.0.0.1:4000"}"#,
        ));
    }
    let registration: Registration = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid Registration JSON: {err}")))?;
    let valid = validate::registration(registration)?;
    if valid.name.eq_ignore_ascii_case(REGISTRY) && !registry.writes_need_token {
        // Clients send their token to every node listed as `Registry`: only a node of
        // this registry (listed through etcd) or a holder of the token may be there.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "only the registry's own nodes are listed as {REGISTRY:?}: they list \
                 themselves through etcd; registering under that name over HTTP needs the \
                 registry's --token"
            ),
        ));
    }
    let (held, known) = registry.store.holds(&valid.url);
    if !known && held >= registry.max_instances {
        return Err(ApiError::unavailable(format!(
            "the registry holds its most instances ({}, --max-instances); one must leave \
             before another can register",
            registry.max_instances
        )));
    }
    let (name, url) = (valid.name.clone(), valid.url.clone());
    registry.store.register(valid).await?;
    // Said once the store has it: a registration etcd refused is not "registered".
    tracing::info!(%name, %url, "registered");
    Ok(StatusCode::OK)
}

async fn deregister(
    State(registry): State<Registry>,
    RequestBody(body): RequestBody<MAX_BODY_BYTES>,
) -> Result<StatusCode, ApiError> {
    let url = instance_url(&body)?;
    registry.store.deregister(&url).await?;
    tracing::info!(%url, "deregistered");
    Ok(StatusCode::OK)
}

async fn renew(
    State(registry): State<Registry>,
    RequestBody(body): RequestBody<MAX_BODY_BYTES>,
) -> Result<StatusCode, ApiError> {
    let url = instance_url(&body)?;
    registry.store.renew(&url).await?;
    Ok(StatusCode::OK)
}

/// The instance URL that a `DELETE` or `PUT` body carries as plain text.
fn instance_url(body: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| {
            ApiError::bad_request("the body must be the instance's ServiceURL as UTF-8 text")
        })?
        .trim();
    if text.is_empty() {
        return Err(ApiError::bad_request(
            "empty body: send the instance's ServiceURL as plain text",
        ));
    }
    // Only an absolute http(s) URL can name a registered instance: anything else is a
    // malformed request (400), not an unknown instance (404).
    Ok(super::validate::instance_url(text)?)
}

async fn list(
    State(registry): State<Registry>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if crate::http::event_stream::wanted(&headers) {
        let last_seen = headers
            .get("last-event-id")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok());
        return Ok(Sse::new(events(registry, last_seen).await)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    if let Some(at) = super::history::query::at(query.as_deref())? {
        return super::history::http::listing_at(&registry, at, None).await;
    }
    let stale = staleness(&*registry.store)?;
    let preserving = if registry.store.self_preservation() {
        "active"
    } else {
        "inactive"
    };
    let listing = registry.store.instances();
    let mut response = (
        [
            (
                HeaderName::from_static("self-preservation"),
                HeaderValue::from_static(preserving),
            ),
            revision_header(listing.revision),
        ],
        Json(listing.value),
    )
        .into_response();
    response.headers_mut().extend(stale);
    Ok(response)
}

async fn by_name(
    State(registry): State<Registry>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    // Only a query string can ask for the past: the hot path reads nothing more.
    if query.is_some()
        && let Some(at) = super::history::query::at(query.as_deref())?
    {
        return super::history::http::listing_at(&registry, at, Some(name)).await;
    }
    let stale = staleness(&*registry.store)?;
    let lookup = registry.store.passing_json(&name);
    // Room for what hyper adds (length, date), so the map never grows on the way out.
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (name, value) = revision_header(lookup.revision);
    headers.insert(name, value);
    if let Some((name, value)) = stale {
        headers.insert(name, value);
    }
    Ok((headers, lookup.value).into_response())
}

/// `Registry-Revision: <revision>`: the state an answer reflects.
fn revision_header(revision: u64) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static(REVISION_HEADER), revision.into())
}

/// Whether a read may be answered: a 503 when the node has no state yet; else the
/// `Registry-Stale: <seconds>` header when its state may be behind (empty when current).
pub(super) fn staleness(store: &dyn Store) -> Result<Option<(HeaderName, HeaderValue)>, ApiError> {
    match store.readiness() {
        Readiness::Ready => Ok(None),
        Readiness::Stale { seconds, .. } => Ok(Some((
            HeaderName::from_static(STALE_HEADER),
            seconds.into(),
        ))),
        Readiness::Unavailable(reason) => Err(ApiError::unavailable(reason)),
    }
}

/// The live event stream: the backlog (snapshot or replay), then every new event. A
/// subscriber that falls too far behind resumes from the last event it was sent. It ends
/// when the registry shuts down.
async fn events(
    registry: Registry,
    last_seen: Option<EventId>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Feed {
        store: Arc<dyn Store>,
        backlog: std::vec::IntoIter<Arc<Entry>>,
        live: tokio::sync::broadcast::Receiver<Arc<Entry>>,
        last: Option<EventId>,
    }

    let subscription = registry.store.subscribe(last_seen).await;
    let feed = Feed {
        store: registry.store.clone(),
        backlog: subscription.backlog.into_iter(),
        live: subscription.live,
        last: last_seen,
    };
    futures::stream::unfold(feed, |mut feed| async move {
        loop {
            let entry = match feed.backlog.next() {
                Some(entry) => entry,
                None => match feed.live.recv().await {
                    // Not after what was sent: already sent (in the backlog, a replay).
                    Ok(entry)
                        if !entry.live_only && feed.last.is_some_and(|last| entry.id <= last) =>
                    {
                        continue;
                    }
                    Ok(entry) => entry,
                    Err(RecvError::Lagged(_)) => {
                        let subscription = feed.store.subscribe(feed.last).await;
                        feed.backlog = subscription.backlog.into_iter();
                        feed.live = subscription.live;
                        continue;
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            // A live-only event has no id: a client's Last-Event-ID stays the last one's.
            let event = Event::default().event(entry.name).data(&entry.json);
            let event = if entry.live_only {
                event
            } else {
                feed.last = Some(entry.id);
                event.id(entry.id.to_string())
            };
            return Some((Ok(event), feed));
        }
    })
    .take_until(registry.shutdown.clone().cancelled_owned())
}
