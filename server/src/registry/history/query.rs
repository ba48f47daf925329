//! The parameters of the history's queries, read from the query string, and what is
//! wrong with bad ones: each a 400 whose reason says what to write instead.
//!
//! A moment (`from`, `to`, `at`) is an RFC 3339 time (`2026-12-05T03:00:00Z`, any offset,
//! any fraction of a second) or an event id (`1796439600000000.0`, as `Id` in `/history`
//! and the live stream's ids); a time names what the registry showed at it, an id what it
//! showed just after that event.

use std::time::SystemTime;

use super::{Point, micros};
use crate::{http::ApiError, registry::journal::EventId};

/// How many events a page of `GET /history` holds unless `limit` says fewer.
pub const DEFAULT_LIMIT: usize = 1000;
/// The most `limit` may ask for.
pub const MAX_LIMIT: usize = 10_000;
/// The stretch `GET /history/availability` covers unless `from` says otherwise.
pub const DEFAULT_AVAILABILITY: std::time::Duration = std::time::Duration::from_secs(3600);

/// What `GET /history` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pub from: Option<Point>,
    pub to: Option<Point>,
    pub service: Option<String>,
    pub instance: Option<String>,
    pub limit: usize,
}

/// What `GET /history/availability` asks for: a service, and a stretch in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityQuery {
    pub service: String,
    pub from: u64,
    pub to: u64,
}

/// Reads a moment: an RFC 3339 time or an event id, never one in the future.
///
/// # Errors
/// Neither, or later than now; the reason names the parameter.
pub fn point(name: &str, text: &str) -> Result<Point, ApiError> {
    let text = text.trim();
    let neither = |why: String| {
        ApiError::bad_request(format!(
            "{name}: {text:?} is neither an RFC 3339 time (such as 2026-12-05T03:00:00Z{why}) \
             nor an event id (such as 1796439600000000.0)"
        ))
    };
    let point = if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let time =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|err| neither(format!("; {err}")))?;
        let nanos = time.unix_timestamp_nanos();
        if nanos < 0 {
            return Err(ApiError::bad_request(format!(
                "{name}: {text:?} is before 1970, older than any registry's history"
            )));
        }
        Point::Time(u64::try_from(nanos / 1000).unwrap_or(u64::MAX))
    } else {
        Point::Id(
            text.parse::<EventId>()
                .map_err(|_| neither(String::new()))?,
        )
    };
    if let Point::Time(time) = point
        && time > micros(SystemTime::now())
    {
        return Err(ApiError::bad_request(format!(
            "{name}: {text} is in the future: the history holds only what has happened"
        )));
    }
    Ok(point)
}

/// The query string's parameters, each given at most once and each one of `known`.
fn parameters<'a>(
    query: Option<&str>,
    known: &'a [&'a str],
) -> Result<Vec<(&'a str, String)>, ApiError> {
    let mut found: Vec<(&str, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let Some(&name) = known.iter().find(|k| **k == name) else {
            return Err(ApiError::bad_request(format!(
                "unknown parameter {name:?}: this call takes {}",
                known.join(", ")
            )));
        };
        if found.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::bad_request(format!("{name} is given twice")));
        }
        found.push((name, value.into_owned()));
    }
    Ok(found)
}

/// A non-empty name or URL to match exactly.
fn exact(name: &str, value: String) -> Result<String, ApiError> {
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{name} is empty: leave it out, or give the exact name"
        )));
    }
    Ok(value)
}

/// `GET /history`'s parameters.
///
/// # Errors
/// An unknown or repeated parameter, a bad moment or limit, or `from` after `to`.
pub fn event_filter(query: Option<&str>) -> Result<EventFilter, ApiError> {
    let mut filter = EventFilter {
        from: None,
        to: None,
        service: None,
        instance: None,
        limit: DEFAULT_LIMIT,
    };
    for (name, value) in parameters(query, &["from", "to", "service", "instance", "limit"])? {
        match name {
            "from" => filter.from = Some(point(name, &value)?),
            "to" => filter.to = Some(point(name, &value)?),
            "service" => filter.service = Some(exact(name, value)?),
            "instance" => filter.instance = Some(exact(name, value)?),
            _ => {
                filter.limit = match value.trim().parse::<usize>() {
                    Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "limit: {value:?} is not a number from 1 to {MAX_LIMIT}"
                        )));
                    }
                }
            }
        }
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        let reversed = match (from, to) {
            (Point::Time(from), Point::Time(to)) => from > to,
            (Point::Id(from), Point::Id(to)) => from > to,
            // A time and an id do not compare until they are read.
            _ => false,
        };
        if reversed {
            return Err(ApiError::bad_request("from is after to: swap them"));
        }
    }
    Ok(filter)
}

