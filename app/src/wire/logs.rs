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
