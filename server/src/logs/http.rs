//! The log service's HTTP API, on `/log`:
//!
//! | call | answer |
//! | --- | --- |
//! | `POST /log`, one message as text (the original's call) | 200 once stored; empty: 400 |
//! | `POST /log`, `Content-Type: application/x-ndjson`, one JSON string per line | 200 once all are stored |
//! | `GET /log?service=&text=&since=&until=&limit=` | matching records as JSON, newest first, at most 16 MiB of them (header `Log-Truncated` when more match) |
//! | `GET /log` with `Accept: text/event-stream` | each new matching record, live |
//!
//! A message over 64 KiB gets 413, one that is not UTF-8 gets 400, each with a reason.

use std::{borrow::Cow, convert::Infallible};

use axum::{
    extract::{FromRequest, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
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
    writer::Message,
};
use crate::{
    http::{RequestBody, error::ApiError, routes::Routes},
    runtime::log_shipper::BATCH_CONTENT_TYPE,
};

/// The largest single message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The largest request body (a batch).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn router(service: LogService) -> Routes {
    Routes::new()
        .route("/log", get(read).post(write))
        .with_state(service)
}

async fn write(
    State(service): State<LogService>,
    request: axum::extract::Request,
) -> Result<StatusCode, ApiError> {
    // The request is taken whole so its headers are read in place, not copied.
    let batch = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(BATCH_CONTENT_TYPE));
    let RequestBody(body) = RequestBody::<MAX_BODY_BYTES>::from_request(request, &()).await?;
    let one;
    let many;
    let messages = if batch {
        many = parse_batch(&body)?;
        &many[..]
    } else {
        one = parse_message(&body)?;
        std::slice::from_ref(&one)
    };
    service.writer.write(messages).await.map_err(|err| {
        tracing::error!(%err, "writing the log failed");
        ApiError::unavailable(format!("the log could not be written: {err}"))
    })?;
    Ok(StatusCode::OK)
}

/// One message, as the original's `POST /log` carries it.
fn parse_message(body: &[u8]) -> Result<Message<'_>, ApiError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(too_large());
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the message must be UTF-8 text"))?;
    message(Cow::Borrowed(text), false)
        .ok_or_else(|| ApiError::bad_request("empty body: send the message as text"))
}

