//! Queries over the stored log: the filters `GET /log` takes, applied to the files newest
//! record first, and to the live stream.

use std::time::SystemTime;

use serde::Deserialize;
use wire::logs::LogRecord;

use super::{
    files::{LogFiles, lines_backwards},
    record,
};

/// The default and largest number of records one query returns.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// `GET /log` query parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogQuery {
    /// Only records of this service (exact name).
    pub service: Option<String>,
    /// Only records whose message contains this text (case-insensitive).
    pub text: Option<String>,
    /// Only records stored at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only records stored before this time (RFC 3339).
    pub until: Option<String>,
    /// How many records at most (default 100, at most 10,000).
    pub limit: Option<usize>,
}

/// A checked [`LogQuery`].
#[derive(Debug, Clone)]
pub struct Filter {
    service: Option<String>,
    text: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    pub limit: usize,
}

/// Why a log query is refused: what to fix, the reason of the 400 answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadQuery {
    #[error("limit must be between 1 and {MAX_LIMIT}")]
    Limit,
    #[error("{name} must be a time such as 2026-01-02T15:04:05Z")]
    Time {
        name: &'static str,
        #[source]
        source: humantime::TimestampError,
    },
    #[error("since must not be later than until")]
    SinceAfterUntil,
}

/// A refused query is the client's to fix.
impl From<BadQuery> for crate::http::ApiError {
    fn from(err: BadQuery) -> crate::http::ApiError {
        crate::http::ApiError::bad_request(crate::errors::report(&err))
    }
}

impl Filter {
    /// Checks `query`.
    ///
    /// # Errors
    /// Why the query is refused, for a 400.
    pub fn new(query: LogQuery) -> Result<Filter, BadQuery> {
        let time = |name: &'static str, value: Option<String>| {
            value
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    humantime::parse_rfc3339_weak(v.trim())
                        .map_err(|source| BadQuery::Time { name, source })
                })
                .transpose()
        };
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(BadQuery::Limit);
        }
        let since = time("since", query.since)?;
        let until = time("until", query.until)?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(BadQuery::SinceAfterUntil);
        }
        Ok(Filter {
            service: query.service.filter(|s| !s.is_empty()),
            text: query
                .text
                .filter(|t| !t.is_empty())
                .map(|t| t.to_lowercase()),
            since,
            until,
            limit,
        })
    }

    pub fn matches(&self, record: &LogRecord) -> bool {
        if self.service.as_ref().is_some_and(|s| *s != record.service) {
            return false;
        }
        if let Some(text) = &self.text
            && !record.message.to_lowercase().contains(text)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Ok(at) = humantime::parse_rfc3339(&record.time) else {
                return false;
            };
            if self.since.is_some_and(|since| at < since)
                || self.until.is_some_and(|until| at >= until)
            {
                return false;
            }
        }
        true
    }

    /// Whether every record older than `record` is too old for this filter.
    fn older_than_wanted(&self, record: &LogRecord) -> bool {
        match (self.since, humantime::parse_rfc3339(&record.time)) {
            (Some(since), Ok(at)) => at < since,
            _ => false,
        }
    }
}

/// The most bytes of JSON one answer to a query may hold: up to [`MAX_LIMIT`] records
/// of 64 KiB each would be hundreds of MB, asked for by anyone who may read.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The most queries searching the files at once: each may hold up to
/// [`MAX_ANSWER_BYTES`] of records. Others wait up to [`SEARCH_WAIT`], then get 503.
pub const MAX_SEARCHES: usize = 4;
/// How long a query waits for its turn to search.
pub const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a search found, as the JSON answer: serialized once, as the records are found,
/// so the byte budget is the answer's own size.
#[derive(Debug)]
pub struct Found {
    /// The newest matching records, newest first, as a JSON array.
    pub json: Vec<u8>,
    /// More matched, but the answer would have been over `max_bytes`.
    pub truncated: bool,
}

/// The newest records matching `filter`, newest first, across every file, as many as
/// fit in `max_bytes` of JSON. Lines that are not whole records (torn by a crash) are
/// skipped.
pub fn search(files: &LogFiles, filter: &Filter, max_bytes: usize) -> std::io::Result<Found> {
    let mut json = vec![b'['];
    let (mut count, mut truncated) = (0, false);
    for path in files.newest_first() {
        let mut done = false;
        lines_backwards(&path, |line| {
            let Some(record) = record::decode(line) else {
                return true;
            };
            if filter.older_than_wanted(&record) {
                done = true;
                return false;
            }
            if filter.matches(&record) {
                let start = json.len();
                if count > 0 {
                    json.push(b',');
                }
                serde_json::to_writer(&mut json, &record).expect("records serialise");
                if json.len() + 1 > max_bytes {
                    // With the closing bracket, over the budget: this one is left out.
                    json.truncate(start);
                    truncated = true;
                    done = true;
                    return false;
                }
                count += 1;
            }
            done = count >= filter.limit;
            !done
        })?;
        if done {
            break;
        }
    }
    json.push(b']');
    Ok(Found { json, truncated })
}
