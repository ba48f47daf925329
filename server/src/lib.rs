//! The services of *distributed* as library modules, and what their binaries share.
//!
//! The services:
//!
//! - [`registry`]: the registry service (registration, discovery, patches, heartbeats).
//! - [`logs`]: the log service (durable central log, queries, live tail).
//! - [`grading`]: the grading service (students and grades in SQLite).
//! - [`portal`]: the teacher portal's server side (its site, backend, live streams and
//!   teacher login).
//! - [`runtime`]: the service runtime every service uses (register, providers, logs).
//!
//! And the plumbing they share:
//!
//! - [`http`]: serving, request limits, the error answer, outgoing clients, the token,
//!   event streams and shutdown.
//! - [`ops`]: `/healthz`, `/metrics` and logging.
//! - [`errors`]: which error to use where, and how one is shown.
//!
//! Locks: every mutex is `parking_lot`'s, which is never poisoned. A panic while a lock
//! is held already stops that request or task. Refusing every later request would turn
//! one bug into an outage. Where a change cut off halfway would leave state that must not
//! be used, its owner keeps a flag of its own: see the log writer's `storing`. Where a
//! task holds two locks at once, it takes them in one order everywhere: an etcd node's
//! copy of the state before the revisions of its keys.

pub mod errors;
pub mod grading;
pub mod http;
pub mod logs;
pub mod ops;
pub mod portal;
pub mod registry;
pub mod runtime;
