//! What the services' APIs share about Server-Sent Events: a `GET` asks for a live stream
//! instead of a JSON answer by accepting `text/event-stream`, as a browser's
//! `EventSource` does.

use axum::http::{HeaderMap, header};

/// Whether the request accepts `text/event-stream`.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("text/event-stream"))
}
