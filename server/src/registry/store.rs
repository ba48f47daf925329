//! The one narrow interface in front of the registry's state. The HTTP layer and the
//! heartbeat checker use only this trait, so a replicated backend can take the place of
//! the in-memory one ([`super::memory::MemoryStore`]) without touching them.
//!
//! A store also owns the consequences of each change: it tells the patch sender what each
//! dependent should now see, and it records every change in its event journal.

use std::time::Duration;

use axum::body::Bytes;
use futures::future::BoxFuture;
use wire::registry::{CheckResult, InstanceInfo};

use super::{
    journal::{EventId, Subscription},
    validate::ValidRegistration,
};
use crate::http::ApiError;

/// Why a change to the store was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No instance is registered at that URL.
    #[error("no instance is registered at {0}")]
    UnknownInstance(String),
    /// The state could not be changed now (a replicated store that cannot reach its
    /// quorum, say): nothing was changed, and the same call may succeed later.
    #[error("the registry cannot record changes now: {0}")]
    Unavailable(String),
}

/// An unknown instance is the client's to fix (404); an unavailable store is not (503).
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::UnknownInstance(_) => ApiError::not_found(err.to_string()),
            StoreError::Unavailable(_) => ApiError::unavailable(err.to_string()),
        }
    }
}

/// An answer and the revision of the state it was read at (the id of the last event the
/// store's journal holds then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtRevision<T> {
    pub revision: u64,
    pub value: T,
}

/// Whether a node can answer from its state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// It answers from what it last knew, `seconds` ago: its replicated store is out of
    /// reach (`reason`), and changes fail meanwhile.
    Stale {
        seconds: u64,
        reason: String,
    },
    /// It has nothing to answer from yet (its replicated store was never reached).
    Unavailable(String),
}

/// A change in progress: done when the store has made it whole (or failed to, changing
/// nothing).
pub type Change<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

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
/// registered, how each instance is doing, and the stream of changes. Each change is made
/// whole or not at all: an implementation also brings dependents' views and the event
/// journal up to date before its future completes. Changes are asynchronous and can fail
/// (a replicated store waits for its quorum); reads answer at once from what the node
/// holds.
pub trait Store: Send + Sync + 'static {
    /// Adds the instance at `reg.url`, or replaces its entry if it is already known.
    ///
    /// # Errors
    /// The store cannot record changes now.
    fn register(&self, reg: ValidRegistration) -> Change<'_, ()>;

    /// Removes the instance at `url`.
    ///
    /// # Errors
    /// No instance is registered at `url`, or the store cannot record changes now.
    fn deregister<'a>(&'a self, url: &'a str) -> Change<'a, ()>;

    /// Records a TTL renewal of the instance at `url` (a recovery, if it was critical).
    ///
    /// # Errors
    /// No instance is registered at `url` (it must register again), or the store cannot
    /// record changes now.
    fn renew<'a>(&'a self, url: &'a str) -> Change<'a, ()>;

    /// Every instance, sorted by service name, then URL.
    fn instances(&self) -> AtRevision<Vec<InstanceInfo>>;

    /// How many instances are registered, and whether one is at `url`.
    fn holds(&self, url: &str) -> (usize, bool);

    /// The passing instances of service `name`, sorted by URL, as the JSON answer of a
    /// lookup (without their check history). Lookups are the registry's hottest call, so
    /// an implementation should keep the answer until an instance of that service changes.
    fn passing_json(&self, name: &str) -> AtRevision<Bytes>;

    /// The instances with a heartbeat URL, for one round of checks.
    fn heartbeat_targets(&self) -> Vec<HeartbeatTarget>;

    /// Applies one heartbeat check's outcome and returns it as the wire shows it, or
    /// `None` if the target has left or registered again since.
    ///
    /// # Errors
    /// The store cannot record a change of status now.
    fn record_check<'a>(
        &'a self,
        target: &'a HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Change<'a, Option<CheckResult>>;

    /// Whether evictions are held because most instances failed at once.
    fn self_preservation(&self) -> bool;

    /// Starts or ends self-preservation.
    fn set_self_preservation(&self, active: bool);

    /// Publishes one round's check results as a single live event.
    ///
    /// # Errors
    /// The store cannot record them now.
    fn publish_heartbeats(&self, results: Vec<CheckResult>) -> Change<'_, ()>;

    /// Whether this node runs the heartbeat checks and expiries now (a replicated store's
    /// leader; always, for a store of one node).
    fn checks_here(&self) -> bool {
        true
    }

    /// The revision this node's state has applied: its latest change's, or, for a
    /// replicated store, the store's own (which moves for changes that make no event).
    fn applied_revision(&self) -> u64 {
        self.instances().revision
    }

    /// Whether this node can answer from its state now.
    fn readiness(&self) -> Readiness {
        Readiness::Ready
    }

    /// Marks TTL instances whose renewal is overdue critical, and drops instances that
    /// have been critical for longer than the deregistration delay.
    ///
    /// # Errors
    /// The store cannot record changes now.
    fn expire(&self) -> Change<'_, ()>;

    /// Gives out again the flapping instances that have passed for a whole flap window
    /// (each round; a cluster's leader also decides here which instances begin flapping).
    ///
    /// # Errors
    /// The store cannot record changes now.
    fn settle(&self) -> Change<'_, ()>;

    /// Follows the revision of the last change to the instances (a registration, a
    /// departure, a status change): the index of Consul-style blocking queries.
    fn catalog(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Opens an event stream: replay after `last_seen` if still retained, else a
    /// snapshot; then every new event.
    fn subscribe(&self, last_seen: Option<EventId>) -> BoxFuture<'_, Subscription>;
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn an_unknown_instance_is_a_404_and_an_unavailable_store_a_503() {
        let unknown = ApiError::from(StoreError::UnknownInstance("http://x".into()));
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.reason, "no instance is registered at http://x");
        let down = ApiError::from(StoreError::Unavailable("etcd cannot be reached".into()));
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            down.reason,
            "the registry cannot record changes now: etcd cannot be reached"
        );
    }
}
