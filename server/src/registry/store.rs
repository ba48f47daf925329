//! The one narrow interface in front of the registry's state. The HTTP layer and the
//! heartbeat checker use only this trait, so a replicated backend can take the place of
//! the in-memory one ([`super::memory::MemoryStore`]) without touching them.
//!
//! A store also owns the consequences of each change: it tells the patch sender what each
//! dependent should now see, and it records every change in its event journal.

use std::time::Duration;

use app::wire::registry::{CheckResult, InstanceInfo};
use axum::body::Bytes;

use super::{journal::Subscription, validate::ValidRegistration};

/// No instance is registered at that URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no instance is registered at {0}")]
pub struct UnknownInstance(pub String);

/// An instance the heartbeat checker should GET.
#[derive(Debug, Clone)]
pub struct HeartbeatTarget {
    pub url: String,
    pub heartbeat_url: String,
    /// Which registration of `url` this is; a result for an older one is ignored.
    pub generation: u64,
}

/// The outcome of one heartbeat check.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    pub ok: bool,
    pub latency: Duration,
    pub error: Option<String>,
    /// The registry is preserving itself: count a failure, but evict no one for it.
    pub hold_eviction: bool,
}

/// The registry's state, as the HTTP API and the heartbeat checker see it: what is
/// registered, how each instance is doing, and the stream of changes. Each call is one
/// change made whole: an implementation also brings dependents' views and the event
/// journal up to date before it returns.
pub trait Store: Send + Sync + 'static {
    /// Adds the instance at `reg.url`, or replaces its entry if it is already known.
    fn register(&self, reg: ValidRegistration);

    /// Removes the instance at `url`.
    ///
    /// # Errors
    /// No instance is registered at `url`.
    fn deregister(&self, url: &str) -> Result<(), UnknownInstance>;

    /// Records a TTL renewal of the instance at `url` (a recovery, if it was critical).
    ///
    /// # Errors
    /// No instance is registered at `url`: it must register again.
    fn renew(&self, url: &str) -> Result<(), UnknownInstance>;

    /// Every instance, sorted by service name, then URL.
    fn instances(&self) -> Vec<InstanceInfo>;

    /// The passing instances of service `name`, sorted by URL, as the JSON answer of a
    /// lookup (without their check history). Lookups are the registry's hottest call, so
    /// an implementation should keep the answer until an instance of that service changes.
    fn passing_json(&self, name: &str) -> Bytes;

    /// The instances with a heartbeat URL, for one round of checks.
    fn heartbeat_targets(&self) -> Vec<HeartbeatTarget>;

    /// Applies one heartbeat check's outcome and returns it as the wire shows it, or
    /// `None` if the target has left or registered again since.
    fn record_check(&self, target: &HeartbeatTarget, outcome: CheckOutcome) -> Option<CheckResult>;

    /// Whether evictions are held because most instances failed at once.
    fn self_preservation(&self) -> bool;

    /// Starts or ends self-preservation.
    fn set_self_preservation(&self, active: bool);

    /// Publishes one round's check results as a single live event.
    fn publish_heartbeats(&self, results: Vec<CheckResult>);

    /// Marks TTL instances whose renewal is overdue critical, and drops instances that
    /// have been critical for longer than the deregistration delay.
    fn expire(&self);

    /// Opens an event stream: replay after `last_seen` if still retained, else a
    /// snapshot; then every new event.
    fn subscribe(&self, last_seen: Option<u64>) -> Subscription;
}