/// `GET /history/availability`'s parameters: `service` (required), `from` (default an
/// hour before `to`) and `to` (default now), both times.
///
/// # Errors
/// A missing service, an unknown or repeated parameter, a bad time, or `from` not before
/// `to`.
pub fn availability(query: Option<&str>) -> Result<AvailabilityQuery, ApiError> {
    let mut service = None;
    let (mut from, mut to) = (None, None);
    for (name, value) in parameters(query, &["service", "from", "to"])? {
        let time = |value: &str| match point(name, value)? {
            Point::Time(time) => Ok(time),
            Point::Id(_) => Err(ApiError::bad_request(format!(
                "{name}: give a time (such as 2026-12-05T03:00:00Z) here, not an event id"
            ))),
        };
        match name {
            "service" => service = Some(exact(name, value)?),
            "from" => from = Some(time(&value)?),
            _ => to = Some(time(&value)?),
        }
    }
    let service = service.ok_or_else(|| {
        ApiError::bad_request("service is missing: ask for one, such as ?service=LogService")
    })?;
    let to = to.unwrap_or_else(|| micros(SystemTime::now()));
    let from = from.unwrap_or_else(|| {
        to.saturating_sub(u64::try_from(DEFAULT_AVAILABILITY.as_micros()).unwrap_or(0))
    });
    if from >= to {
        return Err(ApiError::bad_request("from must be before to"));
    }
    Ok(AvailabilityQuery { service, from, to })
}

/// `?at=` on `/services` and `/services/{name}`, the one parameter they read (any other
/// is left alone, as the original's were).
///
/// # Errors
/// `at` is given but is not a moment, or is given twice.
pub fn at(query: Option<&str>) -> Result<Option<Point>, ApiError> {
    let mut at = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name == "at" {
            if at.is_some() {
                return Err(ApiError::bad_request("at is given twice"));
            }
            at = Some(point("at", &value)?);
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.status, 400);
        err.reason
    }

    #[test]
    fn a_moment_is_a_time_with_any_offset_or_an_event_id() {
        assert_eq!(
            point("at", "2026-12-05T03:00:00Z").unwrap(),
            Point::Time(1_796_439_600_000_000)
        );
        assert_eq!(
            point("at", "2026-12-05T04:00:00.5+01:00").unwrap(),
            Point::Time(1_796_439_600_500_000)
        );
        assert_eq!(
            point("at", "1796439600000000.2").unwrap(),
            Point::Id("1796439600000000.2".parse().unwrap())
        );
        assert!(reason(point("from", "yesterday")).starts_with("from: \"yesterday\" is neither"));
        let bad_month = reason(point("at", "2026-13-05T03:00:00Z"));
        assert!(
            bad_month.contains("is neither an RFC 3339 time (such as"),
            "{bad_month}"
        );
        assert!(bad_month.contains("month"), "{bad_month}");
        assert!(reason(point("at", "1.2.3")).contains("is neither"));
        assert!(reason(point("at", "2999-01-01T00:00:00Z")).contains("in the future"));
        assert!(reason(point("at", "1969-12-31T23:59:59Z")).contains("before 1970"));
    }

    #[test]
    fn bad_parameters_are_refused_with_what_to_write() {
        assert_eq!(event_filter(None).unwrap().limit, DEFAULT_LIMIT);
        let filter = event_filter(Some("service=Log%20Service&limit=5&from=1.0&to=2")).unwrap();
        assert_eq!(filter.service.as_deref(), Some("Log Service"));
        assert_eq!(filter.limit, 5);
        assert!(reason(event_filter(Some("form=1"))).contains("unknown parameter \"form\""));
        assert!(reason(event_filter(Some("limit=0"))).contains("from 1 to 10000"));
        assert!(reason(event_filter(Some("limit=10001"))).contains("from 1 to 10000"));
        assert!(reason(event_filter(Some("limit=1&limit=2"))).contains("twice"));
        assert!(reason(event_filter(Some("service="))).contains("service is empty"));
        assert!(reason(event_filter(Some("from=5&to=4"))).contains("swap"));
        assert!(reason(availability(None)).contains("service is missing"));
        assert!(reason(availability(Some("service=S&from=1.0"))).contains("not an event id"));
        assert!(
            reason(availability(Some(
                "service=S&from=2026-12-05T03:00:00Z&to=2026-12-05T02:00:00Z"
            )))
            .contains("before to")
        );
        let query = availability(Some("service=S&to=2026-12-05T03:00:00Z")).unwrap();
        assert_eq!(query.to - query.from, 3_600_000_000);
        assert_eq!(at(Some("x=1")).unwrap(), None);
        assert!(reason(at(Some("at=1&at=2"))).contains("twice"));
    }
}
