//! What an operator reads off a running process.
//!
//! | module | owns |
//! | --- | --- |
//! | [`health`] | `GET /healthz`, and the checks each service adds to it |
//! | [`metrics`] | the process's metrics, served as Prometheus text on `/metrics` |
//! | [`telemetry`] | `tracing` set-up from `RUST_LOG`, with room for one more layer (the runtime's log shipper); the access log (`--access-log`) is written by [`crate::http::stack::access_log`] |

pub mod health;
pub mod metrics;
pub mod telemetry;
