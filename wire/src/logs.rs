//! The log service's wire types: a stored record as `GET /log` returns it and its live
//! stream sends it.

use serde::{Deserialize, Serialize};

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When the log service stored it (RFC 3339, UTC, milliseconds).
    #[serde(rename = "Time")]
    pub time: String,
    /// The sending service, from the original's `[Name] - ` prefix, or `unknown`.
    #[serde(rename = "Service")]
    pub service: String,
    #[serde(rename = "Message")]
    pub message: String,
}

/// Records from several log service instances (each list newest first, as `GET /log`
/// answers) as one list, newest first, at most `limit` long. Times are RFC 3339 in UTC
/// with milliseconds, all of one width, so their text sorts as time does; records of the
/// same millisecond keep the order of their lists.
pub fn newest_first(lists: Vec<Vec<LogRecord>>, limit: usize) -> Vec<LogRecord> {
    let mut merged: Vec<LogRecord> = lists.into_iter().flatten().collect();
    merged.sort_by(|a, b| b.time.cmp(&a.time));
    merged.truncate(limit);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time: &str, message: &str) -> LogRecord {
        LogRecord {
            time: format!("2026-11-30T06:{time}Z"),
            service: "S".into(),
            message: message.into(),
        }
    }

    #[test]
    fn lists_from_several_instances_merge_newest_first() {
        let first = vec![record("03:00.500", "a3"), record("01:00.000", "a1")];
        let second = vec![
            record("04:00.000", "b4"),
            record("02:00.000", "b2"),
            record("00:59.999", "b0"),
        ];
        let merged = newest_first(vec![first, second], 4);
        let messages: Vec<&str> = merged.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages, ["b4", "a3", "b2", "a1"]);
        assert!(newest_first(vec![], 10).is_empty());
    }
}
