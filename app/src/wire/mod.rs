//! The JSON that crosses the wire between services, shared by the server (which speaks
//! it) and the browser (which reads the registry's live events).
//!
//! Field names follow the original Go services exactly (`ServiceName`, `ServiceURL`, ...).
//! Like Go's `encoding/json`, decoding matches keys case-insensitively ([`go`]).

pub mod go;
pub mod grading;
pub mod logs;
pub mod registry;
