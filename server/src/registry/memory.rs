//! The in-memory [`Store`]: the registry's instances, indexed by service name and by the
//! services they require, behind one mutex. Every change also updates, under that same
//! lock, what each dependent should see ([`PatchSender`]) and the event journal, so the
//! three never disagree about the order of changes.
//!
//! An instance is `passing` from registration until `heartbeat_failures` consecutive
//! checks fail (or its TTL runs out without a renewal); then it is `critical`: withheld
//! from dependents, still checked, and back to `passing` on its next good check. After
//! `deregister_after` as critical it is dropped.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use axum::body::Bytes;
use futures::future::BoxFuture;
use wire::registry::{CheckResult, InstanceInfo, LeaveReason, PatchEntry, RegistryEvent, Status};

use super::{
    journal::{EventId, Journal, Subscription},
    patches::PatchSender,
    store::{AtRevision, Change, CheckOutcome, HeartbeatTarget, Store, StoreError},
    validate::ValidRegistration,
};

/// How many check results each instance keeps for its listing.
pub const RECENT_CHECKS: usize = 30;

/// When instances go critical and when they are dropped.
#[derive(Debug, Clone, Copy)]
pub struct Eviction {
    /// Consecutive failed checks that make an instance critical.
    pub failures: u32,
    /// How long an instance may stay critical before it is dropped.
    pub deregister_after: Duration,
}

/// The registry's state in this process's memory: the default store, and the one a
/// single registry node needs. Everything is lost when the process ends; registered
/// services notice and register again (see [`crate::runtime::instance`]).
pub struct MemoryStore {
    state: Mutex<State>,
    preserving: std::sync::atomic::AtomicBool,
    patches: PatchSender,
    eviction: Eviction,
}

#[derive(Default)]
struct State {
    /// Every instance, by its URL.
    instances: BTreeMap<String, Entry>,
    /// Service name → URLs of its instances (any status).
    by_name: HashMap<String, BTreeSet<String>>,
    /// Service name → URLs of the instances that require it and take patches.
    dependents: HashMap<String, BTreeSet<String>>,
    journal: Journal,
    generations: u64,
    /// Service name → its lookup answer, until an instance of it changes.
    lookups: HashMap<String, Bytes>,
    /// A replica is loading a whole state: the events that makes are live only (they
    /// are not the history, whose ids other nodes gave to the real changes).
    loading: bool,
}

struct Entry {
    reg: ValidRegistration,
    generation: u64,
    status: Status,
    registered_at: SystemTime,
    last_check_at: Option<SystemTime>,
    last_latency: Option<Duration>,
    failures: u32,
    critical_since: Option<Instant>,
    renewed_at: Instant,
    recent: VecDeque<CheckResult>,
}

impl Entry {
    fn info(&self) -> InstanceInfo {
        InstanceInfo {
            registration: self.reg.to_wire(),
            status: self.status,
            registered_at: timestamp(self.registered_at),
            last_check_at: self.last_check_at.map(timestamp),
            last_latency_ms: self.last_latency.map(millis),
            consecutive_failures: self.failures,
            recent_checks: self.recent.iter().cloned().collect(),
        }
    }

    fn patch_entry(&self) -> PatchEntry {
        PatchEntry {
            name: self.reg.name.clone(),
            url: self.reg.url.clone(),
        }
    }

    fn record(&mut self, result: CheckResult, now: SystemTime) {
        self.last_check_at = Some(now);
        if self.recent.len() == RECENT_CHECKS {
            self.recent.pop_front();
        }
        self.recent.push_back(result);
    }
}

/// RFC 3339 in UTC with milliseconds, as every timestamp on the wire.
pub fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

