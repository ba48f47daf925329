//! The in-memory [`Store`]: the registry's [`State`] in this process, behind one mutex.
//! It numbers its own changes and makes each at once, so every method is the state
//! machine's change or read under the lock.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::SystemTime,
};

use axum::body::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use wire::registry::{CheckResult, InstanceInfo, LeaveReason};

use super::{
    history::History,
    journal::{EventId, Subscription},
    patches::PatchSender,
    state::{Cause, Eviction, Expiry, Stamp, State},
    store::{AtRevision, Change, CheckOutcome, HeartbeatTarget, Store, StoreError},
    validate::ValidRegistration,
};

/// The registry's state in this process's memory: the default store, and the one a
/// single registry node needs. Everything is lost when the process ends; registered
/// services notice and register again (see [`crate::runtime::instance`]). What happened
/// is kept in its history, if it has one.
pub struct MemoryStore {
    state: Mutex<State>,
    preserving: AtomicBool,
}

impl MemoryStore {
    /// A store recording its changes in `history`, if given.
    pub fn new(
        patches: PatchSender,
        eviction: Eviction,
        history: Option<std::sync::Arc<History>>,
    ) -> MemoryStore {
        let floor = history.as_ref().and_then(|h| h.last_id());
        let mut state = match floor {
            Some(last) => State::numbering_after(patches, eviction, last.revision),
            None => State::new(patches, eviction),
        };
        if let Some(history) = history {
            state.keep_history(history);
        }
        MemoryStore {
            state: Mutex::new(state),
            preserving: AtomicBool::new(false),
        }
    }
}

/// A change made, done once its history record is written (at once without a history):
/// the caller writes it, and any others waiting, outside the state's lock. A record that
/// could not be written is a 503: the change was made, but is not acknowledged (a
/// registration sent again replaces its entry).
fn recorded<'a>(recorded: Option<(Arc<History>, EventId)>) -> Change<'a, ()> {
    match recorded {
        Some((history, id)) => {
            Box::pin(async move { history.recorded(id).await.map_err(StoreError::Unavailable) })
        }
        None => done(()),
    }
}

/// `value`, once what the state handed to its history is written (a change of status,
/// an expiry: no one is told of these, but they are written as they are made).
fn written<'a, T: Send + 'a>(history: Option<Arc<History>>, value: T) -> Change<'a, T> {
    match history {
        Some(history) => Box::pin(async move {
            history.commit().await;
            Ok(value)
        }),
        None => done(value),
    }
}

/// A change already made, as the [`Store`] trait's future.
fn done<'a, T: Send + 'a>(value: T) -> Change<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn register(&self, reg: ValidRegistration) -> Change<'_, ()> {
        let mut state = self.state.lock();
        // No change is made while the history cannot record it (a full disk), and none is
        // acknowledged before its record is written: see `super::history`.
        if let Err(reason) = state.history_ready() {
            return Box::pin(std::future::ready(Err(StoreError::Unavailable(reason))));
        }
        state.apply_registered(reg, SystemTime::now(), Stamp::Next);
        let last = state.last_recorded();
        drop(state);
        recorded(last)
    }

    fn holds(&self, url: &str) -> (usize, bool) {
        self.state.lock().holds(url)
    }

    fn deregister<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        let mut state = self.state.lock();
        if let Err(reason) = state.history_ready() {
            return Box::pin(std::future::ready(Err(StoreError::Unavailable(reason))));
        }
        match state.apply_removed(url, LeaveReason::Deregistered, Stamp::Next) {
            Ok(()) => {
                let last = state.last_recorded();
                drop(state);
                recorded(last)
            }
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }

    fn renew<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        let mut state = self.state.lock();
        let renewed = state.apply_renewal(url, SystemTime::now(), true, Stamp::Next);
        // A recovery, if it was critical.
        let last = state.last_recorded();
        drop(state);
        match (renewed, last) {
            (Ok(()), last) => written(last.map(|(history, _)| history), ()),
            (Err(err), _) => Box::pin(std::future::ready(Err(err))),
        }
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
            let cause = Cause::Check(decision.result.error.as_deref());
            state.apply_status(&target.url, status, cause, Stamp::Next);
            let history = state.history();
            drop(state);
            return written(history, Some(decision.result));
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
        let history = state.last_recorded().map(|(history, _)| history);
        drop(state);
        written(history, ())
    }

    fn settle(&self) -> Change<'_, ()> {
        let mut state = self.state.lock();
        for url in state.decide_steady(std::time::Instant::now()) {
            state.apply_steady(&url, Stamp::Next);
        }
        let history = state.last_recorded().map(|(history, _)| history);
        drop(state);
        written(history, ())
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
