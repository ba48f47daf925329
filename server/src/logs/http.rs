//! The log service's HTTP API, on `/log`:
//!
//! | call | answer |
//! | --- | --- |
//! | `POST /log`, one message as text (the original's call) | 200 once stored; empty: 400 |
//! | `POST /log`, `Content-Type: application/x-ndjson`, one JSON string per line | 200 once all are stored |
//! | `GET /log?service=&text=&since=&until=&limit=` | matching records as JSON, newest first |
//! | `GET /log` with `Accept: text/event-stream` | each new matching record, live |
//!
//! A message over 64 KiB gets 413, one that is not UTF-8 gets 400, each with a reason.

use std::convert::Infallible;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::{
    LogService,
    query::{self, Filter, LogQuery},
    record::split_source,
    writer::Incoming,
};
use crate::{
    http::{
        RequestBody,
        error::{ApiError, method_not_allowed},
    },
    runtime::log_shipper::BATCH_CONTENT_TYPE,
};

/// The largest single message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The largest request body (a batch).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn router(service: LogService) -> Router {
    Router::new()
        .route(
            "/log",
            get(read)
                .post(write)
                .fallback(|| async { method_not_allowed("GET, POST") }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

async fn write(
    State(service): State<LogService>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<StatusCode, ApiError> {
    let batch = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(BATCH_CONTENT_TYPE));
    let messages = if batch {
        parse_batch(&body)?
    } else {
        vec![parse_message(&body)?]
    };
    service.writer.write(messages).await.map_err(|err| {
        tracing::error!(%err, "writing the log failed");
        ApiError::unavailable(format!("the log could not be written: {err}"))
    })?;
    Ok(StatusCode::OK)
}

/// One message, as the original's `POST /log` carries it.
fn parse_message(body: &[u8]) -> Result<Incoming, ApiError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(too_large());
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the message must be UTF-8 text"))?;
    incoming(text).ok_or_else(|| ApiError::bad_request("empty body: send the message as text"))
}

/// The batch form: one JSON string a line.
fn parse_batch(body: &[u8]) -> Result<Vec<Incoming>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the batch must be UTF-8 text"))?;
    let mut messages = Vec::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
    {
        let message: String = serde_json::from_str(line).map_err(|err| {
            ApiError::bad_request(format!(
                "line {}: each line must be one JSON string ({err})",
                number + 1
            ))
        })?;
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(too_large());
        }
        messages.push(incoming(&message).ok_or_else(|| {
            ApiError::bad_request(format!("line {}: the message is empty", number + 1))
        })?);
    }
    if messages.is_empty() {
        return Err(ApiError::bad_request(
            "empty batch: send one JSON string a line",
        ));
    }
    Ok(messages)
}

/// The stored form of a message: its source split off, one trailing newline dropped.
fn incoming(text: &str) -> Option<Incoming> {
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text);
    if text.trim().is_empty() {
        return None;
    }
    let (service, message) = split_source(text);
    Some(Incoming {
        service: service.to_owned(),
        message: message.to_owned(),
    })
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("a message is at most {} KiB", MAX_MESSAGE_BYTES / 1024),
    )
}

async fn read(
    State(service): State<LogService>,
    headers: HeaderMap,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let filter = Filter::new(query).map_err(ApiError::bad_request)?;
    if crate::http::event_stream::wanted(&headers) {
        return Ok(Sse::new(live(service, filter))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let files = service.files.clone();
    let records = tokio::task::spawn_blocking(move || query::search(&files, &filter))
        .await
        .map_err(|err| {
            // A panic in the search: its cause is for the log, not the client.
            tracing::error!(%err, "searching the log failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "searching the log failed; see the log service's own log",
            )
        })?
        .map_err(|err| ApiError::unavailable(format!("the log could not be read: {err}")))?;
    Ok(Json(records).into_response())
}

/// Every new record that matches, as `record` events; a subscriber that falls behind is
/// told how many it missed (`missed` event). Ends when the service shuts down.
fn live(service: LogService, filter: Filter) -> impl Stream<Item = Result<Event, Infallible>> {
    let records = service.writer.subscribe();
    futures::stream::unfold((records, filter), |(mut records, filter)| async move {
        loop {
            let event = match records.recv().await {
                Ok(record) if filter.matches(&record) => Event::default()
                    .event("record")
                    .data(serde_json::to_string(&*record).expect("records serialise")),
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => Event::default()
                    .event("missed")
                    .data(format!(r#"{{"Missed":{missed}}}"#)),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), (records, filter)));
        }
    })
    .take_until(service.shutdown.cancelled_owned())
}
