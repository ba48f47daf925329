//! The in-memory [`Store`]: the registry's [`State`] in this process, behind one mutex.
//! It numbers its own changes and makes each at once, so every method is the state
//! machine's change or read under the lock.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::SystemTime,
};

use axum::body::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use wire::registry::{CheckResult, InstanceInfo, LeaveReason};

use super::{
    journal::{EventId, Subscription},
    patches::PatchSender,
    state::{Eviction, Expiry, Stamp, State},
    store::{AtRevision, Change, CheckOutcome, HeartbeatTarget, Store},
    validate::ValidRegistration,
};

/// The registry's state in this process's memory: the default store, and the one a
/// single registry node needs. Everything is lost when the process ends; registered
/// services notice and register again (see [`crate::runtime::instance`]).
pub struct MemoryStore {
    state: Mutex<State>,
    preserving: AtomicBool,
}

impl MemoryStore {
    pub fn new(patches: PatchSender, eviction: Eviction) -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State::new(patches, eviction)),
            preserving: AtomicBool::new(false),
        }
    }
}

/// A change already made, as the [`Store`] trait's future.
fn done<'a, T: Send + 'a>(value: T) -> Change<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn register(&self, reg: ValidRegistration) -> Change<'_, ()> {
        self.state
            .lock()
            .apply_registered(reg, SystemTime::now(), Stamp::Next);
        done(())
    }

    fn holds(&self, url: &str) -> (usize, bool) {
        self.state.lock().holds(url)
    }

    fn deregister<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        let removed = self
            .state
            .lock()
            .apply_removed(url, LeaveReason::Deregistered, Stamp::Next);
        Box::pin(std::future::ready(removed))
    }

    fn renew<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        let renewed = self
            .state
            .lock()
            .apply_renewal(url, SystemTime::now(), true, Stamp::Next);
        Box::pin(std::future::ready(renewed))
    }

    fn record_check<'a>(
        &'a self,
        target: &'a HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Change<'a, Option<CheckResult>> {
        let mut state = self.state.lock();
        let Some(decision) = state.decide_check(target, outcome) else {
            return done(None);
        };
        state.apply_check(target, &decision.result);
        if let Some(status) = decision.change {
            state.apply_status(&target.url, status, Stamp::Next);
        }
        done(Some(decision.result))
    }

    fn expire(&self) -> Change<'_, ()> {
        let mut state = self.state.lock();
        for expiry in state.decide_expiry() {
            match expiry {
                Expiry::Critical(url) => state.apply_overdue(&url, Stamp::Next),
                Expiry::Drop(url) => {
                    // decide_expiry named a registered instance, and the lock is held.
                    let _ = state.apply_removed(&url, LeaveReason::Expired, Stamp::Next);
                }
            }
        }
        done(())
    }

    fn instances(&self) -> AtRevision<Vec<InstanceInfo>> {
        self.state.lock().instances()
    }

    fn passing_json(&self, name: &str) -> AtRevision<Bytes> {
        self.state.lock().passing_json(name)
    }

    fn heartbeat_targets(&self) -> Vec<HeartbeatTarget> {
        self.state.lock().heartbeat_targets()
    }

    fn self_preservation(&self) -> bool {
        self.preserving.load(Ordering::SeqCst)
    }

    fn set_self_preservation(&self, active: bool) {
        self.preserving.store(active, Ordering::SeqCst);
    }

    fn publish_heartbeats(&self, results: Vec<CheckResult>) -> Change<'_, ()> {
        self.state.lock().publish_round(results, Stamp::Next);
        done(())
    }

    fn catalog(&self) -> tokio::sync::watch::Receiver<u64> {
        self.state.lock().catalog()
    }

    fn subscribe(&self, last_seen: Option<EventId>) -> BoxFuture<'_, Subscription> {
        Box::pin(std::future::ready(self.state.lock().subscribe(last_seen)))
    }
}