/// The batch form: one JSON string per line. A line without escapes is stored straight
/// from the body, without a copy.
fn parse_batch(body: &[u8]) -> Result<Vec<Message<'_>>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the batch must be UTF-8 text"))?;
    // Lines found with a vectorised search, as `str::lines` would cut them.
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    let mut messages = Vec::with_capacity(memchr::memchr_iter(b'\n', body).count() + 1);
    let mut start = 0;
    for (number, end) in ends.enumerate() {
        let line = &text[start..end];
        start = end + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if blank(line) {
            continue;
        }
        let (text, plain) = match plain_json_string(line) {
            Some(text) => (Cow::Borrowed(text), true),
            None => (
                Cow::Owned(serde_json::from_str::<String>(line).map_err(|err| {
                    ApiError::bad_request(format!(
                        "line {}: each line must be one JSON string ({err})",
                        number + 1
                    ))
                })?),
                false,
            ),
        };
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(too_large());
        }
        messages.push(message(text, plain).ok_or_else(|| {
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

/// The text of a JSON string that has no escapes (almost every line of a batch): the
/// bytes between its quotes. `None` for anything else, which serde then reads.
fn plain_json_string(line: &str) -> Option<&str> {
    let text = line.strip_prefix('"')?.strip_suffix('"')?;
    let special = text.bytes().fold(false, |special, byte| {
        special | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    });
    (!special).then_some(text)
}

/// Whether `text` is empty or only whitespace. Text that starts with a visible ASCII
/// character (almost every message) is told at its first byte, without a scan.
fn blank(text: &str) -> bool {
    match text.as_bytes().first() {
        Some(first) if first.is_ascii_graphic() => false,
        _ => text.trim().is_empty(),
    }
}

/// The stored form of a message: its source split off, one trailing newline dropped.
/// `None` if nothing but blanks is left. `plain` says that the text holds no control
/// character and no backslash.
///
/// It is inlined: when it was returned through memory, the message was written in pieces
/// and read back whole, a stall on every line of a batch; inlined, a 1,000-line batch takes
/// 7% less CPU.
#[inline(always)]
fn message(text: Cow<'_, str>, plain: bool) -> Option<Message<'_>> {
    fn parts(text: &str) -> Option<(&str, &str)> {
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        (!blank(text)).then(|| split_source(text))
    }
    match text {
        Cow::Borrowed(text) => {
            let (service, message) = parts(text)?;
            Some(Message {
                service: Cow::Borrowed(service),
                message: Cow::Borrowed(message),
                plain,
            })
        }
        Cow::Owned(text) => {
            let (service, message) = parts(&text)?;
            Some(Message {
                service: Cow::Owned(service.to_owned()),
                message: Cow::Owned(message.to_owned()),
                plain,
            })
        }
    }
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
    let filter = Filter::new(query)?;
    if crate::http::event_stream::wanted(&headers) {
        return Ok(Sse::new(live(service, filter))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    // Queries wait their turn, a while: each may hold 16 MiB of records.
    let waited =
        tokio::time::timeout(query::SEARCH_WAIT, service.searches.clone().acquire_owned()).await;
    let Ok(Ok(turn)) = waited else {
        return Err(ApiError::unavailable(format!(
            "{} queries are searching the log already; try again shortly",
            query::MAX_SEARCHES
        )));
    };
    let files = service.files.clone();
    let found = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        query::search(&files, &filter, query::MAX_ANSWER_BYTES)
    })
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
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        found.json,
    )
        .into_response();
    if found.truncated {
        response.headers_mut().insert(
            TRUNCATED_HEADER,
            HeaderValue::from_static(concat!(
                "more records match, but an answer holds at most 16 MiB: ",
                "ask again with until= set to the time of the oldest one sent"
            )),
        );
    }
    Ok(response)
}

/// Said on an answer to `GET /log` that stopped at [`query::MAX_ANSWER_BYTES`].
pub const TRUNCATED_HEADER: &str = "log-truncated";

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
    .take_until(service.shutdown.clone().cancelled_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast path reads a line exactly as serde does, or leaves it to serde.
        #[test]
        fn a_plain_json_string_reads_as_serde_reads_it(text in any::<String>(), raw in any::<String>()) {
            for line in [serde_json::to_string(&text).unwrap(), raw] {
                if let Some(plain) = plain_json_string(&line) {
                    let read = serde_json::from_str::<String>(&line).ok();
                    prop_assert_eq!(read.as_deref(), Some(plain));
                }
            }
        }
    }

    #[test]
    fn blank_is_only_whitespace_as_trim_finds_it() {
        for text in ["", " ", "\t\r\n", "\u{3000}", " \u{a0} "] {
            assert!(blank(text), "{text:?}");
        }
        for text in ["a", " a", "\u{3000}x", "é", "\u{200b}"] {
            assert_eq!(blank(text), text.trim().is_empty(), "{text:?}");
        }
    }

    #[test]
    fn batch_lines_are_cut_as_str_lines_cuts_them() {
        let body = "\"[A] - one\"\r\n\r\n  \n\"two\"\n\"three\"";
        let messages = parse_batch(body.as_bytes()).unwrap();
        let texts: Vec<&str> = messages.iter().map(|m| m.message.as_ref()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        // Line numbers count the blank lines too.
        let refused = parse_batch(b"\"ok\"\n\n\"\"\n").unwrap_err();
        assert!(
            format!("{refused:?}").contains("line 3: the message is empty"),
            "{refused:?}"
        );
        let refused = parse_batch(b"\"ok\"\r\nnot json\n").unwrap_err();
        assert!(
            format!("{refused:?}").contains("line 2: each line must be one JSON string"),
            "{refused:?}"
        );
    }

    #[test]
    fn a_batch_line_with_escapes_is_still_read() {
        let body = "\"[A] - plain\"\n\"[B] - tab\\there \\u00e9\"\n";
        let messages = parse_batch(body.as_bytes()).unwrap();
        assert_eq!(messages[0].service, "A");
        assert!(matches!(messages[0].message, Cow::Borrowed("plain")));
        assert_eq!(messages[1].service, "B");
        assert_eq!(messages[1].message, "tab\there é");
    }
}