impl MemoryStore {
    pub fn new(patches: PatchSender, eviction: Eviction) -> MemoryStore {
        MemoryStore {
            state: Mutex::default(),
            preserving: Default::default(),
            patches,
            eviction,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than stopping the registry would, so carry on.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Journals the event `make` builds, at the replicated revision `at` if given.
    fn push(&mut self, at: Option<u64>, make: impl FnOnce(u64) -> RegistryEvent) {
        match at {
            _ if self.loading => self.journal.push_live(make),
            Some(revision) => self.journal.push_at(revision, make),
            None => self.journal.push(make),
        }
    }

    /// Sets the status of the instance at `url`, telling its dependents and the journal;
    /// nothing if it is unknown or already so.
    fn set_status(&mut self, url: &str, status: Status, patches: &PatchSender, at: Option<u64>) {
        let Some(entry) = self.instances.get_mut(url) else {
            return;
        };
        if entry.status == status {
            return;
        }
        entry.status = status;
        entry.critical_since = (status == Status::Critical).then(Instant::now);
        let patch_entry = entry.patch_entry();
        self.lookups.remove(&patch_entry.name);
        announce(
            &self.dependents,
            patches,
            &patch_entry,
            status == Status::Passing,
        );
        self.push(at, |revision| RegistryEvent::StatusChanged {
            revision,
            url: patch_entry.url,
            name: patch_entry.name,
            status,
        });
    }

    /// Records one check's `result` on its instance (failures, latency, the strip of recent
    /// checks), if it is registered; no event.
    fn record_result(&mut self, result: &CheckResult, patches: &PatchSender) {
        let Some(entry) = self.instances.get_mut(&result.url) else {
            return;
        };
        // The check's own time, so every replica shows the same.
        let checked = humantime::parse_rfc3339(&result.at).unwrap_or_else(|_| SystemTime::now());
        self.lookups.remove(&entry.reg.name);
        entry.last_latency = result
            .latency_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0));
        if result.ok {
            entry.failures = 0;
            patches.nudge(&result.url);
        } else {
            entry.failures = entry.failures.saturating_add(1);
        }
        entry.record(result.clone(), checked);
    }

    /// Forgets the cached lookup of `name`: one of its instances changed.
    fn changed(&mut self, name: &str) {
        self.lookups.remove(name);
    }

    fn index(&mut self, reg: &ValidRegistration) {
        self.by_name
            .entry(reg.name.clone())
            .or_default()
            .insert(reg.url.clone());
        if reg.update_url.is_some() {
            for required in &reg.required {
                self.dependents
                    .entry(required.clone())
                    .or_default()
                    .insert(reg.url.clone());
            }
        }
    }

    fn unindex(&mut self, reg: &ValidRegistration) {
        remove_from(&mut self.by_name, &reg.name, &reg.url);
        for required in &reg.required {
            remove_from(&mut self.dependents, required, &reg.url);
        }
    }

    /// The passing instances of `reg`'s required services: what it should see.
    fn view_of(&self, reg: &ValidRegistration) -> BTreeSet<PatchEntry> {
        let mut view = BTreeSet::new();
        for required in &reg.required {
            for url in self.by_name.get(required).into_iter().flatten() {
                if let Some(entry) = self.instances.get(url)
                    && entry.status == Status::Passing
                {
                    view.insert(entry.patch_entry());
                }
            }
        }
        view
    }

    fn sorted_infos(&self) -> Vec<InstanceInfo> {
        let mut infos: Vec<InstanceInfo> = self.instances.values().map(Entry::info).collect();
        infos.sort_by(|a, b| {
            (&a.registration.service_name, &a.registration.service_url)
                .cmp(&(&b.registration.service_name, &b.registration.service_url))
        });
        infos
    }
}

fn remove_from(index: &mut HashMap<String, BTreeSet<String>>, key: &str, url: &str) {
    if let Some(urls) = index.get_mut(key) {
        urls.remove(url);
        if urls.is_empty() {
            index.remove(key);
        }
    }
}

/// Tells every dependent of `entry.name` that it joined (`joined`) or left their view.
fn announce(
    dependents: &HashMap<String, BTreeSet<String>>,
    patches: &PatchSender,
    entry: &PatchEntry,
    joined: bool,
) {
    for dependent in dependents.get(&entry.name).into_iter().flatten() {
        if joined {
            patches.add(dependent, entry);
        } else {
            patches.remove(dependent, entry);
        }
    }
}

/// What the leader of a replicated registry decides after a heartbeat check, to write
/// before it takes effect (see [`MemoryStore::decide_check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckDecision {
    pub result: CheckResult,
    /// The status the instance should change to, if any.
    pub change: Option<Status>,
}

/// What overdue instances should become (see [`MemoryStore::decide_expiry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// A TTL instance whose renewal is overdue: critical.
    Critical(String),
    /// Critical for longer than the deregistration delay: dropped.
    Drop(String),
}

/// The changes, each made at once under the lock. `at` is the revision of a replicated
/// change being applied (several may share one), or `None` for the in-memory store's own
/// next revision.
impl MemoryStore {
    /// A store that holds a replica of a replicated registry's state: its events take the
    /// replicated revisions, starting after `revision`, and its changes are applied as the
    /// replicated store decided them ([`MemoryStore::apply_registered`] and the others).
    pub fn replica(patches: PatchSender, eviction: Eviction, revision: u64) -> MemoryStore {
        let store = MemoryStore::new(patches, eviction);
        store.lock().journal = Journal::starting_at(revision);
        store
    }

