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

use app::wire::registry::{
    CheckResult, InstanceInfo, LeaveReason, PatchEntry, RegistryEvent, Status,
};
use axum::body::Bytes;

use super::{
    journal::{Journal, Subscription},
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

/// The changes, each made at once under the lock; the [`Store`] futures are ready.
impl MemoryStore {
    fn register_now(&self, reg: ValidRegistration) {
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
            registered_at: SystemTime::now(),
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
        state.journal.push(|revision| RegistryEvent::Registered {
            revision,
            instance: info,
        });
    }

    fn deregister_now(&self, url: &str) -> Result<(), StoreError> {
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
        state.journal.push(|revision| RegistryEvent::Deregistered {
            revision,
            url: entry.reg.url,
            name: entry.reg.name,
            reason: LeaveReason::Deregistered,
        });
        Ok(())
    }

    fn renew_now(&self, url: &str) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let entry = state
            .instances
            .get_mut(url)
            .ok_or_else(|| StoreError::UnknownInstance(url.to_owned()))?;
        state.lookups.remove(&entry.reg.name);
        let now = SystemTime::now();
        let result = CheckResult {
            url: url.to_owned(),
            at: timestamp(now),
            ok: true,
            latency_ms: None,
            error: None,
        };
        entry.renewed_at = Instant::now();
        entry.failures = 0;
        entry.record(result.clone(), now);
        let recovered = entry.status == Status::Critical;
        if recovered {
            entry.status = Status::Passing;
            entry.critical_since = None;
            let patch_entry = entry.patch_entry();
            announce(&state.dependents, &self.patches, &patch_entry, true);
            state.journal.push(|revision| RegistryEvent::StatusChanged {
                revision,
                url: patch_entry.url,
                name: patch_entry.name,
                status: Status::Passing,
            });
        }
        self.patches.nudge(url);
        state.journal.push(|revision| RegistryEvent::Heartbeats {
            revision,
            results: vec![result],
        });
        Ok(())
    }

    fn record_check_now(
        &self,
        target: &HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Option<CheckResult> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let entry = state
            .instances
            .get_mut(&target.url)
            .filter(|entry| entry.generation == target.generation)?;
        state.lookups.remove(&entry.reg.name);
        let now = SystemTime::now();
        let result = CheckResult {
            url: target.url.clone(),
            at: timestamp(now),
            ok: outcome.ok,
            latency_ms: Some(millis(outcome.latency)),
            error: outcome.error,
        };
        entry.last_latency = Some(outcome.latency);
        entry.record(result.clone(), now);

        let changed_to = if outcome.ok {
            entry.failures = 0;
            self.patches.nudge(&target.url);
            (entry.status == Status::Critical).then_some(Status::Passing)
        } else {
            entry.failures = entry.failures.saturating_add(1);
            (entry.status == Status::Passing
                && entry.failures >= self.eviction.failures
                && !outcome.hold_eviction)
                .then_some(Status::Critical)
        };
        if let Some(status) = changed_to {
            entry.status = status;
            entry.critical_since = (status == Status::Critical).then(Instant::now);
            let patch_entry = entry.patch_entry();
            let joined = status == Status::Passing;
            announce(&state.dependents, &self.patches, &patch_entry, joined);
            state.journal.push(|revision| RegistryEvent::StatusChanged {
                revision,
                url: patch_entry.url,
                name: patch_entry.name,
                status,
            });
        }
        Some(result)
    }

    fn expire_now(&self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Instant::now();
        let mut dropped = Vec::new();
        for entry in state.instances.values_mut() {
            if entry.reg.ttl.is_some() || entry.critical_since.is_some() {
                state.lookups.remove(&entry.reg.name);
            }
            if let Some(ttl) = entry.reg.ttl
                && entry.status == Status::Passing
                && now.duration_since(entry.renewed_at) > ttl
            {
                entry.status = Status::Critical;
                entry.critical_since = Some(now);
                entry.failures = entry.failures.saturating_add(1);
                let patch_entry = entry.patch_entry();
                announce(&state.dependents, &self.patches, &patch_entry, false);
                state.journal.push(|revision| RegistryEvent::StatusChanged {
                    revision,
                    url: patch_entry.url,
                    name: patch_entry.name,
                    status: Status::Critical,
                });
            }
            if entry
                .critical_since
                .is_some_and(|since| now.duration_since(since) > self.eviction.deregister_after)
            {
                dropped.push(entry.reg.url.clone());
            }
        }
        for url in dropped {
            let Some(entry) = state.instances.remove(&url) else {
                continue;
            };
            state.unindex(&entry.reg);
            self.patches.forget(&url);
            tracing::info!(%url, name = %entry.reg.name, "dropped after staying critical");
            state.journal.push(|revision| RegistryEvent::Deregistered {
                revision,
                url: entry.reg.url,
                name: entry.reg.name,
                reason: LeaveReason::Expired,
            });
        }
    }
}

impl Store for MemoryStore {
    fn register(&self, reg: ValidRegistration) -> Change<'_, ()> {
        self.register_now(reg);
        Box::pin(std::future::ready(Ok(())))
    }

    fn deregister<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        Box::pin(std::future::ready(self.deregister_now(url)))
    }

    fn renew<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        Box::pin(std::future::ready(self.renew_now(url)))
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

    fn publish_heartbeats(&self, results: Vec<CheckResult>) {
        if results.is_empty() {
            return;
        }
        self.lock()
            .journal
            .push(|revision| RegistryEvent::Heartbeats { revision, results });
    }

    fn subscribe(&self, last_seen: Option<u64>) -> Subscription {
        let state = self.lock();
        state
            .journal
            .subscribe(last_seen, |revision| RegistryEvent::Snapshot {
                revision,
                instances: state.sorted_infos(),
            })
    }
}
