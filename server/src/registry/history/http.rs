//! The history's HTTP calls:
//!
//! | call | answer |
//! | --- | --- |
//! | `GET /history?from=&to=&service=&instance=&limit=` | a page of events, oldest first, and where the next starts ([`wire::registry::HistoryPage`]) |
//! | `GET /history/availability?service=&from=&to=` | each instance's share of the time passing, and when it was down ([`wire::registry::Availability`]) |
//! | `GET /services?at=`, `GET /services/{name}?at=` | the listing, or the lookup, as it was then (see [`listing_at`]) |
//!
//! Each reads the files on a blocking thread, [`super::MAX_READS`] at once. A registry
//! that keeps no history answers 404 and says why; a bad parameter gets a 400 that says
//! what to write ([`super::query`]).

use std::sync::Arc;

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderName, HeaderValue},
    response::{IntoResponse, Response},
};
use wire::registry::{APPLIED_HEADER, Availability, HistoryPage, InstanceInfo, REVISION_HEADER};

use super::{History, Point, Then, micros_timestamp, query};
use crate::{http::ApiError, registry::Registry};

/// The registry's history, or the 404 that says it keeps none.
fn history_of(registry: &Registry) -> Result<Arc<History>, ApiError> {
    registry.history.clone().ok_or_else(|| {
        ApiError::not_found("this registry keeps no history: it was started with --history-dir off")
    })
}

/// Runs `read` on a blocking thread in its turn. The turn goes with the thread, not with
/// the request: a client that hangs up does not free it while its read goes on. A read
/// that finds the question too large ([`super::TooLarge`]) is a 400 with its reason.
pub(super) async fn read<T: Send + 'static>(
    history: Arc<History>,
    read: impl FnOnce(&History) -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let turn = history.turn().await;
    // Whatever the registry has applied is in the files before they are read (a cluster's
    // peer filling in asks for what this node applied a moment ago).
    history.commit().await;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        read(&history)
    })
    .await
    .map_err(|err| ApiError::unavailable(format!("the history's reader failed: {err}")))?
    .map_err(|err| {
        match err
            .get_ref()
            .and_then(|e| e.downcast_ref::<super::TooLarge>())
        {
            Some(too_large) => ApiError::bad_request(too_large.to_string()),
            None => ApiError::unavailable(format!("cannot read the registry's history: {err}")),
        }
    })
}

/// `GET /history`, with the revision this node had applied when it read the page
/// ([`APPLIED_HEADER`]: a cluster's peer filling in waits for it). Without it while the
/// history fails, and when a write or sync failed from just before to just after the
/// read: the page may lack changes up to that revision without a `gap` to say so yet,
/// and a peer filling in does not take it as whole.
pub async fn events(
    State(registry): State<Registry>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let filter = query::event_filter(query.as_deref())?;
    let history = history_of(&registry)?;
    let before = history.mark();
    // Read before the page: every change up to it is handed to the history by then, and
    // `read` writes what was handed over before it reads.
    let applied = registry.store.applied_revision();
    let page: HistoryPage = read(history.clone(), move |h| h.events(&filter)).await?;
    let mut response = Json(page).into_response();
    if before.is_some() && before == history.mark() {
        response.headers_mut().insert(
            HeaderName::from_static(APPLIED_HEADER),
            HeaderValue::from(applied),
        );
    }
    Ok(response)
}

/// `GET /history/availability`.
pub async fn availability(
    State(registry): State<Registry>,
    RawQuery(query): RawQuery,
) -> Result<Json<Availability>, ApiError> {
    let query = query::availability(query.as_deref())?;
    let history = history_of(&registry)?;
    let service = query.service.clone();
    // Nothing is known before the history begins: the stretch starts there.
    let from = history
        .begins()
        .map_or(query.from, |begins| query.from.max(begins));
    if from >= query.to {
        return Err(ApiError::not_found(format!(
            "the history begins at {}, after the end of the stretch asked for",
            micros_timestamp(from)
        )));
    }
    let to = query.to;
    let (instances, incomplete) =
        read(history, move |h| h.availability(&service, from, to)).await?;
    Ok(Json(Availability {
        service: query.service,
        from: micros_timestamp(from),
        to: micros_timestamp(to),
        instances,
        incomplete,
    }))
}

/// `GET /services?at=` (every instance) or `GET /services/{name}?at=` (the passing
/// instances of `name`), as they were at `at`: the same shape as now, with the revision of
/// the last change before it in `Registry-Revision`. Check results are not history, so
/// their fields are empty. A moment older than the history is a 404 that says when it
/// begins.
///
/// # Errors
/// No history, a moment it does not reach, or files it cannot read.
pub async fn listing_at(
    registry: &Registry,
    at: Point,
    name: Option<String>,
) -> Result<Response, ApiError> {
    let history = history_of(registry)?;
    let then = read(history, move |h| h.at(at)).await?;
    let (id, model) = match then {
        Then::Known { id, model } => (id, model),
        Then::Before {
            begins: Some(begins),
        } => {
            return Err(ApiError::not_found(format!(
                "the registry's history begins at {}: nothing older is kept \
                 (--history-retention)",
                micros_timestamp(begins)
            )));
        }
        Then::Before { begins: None } => {
            return Err(ApiError::not_found(
                "the registry's history holds nothing yet",
            ));
        }
    };
    let listing: Vec<InstanceInfo> = match name {
        Some(name) => model.lookup(&name),
        None => model.listing(),
    };
    Ok((
        [(
            HeaderName::from_static(REVISION_HEADER),
            HeaderValue::from(id.revision),
        )],
        Json(listing),
    )
        .into_response())
}