    /// Adds (or replaces) the instance at `reg.url`, registered at `registered_at`.
    pub fn apply_registered(
        &self,
        reg: ValidRegistration,
        registered_at: SystemTime,
        at: Option<u64>,
    ) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Instant::now();
        state.generations += 1;

        state.changed(&reg.name);
        let was_listed = match state.instances.remove(&reg.url) {
            Some(previous) => {
                state.unindex(&previous.reg);
                state.changed(&previous.reg.name);
                let listed = previous.status == Status::Passing;
                if listed && previous.reg.name != reg.name {
                    announce(
                        &state.dependents,
                        &self.patches,
                        &previous.patch_entry(),
                        false,
                    );
                }
                listed && previous.reg.name == reg.name
            }
            None => false,
        };

        let entry = Entry {
            generation: state.generations,
            status: Status::Passing,
            registered_at,
            last_check_at: None,
            last_latency: None,
            failures: 0,
            critical_since: None,
            renewed_at: now,
            recent: VecDeque::new(),
            reg,
        };
        state.index(&entry.reg);
        if !was_listed {
            announce(&state.dependents, &self.patches, &entry.patch_entry(), true);
        }
        let info = entry.info();
        let url = entry.reg.url.clone();
        let update_url = entry.reg.update_url.clone();
        let view = update_url.as_ref().map(|_| state.view_of(&entry.reg));
        state.instances.insert(url.clone(), entry);
        match (update_url, view) {
            (Some(update_url), Some(view)) => self.patches.reset(&url, &update_url, view),
            _ => self.patches.forget(&url),
        }
        state.push(at, |revision| RegistryEvent::Registered {
            revision,
            instance: info,
        });
    }

    /// Removes the instance at `url`, which left for `reason`.
    ///
    /// # Errors
    /// No instance is registered at `url`.
    pub fn apply_removed(
        &self,
        url: &str,
        reason: LeaveReason,
        at: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let entry = state
            .instances
            .remove(url)
            .ok_or_else(|| StoreError::UnknownInstance(url.to_owned()))?;
        state.unindex(&entry.reg);
        state.changed(&entry.reg.name);
        if entry.status == Status::Passing {
            announce(
                &state.dependents,
                &self.patches,
                &entry.patch_entry(),
                false,
            );
        }
        self.patches.forget(url);
        if reason == LeaveReason::Expired {
            tracing::info!(%url, name = %entry.reg.name, "dropped after staying critical");
        }
        state.push(at, |revision| RegistryEvent::Deregistered {
            revision,
            url: entry.reg.url,
            name: entry.reg.name,
            reason,
        });
        Ok(())
    }

    /// Records a TTL renewal of the instance at `url`, made at `renewed`: a passing check,
    /// and a recovery unless `recover` is false (a replica, whose recovery comes as its own
    /// change).
    ///
    /// # Errors
    /// No instance is registered at `url`.
    pub fn apply_renewal(
        &self,
        url: &str,
        renewed: SystemTime,
        recover: bool,
        at: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let entry = state
            .instances
            .get_mut(url)
            .ok_or_else(|| StoreError::UnknownInstance(url.to_owned()))?;
        state.lookups.remove(&entry.reg.name);
        let result = CheckResult {
            url: url.to_owned(),
            at: timestamp(renewed),
            ok: true,
            latency_ms: None,
            error: None,
        };
        entry.renewed_at = Instant::now();
        entry.failures = 0;
        entry.record(result.clone(), renewed);
        if recover && entry.status == Status::Critical {
            state.set_status(url, Status::Passing, &self.patches, at);
        }
        self.patches.nudge(url);
        state.push(at, |revision| RegistryEvent::Heartbeats {
            revision,
            results: vec![result],
        });
        Ok(())
    }

    /// An event stream from `last_seen`: what followed it, if the journal still holds
    /// that, else a snapshot; then every new event.
    pub fn subscribe_now(&self, last_seen: Option<EventId>) -> Subscription {
        let state = self.lock();
        state
            .journal
            .subscribe(last_seen, |revision| RegistryEvent::Snapshot {
                revision,
                instances: state.sorted_infos(),
            })
    }

    /// A replica starts (`true`) or ends loading a whole state: the events that makes are
    /// live only, without ids (see [`State::push`]).
    pub fn loading(&self, loading: bool) {
        self.lock().loading = loading;
    }

    /// The events up to `revision` were made by loading a state: none is replayed.
    pub fn history_begins_at(&self, revision: u64) {
        self.lock().journal.begin_at(revision);
    }

    /// Whether a subscriber that last saw `seen` would be replayed what followed.
    pub fn replays(&self, seen: EventId) -> bool {
        self.lock().journal.replays(seen)
    }

    /// The live feed from now on, and the id of the event it follows.
    pub fn live(
        &self,
    ) -> (
        EventId,
        tokio::sync::broadcast::Receiver<std::sync::Arc<super::journal::Entry>>,
    ) {
        self.lock().journal.live()
    }

    /// When the instance at `url` registered, if it is registered.
    pub fn registered_at(&self, url: &str) -> Option<SystemTime> {
        self.lock()
            .instances
            .get(url)
            .map(|entry| entry.registered_at)
    }

    /// The status of the instance at `url`, if it is registered.
    pub fn status(&self, url: &str) -> Option<Status> {
        self.lock().instances.get(url).map(|entry| entry.status)
    }

    /// The URLs of every registered instance.
    pub fn urls(&self) -> Vec<String> {
        self.lock().instances.keys().cloned().collect()
    }

    /// Sets the status of the instance at `url`, if it is registered and not already so.
    pub fn apply_status(&self, url: &str, status: Status, at: Option<u64>) {
        self.lock().set_status(url, status, &self.patches, at);
    }

    /// Records a round of check results (not their consequences, which come as status
    /// changes) and publishes them as one event at revision `at`.
    pub fn apply_heartbeats(&self, results: Vec<CheckResult>, at: Option<u64>) {
        if results.is_empty() {
            return;
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        for result in &results {
            state.record_result(result, &self.patches);
        }
        state.push(at, |revision| RegistryEvent::Heartbeats {
            revision,
            results,
        });
    }

    /// Publishes a cluster's heartbeat round as one live-only event (see
    /// [`super::journal`]), recording its results first unless `recorded` (the leader
    /// recorded each as it came, [`MemoryStore::apply_check`]).
    pub fn apply_round(&self, results: Vec<CheckResult>, recorded: bool) {
        if results.is_empty() {
            return;
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        if !recorded {
            for result in &results {
                state.record_result(result, &self.patches);
            }
        }
        state
            .journal
            .push_live(|revision| RegistryEvent::Heartbeats { revision, results });
    }

    /// Records a check's `result` on `target`, if it is still that registration, without
    /// an event or a status change: a cluster leader's own check, counted at once (its
    /// consequence, a status change, is written to etcd and comes back by the watch).
    pub fn apply_check(&self, target: &HeartbeatTarget, result: &CheckResult) {
        let mut state = self.lock();
        if state
            .instances
            .get(&target.url)
            .is_some_and(|entry| entry.generation == target.generation)
        {
            state.record_result(result, &self.patches);
        }
    }

    /// What a check's `outcome` means for `target`, without changing anything: its result
    /// and the status it should change to. `None` if the target has left or registered
    /// again since.
    pub fn decide_check(
        &self,
        target: &HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Option<CheckDecision> {
        let state = self.lock();
        let entry = state
            .instances
            .get(&target.url)
            .filter(|entry| entry.generation == target.generation)?;
        let result = CheckResult {
            url: target.url.clone(),
            at: timestamp(SystemTime::now()),
            ok: outcome.ok,
            latency_ms: Some(millis(outcome.latency)),
            error: outcome.error,
        };
        let change = if outcome.ok {
            (entry.status == Status::Critical).then_some(Status::Passing)
        } else {
            (entry.status == Status::Passing
                && entry.failures.saturating_add(1) >= self.eviction.failures
                && !outcome.hold_eviction)
                .then_some(Status::Critical)
        };
        Some(CheckDecision { result, change })
    }

    /// The TTL instances whose renewal is overdue and the instances critical for too long.
    pub fn decide_expiry(&self) -> Vec<Expiry> {
        let state = self.lock();
        let now = Instant::now();
        let mut expiries = Vec::new();
        for entry in state.instances.values() {
            let url = || entry.reg.url.clone();
            if entry
                .critical_since
                .is_some_and(|since| now.duration_since(since) > self.eviction.deregister_after)
            {
                expiries.push(Expiry::Drop(url()));
            } else if let Some(ttl) = entry.reg.ttl
                && entry.status == Status::Passing
                && now.duration_since(entry.renewed_at) > ttl
            {
                expiries.push(Expiry::Critical(url()));
            }
        }
        expiries
    }

    fn record_check_now(
        &self,
        target: &HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Option<CheckResult> {
        let decision = self.decide_check(target, outcome)?;
        let mut guard = self.lock();
        let state = &mut *guard;
        state
            .instances
            .get(&target.url)
            .filter(|entry| entry.generation == target.generation)?;
        state.record_result(&decision.result, &self.patches);
        if let Some(status) = decision.change {
            state.set_status(&target.url, status, &self.patches, None);
        }
        Some(decision.result)
    }

    fn expire_now(&self) {
        for expiry in self.decide_expiry() {
            match expiry {
                Expiry::Critical(url) => {
                    let mut state = self.lock();
                    if let Some(entry) = state.instances.get_mut(&url) {
                        entry.failures = entry.failures.saturating_add(1);
                    }
                    state.set_status(&url, Status::Critical, &self.patches, None);
                }
                Expiry::Drop(url) => {
                    // Gone already if it deregistered meanwhile: nothing to drop.
                    let _ = self.apply_removed(&url, LeaveReason::Expired, None);
                }
            }
        }
    }
}

impl Store for MemoryStore {
    fn register(&self, reg: ValidRegistration) -> Change<'_, ()> {
        self.apply_registered(reg, SystemTime::now(), None);
        Box::pin(std::future::ready(Ok(())))
    }

    fn holds(&self, url: &str) -> (usize, bool) {
        let state = self.lock();
        (state.instances.len(), state.instances.contains_key(url))
    }

    fn deregister<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        Box::pin(std::future::ready(self.apply_removed(
            url,
            LeaveReason::Deregistered,
            None,
        )))
    }

    fn renew<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        Box::pin(std::future::ready(self.apply_renewal(
            url,
            SystemTime::now(),
            true,
            None,
        )))
    }

    fn record_check<'a>(
        &'a self,
        target: &'a HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Change<'a, Option<CheckResult>> {
        Box::pin(std::future::ready(Ok(
            self.record_check_now(target, outcome)
        )))
    }

    fn expire(&self) -> Change<'_, ()> {
        self.expire_now();
        Box::pin(std::future::ready(Ok(())))
    }

    fn instances(&self) -> AtRevision<Vec<InstanceInfo>> {
        let state = self.lock();
        AtRevision {
            revision: state.journal.revision(),
            value: state.sorted_infos(),
        }
    }

    fn passing_json(&self, name: &str) -> AtRevision<Bytes> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let revision = state.journal.revision();
        if let Some(answer) = state.lookups.get(name) {
            return AtRevision {
                revision,
                value: answer.clone(),
            };
        }
        let passing: Vec<InstanceInfo> = state
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|url| state.instances.get(url))
            .filter(|entry| entry.status == Status::Passing)
            .map(|entry| InstanceInfo {
                recent_checks: Vec::new(),
                ..entry.info()
            })
            .collect();
        let answer = Bytes::from(serde_json::to_vec(&passing).expect("instances serialise"));
        // Only names with instances are kept, so unknown names cannot grow the cache.
        if !passing.is_empty() {
            state.lookups.insert(name.to_owned(), answer.clone());
        }
        AtRevision {
            revision,
            value: answer,
        }
    }

    fn heartbeat_targets(&self) -> Vec<HeartbeatTarget> {
        let state = self.lock();
        state
            .instances
            .values()
            .filter_map(|entry| {
                Some(HeartbeatTarget {
                    url: entry.reg.url.clone(),
                    heartbeat_url: entry.reg.heartbeat_url.clone()?,
                    generation: entry.generation,
                })
            })
            .collect()
    }

    fn self_preservation(&self) -> bool {
        self.preserving.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn set_self_preservation(&self, active: bool) {
        self.preserving
            .store(active, std::sync::atomic::Ordering::SeqCst);
    }

    fn publish_heartbeats(&self, results: Vec<CheckResult>) -> Change<'_, ()> {
        if !results.is_empty() {
            self.lock()
                .journal
                .push(|revision| RegistryEvent::Heartbeats { revision, results });
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn subscribe(&self, last_seen: Option<EventId>) -> BoxFuture<'_, Subscription> {
        Box::pin(std::future::ready(self.subscribe_now(last_seen)))
    }
}
