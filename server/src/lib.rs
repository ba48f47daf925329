//! The services of *distributed* as library modules, and what their binaries share.
//!
//! - [`portal`]: the teacher portal's server side (its backend and live streams).
//! - [`registry`]: the registry service (registration, discovery, patches, heartbeats).
//! - [`grading`]: the grading service (students and grades in SQLite).
//! - [`logs`]: the log service (durable central log, queries, live tail).
//! - [`runtime`]: the service runtime every service uses (register, providers, logs).
//! - [`site`]: the teacher portal's web site (Leptos pages and their static files).
//! - [`access`]: the shared-secret token (`--token`) that guards writes.
//! - [`error`]: the JSON error answer all HTTP APIs share.
//! - [`event_stream`]: how a request asks for a live event stream.
//! - [`health`]: `GET /healthz`, and the checks each service adds to it.
//! - [`metrics`]: the process's metrics, served as Prometheus text on `/metrics`.
//! - [`serve`]: binding an address and serving until stopped.
//! - [`request_limits`]: what every service refuses before a handler runs (huge headers,
//!   slow bodies), and the reason every refusal carries.
//! - [`shutdown`]: the Ctrl-C / SIGTERM signal every binary stops on.
//! - [`teacher_login`]: the teacher's password and login sessions, for the portal.
//! - [`telemetry`]: `tracing` set-up from `RUST_LOG`.

pub mod access;
pub mod error;
pub mod event_stream;
pub mod grading;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod portal;
pub mod registry;
pub mod request_limits;
pub mod runtime;
pub mod serve;
pub mod shutdown;
pub mod site;
pub mod teacher_login;
pub mod telemetry;
