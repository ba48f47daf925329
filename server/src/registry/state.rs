//! The registry's state machine: every instance, indexed by service name and by the
//! services it requires, with its status and its recent checks. A change is made only
//! by an `apply_*` method, which also updates what each dependent should see
//! ([`PatchSender`]) and records an event in the journal, so those three never disagree
//! about the order of changes. The `decide_*` methods say what a check or the clock
//! means for an instance and change nothing: a replicated store writes the decision
//! first and applies it when it comes back.
//!
//! Each change says which revision its event takes ([`Stamp`]): the in-memory store
//! numbers its own changes, and etcd's copies take the revisions etcd gave them.
//!
//! An instance is `passing` from registration until `heartbeat_failures` consecutive
//! checks fail (or its TTL runs out without a renewal); then it is `critical`: withheld
//! from dependents, still checked, and back to `passing` on its next good check. After
//! `deregister_after` as critical it is dropped.
//!
//! An instance whose status changes `flap_threshold` times within `flap_window` is
//! *flapping*: withheld from discovery (lookups, dependents, DNS, the Consul catalog)
//! whatever its status, until it has passed for a whole window ([`State::decide_steady`]).
//! Registering again does not end it, nor restart its time passing: both carry over to
//! the entry that replaces it, unless the new registration is checked differently (a new
//! `HeartbeatURL` or TTL: not the same instance's history). Deregistering ends it. On
//! etcd, every copy counts the changes, and the leader decides: it writes that an
//! instance flaps, or is steady again, and every copy applies that when it comes back
//! ([`State::decide_flapping`], [`State::apply_flapping`]).
//!
//! The state has no lock of its own: its owner keeps it behind one mutex
//! ([`super::memory::MemoryStore`], or etcd's copy in [`super::etcd`]).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::{Duration, Instant, SystemTime},
};

use axum::body::Bytes;
use wire::registry::{
    CheckResult, HistoryKind, InstanceInfo, LeaveReason, PatchEntry, RegistryEvent, Status,
};

use super::{
    history::{self, History},
    journal::{self, EventId, Journal, Subscription},
    patches::PatchSender,
    store::{AtRevision, CheckOutcome, HeartbeatTarget, StoreError},
    validate::ValidRegistration,
};

/// How many check results each instance keeps for its listing.
pub const RECENT_CHECKS: usize = 30;

/// When instances go critical, when they are dropped, and when they are flapping.
#[derive(Debug, Clone, Copy)]
pub struct Eviction {
    /// Consecutive failed checks that make an instance critical.
    pub failures: u32,
    /// How long an instance may stay critical before it is dropped.
    pub deregister_after: Duration,
    /// Status changes within `flap_window` that make an instance flapping (0: never).
    pub flap_threshold: u32,
    /// That window, and how long a flapping instance must pass to be given out again.
    pub flap_window: Duration,
}

impl Eviction {
    /// The registry's settings of them.
    pub fn of(config: &super::config::RegistryConfig) -> Eviction {
        Eviction {
            failures: config.heartbeat_failures,
            deregister_after: config.deregister_after,
            flap_threshold: config.flap_threshold,
            flap_window: config.flap_window,
        }
    }
}

/// Which revision a change's event takes in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The journal's next revision: the in-memory store numbers its own changes.
    Next,
    /// The revision a replicated store gave the change (several changes may share one).
    At(u64),
    /// None: a copy is loading a whole state, and the events this makes are sent live
    /// only (they are not history, whose ids etcd gave to the real changes).
    Live,
}

/// Why an instance's status changed, for its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause<'a> {
    /// A heartbeat check: its error, if it failed.
    Check(Option<&'a str>),
    /// A TTL instance's renewal is overdue.
    Overdue,
    /// A TTL renewal (`PUT /services`).
    Renewed,
    /// A change a cluster's node copies from etcd.
    Replicated,
}

/// What a check means for its instance (see [`State::decide_check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckDecision {
    pub result: CheckResult,
    /// The status the instance should change to, if any.
    pub change: Option<Status>,
}

/// What an overdue instance should become (see [`State::decide_expiry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// A TTL instance whose renewal is overdue: critical.
    Critical(String),
    /// Critical for longer than the deregistration delay: dropped.
    Drop(String),
}

/// The registry's instances and what follows from them (see the module's doc).
pub struct State {
    /// Every instance, by its URL.
    instances: BTreeMap<String, Entry>,
    /// Service name → URLs of its instances (any status).
    by_name: HashMap<String, BTreeSet<String>>,
    /// Service name → URLs of the instances that require it and take patches.
    dependents: HashMap<String, BTreeSet<String>>,
    journal: Journal,
    /// Counts registrations, so a check of an earlier registration of a URL is ignored.
    generations: u64,
    /// Service name → its lookup answer, until an instance of it changes.
    lookups: HashMap<String, Bytes>,
    patches: PatchSender,
    eviction: Eviction,
    /// The revision of the last change to the instances (not a round of checks that
    /// changed nothing): the index of Consul-style blocking queries ([`super::consul`]).
    catalog: tokio::sync::watch::Sender<u64>,
    /// Where each change is recorded for good, if anywhere ([`super::history`]).
    history: Option<std::sync::Arc<History>>,
    /// The last change handed to the history (see [`State::last_recorded`]).
    recorded: Option<EventId>,
    /// The time and reason of the replicated change being applied, as its writer noted
    /// them in etcd (see [`State::noted`]).
    note: Option<(SystemTime, Option<String>)>,
    /// Whether this state decides itself when an instance begins flapping (in memory);
    /// a cluster's copy only counts the changes, and follows its leader's decisions
    /// ([`State::decide_flapping`], [`State::apply_flapping`]).
    decides_flapping: bool,
}

/// One instance.
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
    /// When its status last changed (or it registered), and the times of its latest
    /// status changes within the flap window (at most `flap_threshold`).
    status_since: Instant,
    changes: VecDeque<Instant>,
    /// Withheld from discovery for changing status too often.
    flapping: bool,
}

impl Entry {
    /// Whether discovery gives it out: passing and not flapping.
    fn listed(&self) -> bool {
        self.status == Status::Passing && !self.flapping
    }

    fn info(&self) -> InstanceInfo {
        InstanceInfo {
            registration: self.reg.to_wire(),
            status: self.status,
            registered_at: timestamp(self.registered_at),
            last_check_at: self.last_check_at.map(timestamp),
            last_latency_ms: self.last_latency.map(millis),
            consecutive_failures: self.failures,
            recent_checks: self.recent.iter().cloned().collect(),
            flapping: self.flapping,
        }
    }

    fn patch_entry(&self) -> PatchEntry {
        PatchEntry {
            name: self.reg.name.clone(),
            url: self.reg.url.clone(),
        }
    }
}

/// RFC 3339 in UTC with milliseconds, as every timestamp on the wire.
pub fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// Why `entry`'s status changes to `status` for `cause`, in words; a replicated change
/// says what its `note` says, if it says why.
fn status_reason(
    entry: &Entry,
    status: Status,
    cause: Cause<'_>,
    note: Option<&(SystemTime, Option<String>)>,
) -> std::borrow::Cow<'static, str> {
    match (cause, status) {
        (Cause::Check(_), Status::Passing) => "a heartbeat check passed".into(),
        (Cause::Check(error), Status::Critical) => format!(
            "{} heartbeat checks failed in a row; the last: {}",
            entry.failures,
            error.unwrap_or("failed")
        )
        .into(),
        (Cause::Overdue, _) => match entry.reg.ttl {
            Some(ttl) => format!(
                "no renewal within its TTL ({})",
                humantime::format_duration(ttl)
            )
            .into(),
            None => "no renewal within its TTL".into(),
        },
        (Cause::Renewed, _) => "renewed".into(),
        (Cause::Replicated, _) => match note {
            Some((_, Some(reason))) => reason.clone().into(),
            _ => "as the cluster's leader decided".into(),
        },
    }
}

/// The changes. Each is whole when the method returns; `stamp` says which revision its
/// event takes.
impl State {
    /// An empty state that numbers its own events ([`Stamp::Next`]), from the time it
    /// starts (in microseconds since the Unix epoch), so that ids keep rising across
    /// restarts: a client resuming from an earlier run gets a snapshot, never another
    /// run's events (see [`super::journal`]).
    pub fn new(patches: PatchSender, eviction: Eviction) -> State {
        State::with_journal(patches, eviction, Journal::new())
    }

    /// [`State::new`], numbering its events above `floor` if the clock is behind it (the
    /// last id its history kept: see [`Journal::numbering_after`]).
    pub fn numbering_after(patches: PatchSender, eviction: Eviction, floor: u64) -> State {
        State::with_journal(patches, eviction, Journal::numbering_after(floor))
    }

    /// An empty state that is a copy of a replicated one: its events take the replicated
    /// revisions ([`Stamp::At`]), after `revision`.
    pub fn starting_at(patches: PatchSender, eviction: Eviction, revision: u64) -> State {
        State {
            decides_flapping: false,
            ..State::with_journal(patches, eviction, Journal::starting_at(revision))
        }
    }

    fn with_journal(patches: PatchSender, eviction: Eviction, journal: Journal) -> State {
        let catalog = tokio::sync::watch::Sender::new(journal.revision());
        State {
            catalog,
            instances: BTreeMap::new(),
            by_name: HashMap::new(),
            dependents: HashMap::new(),
            journal,
            generations: 0,
            lookups: HashMap::new(),
            patches,
            eviction,
            history: None,
            recorded: None,
            note: None,
            decides_flapping: true,
        }
    }

    /// The changes applied from now on were made at this time, for this reason, as
    /// their writer noted them (a cluster's copy applying etcd's changes: every node then
    /// records them alike); `None` once applied.
    pub fn noted(&mut self, note: Option<(SystemTime, Option<String>)>) {
        self.note = note;
    }

    /// Why the instance at `url` would change to `status` for `cause`: what a leader
    /// notes with its decision.
    pub fn status_reason(&self, url: &str, status: Status, cause: Cause<'_>) -> Option<String> {
        let entry = self.instances.get(url)?;
        Some(status_reason(entry, status, cause, None).into_owned())
    }

    /// The time of the change being made: its note's, or now.
    fn now(&self) -> SystemTime {
        self.note
            .as_ref()
            .map_or_else(SystemTime::now, |(at, _)| *at)
    }

    /// Records every change from now on in `history`, which starts with this (empty)
    /// state.
    pub fn keep_history(&mut self, history: std::sync::Arc<History>) {
        history.begin(self.journal.latest(), SystemTime::now());
        self.history = Some(history);
    }

    /// Records every replicated change from now on in `history` (a cluster's copy, whose
    /// history goes on from where its files end: [`History::open_following`]); each load of
    /// the whole state is handed to it ([`State::history_loaded`]).
    pub fn follow_history(&mut self, history: std::sync::Arc<History>) {
        self.history = Some(history);
    }

    /// The copy has just been loaded whole at `revision`, whose last noted change was
    /// made `at`: the history checks that it ends with the same instances
    /// ([`History::loaded`]); `missed` says why changes before it are missing, if known.
    pub fn history_loaded(&mut self, revision: u64, at: SystemTime, missed: Option<String>) {
        if let Some(history) = &self.history {
            // Never before a registration it holds: a replay of a moment before that
            // must not list it.
            let at = self
                .instances
                .values()
                .map(|entry| entry.registered_at)
                .fold(at, SystemTime::max);
            let instances = self.instances.values().map(Entry::info).collect();
            history.loaded(EventId::all_of(revision), at, instances, missed);
        }
    }

    /// Why changes cannot be made now, if the history cannot record them (a full disk).
    pub fn history_ready(&self) -> Result<(), String> {
        match self.history.as_ref().and_then(|history| history.failing()) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// The history and the id of the last change handed to it, if any since the last
    /// call: a registration is acknowledged only once that change is written
    /// ([`History::recorded`], called outside the state's lock).
    pub fn last_recorded(&mut self) -> Option<(std::sync::Arc<History>, EventId)> {
        let id = self.recorded.take()?;
        Some((self.history.clone()?, id))
    }

    /// The history, to write what was handed to it once the state's lock is let go.
    pub fn history(&self) -> Option<std::sync::Arc<History>> {
        self.history.clone()
    }

    /// Adds (or replaces) the instance at `reg.url`, registered at `registered_at`.
    pub fn apply_registered(
        &mut self,
        reg: ValidRegistration,
        registered_at: SystemTime,
        stamp: Stamp,
    ) {
        self.generations += 1;
        self.lookups.remove(&reg.name);
        let previous = self.instances.remove(&reg.url);
        let replaced = previous.is_some();
        // Registering again neither starts nor ends flapping, nor restarts the steady
        // clock: the entry's count carries, unless what checks it changed (someone else's
        // registration of the URL: it is not their history).
        let mut changes = VecDeque::new();
        let mut flapping = false;
        let mut status_since = Instant::now();
        let was_listed = match previous {
            Some(previous) => {
                self.unindex(&previous.reg);
                self.lookups.remove(&previous.reg.name);
                let listed = previous.listed();
                if listed && previous.reg.name != reg.name {
                    self.announce(&previous.patch_entry(), false);
                }
                let alike =
                    previous.reg.heartbeat_url == reg.heartbeat_url && previous.reg.ttl == reg.ttl;
                if alike {
                    changes = previous.changes;
                    if previous.status == Status::Passing {
                        status_since = previous.status_since;
                    }
                }
                // A cluster's copy carries the flag always: whether it ends is the
                // writer's to say, in the same transaction (it deletes `flapping/<url>`),
                // so every copy agrees.
                flapping = previous.flapping && (alike || !self.decides_flapping);
                listed && previous.reg.name == reg.name
            }
            None => false,
        };

        let entry = Entry {
            generation: self.generations,
            status: Status::Passing,
            registered_at,
            last_check_at: None,
            last_latency: None,
            failures: 0,
            critical_since: None,
            renewed_at: Instant::now(),
            recent: VecDeque::new(),
            status_since,
            changes,
            flapping,
            reg,
        };
        self.index(&entry.reg);
        if !was_listed && entry.listed() {
            self.announce(&entry.patch_entry(), true);
        }
        let info = entry.info();
        let url = entry.reg.url.clone();
        match &entry.reg.update_url {
            Some(update_url) => {
                let view = self.view_of(&entry.reg);
                self.patches.reset(&url, update_url, view);
            }
            None => self.patches.forget(&url),
        }
        self.instances.insert(url, entry);
        let event = self.push(stamp, |revision| RegistryEvent::Registered {
            revision,
            instance: Box::new(info),
        });
        // The journal has serialised it: the history takes its registration.
        if let Some(RegistryEvent::Registered { instance, .. }) = event {
            self.remember(
                stamp,
                registered_at,
                history::Change {
                    kind: HistoryKind::Registered,
                    status: Some(Status::Passing),
                    reason: if replaced {
                        "registered again (its entry replaced)".into()
                    } else {
                        "registered".into()
                    },
                    registration: Some(instance.registration),
                    ..history::Change::default()
                },
            );
        }
    }

    /// Removes the instance at `url`, which left for `reason`.
    ///
    /// # Errors
    /// No instance is registered at `url`.
    pub fn apply_removed(
        &mut self,
        url: &str,
        reason: LeaveReason,
        stamp: Stamp,
    ) -> Result<(), StoreError> {
        let entry = self
            .instances
            .remove(url)
            .ok_or_else(|| StoreError::UnknownInstance(url.to_owned()))?;
        self.unindex(&entry.reg);
        self.lookups.remove(&entry.reg.name);
        if entry.listed() {
            self.announce(&entry.patch_entry(), false);
        }
        self.patches.forget(url);
        if reason == LeaveReason::Expired {
            tracing::info!(%url, name = %entry.reg.name, "dropped after staying critical");
        }
        let mut change = history::Change {
            kind: match reason {
                LeaveReason::Deregistered => HistoryKind::Deregistered,
                LeaveReason::Expired => HistoryKind::Dropped,
            },
            reason: match reason {
                LeaveReason::Deregistered => "deregistered".into(),
                LeaveReason::Expired => format!(
                    "critical for longer than --deregister-after ({})",
                    humantime::format_duration(self.eviction.deregister_after)
                )
                .into(),
            },
            ..history::Change::default()
        };
        let event = self.push(stamp, |revision| RegistryEvent::Deregistered {
            revision,
            url: entry.reg.url,
            name: entry.reg.name,
            reason,
        });
        // The journal has serialised it: the history takes its names.
        if let Some(RegistryEvent::Deregistered { url, name, .. }) = event {
            change.service = name;
            change.instance = url;
            self.remember(stamp, self.now(), change);
        }
        Ok(())
    }

    /// Records a TTL renewal of the instance at `url`, made at `renewed`: a passing check,
    /// and a recovery unless `recover` is false (a copy, whose recovery comes as its own
    /// change).
    ///
    /// # Errors
    /// No instance is registered at `url`.
    pub fn apply_renewal(
        &mut self,
        url: &str,
        renewed: SystemTime,
        recover: bool,
        stamp: Stamp,
    ) -> Result<(), StoreError> {
        let entry = self
            .instances
            .get_mut(url)
            .ok_or_else(|| StoreError::UnknownInstance(url.to_owned()))?;
        entry.renewed_at = Instant::now();
        let result = CheckResult {
            url: url.to_owned(),
            at: timestamp(renewed),
            ok: true,
            latency_ms: None,
            error: None,
        };
        self.record(&result);
        if recover {
            self.apply_status(url, Status::Passing, Cause::Renewed, stamp);
        }
        self.push(stamp, |revision| RegistryEvent::Heartbeats {
            revision,
            results: vec![result],
        });
        Ok(())
    }

    /// Sets the status of the instance at `url` for `cause`, telling its dependents, the
    /// journal and the history; nothing if it is unknown or already so.
    pub fn apply_status(&mut self, url: &str, status: Status, cause: Cause<'_>, stamp: Stamp) {
        let Some(entry) = self.instances.get_mut(url) else {
            return;
        };
        if entry.status == status {
            return;
        }
        let reason = status_reason(entry, status, cause, self.note.as_ref());
        let was_listed = entry.listed();
        let now = Instant::now();
        entry.status = status;
        entry.critical_since = (status == Status::Critical).then_some(now);
        entry.status_since = now;
        // A copy loading a whole state (live only) changes nothing really: not counted.
        let flap = self.eviction.flap_threshold;
        let mut began_flapping = false;
        if flap > 0 && stamp != Stamp::Live {
            let window = self.eviction.flap_window;
            entry.changes.push_back(now);
            while entry.changes.len() > flap as usize
                || entry
                    .changes
                    .front()
                    .is_some_and(|at| now.duration_since(*at) > window)
            {
                entry.changes.pop_front();
            }
            began_flapping =
                self.decides_flapping && !entry.flapping && entry.changes.len() >= flap as usize;
            entry.flapping |= began_flapping;
        }
        let listed = entry.listed();
        let patch_entry = entry.patch_entry();
        self.lookups.remove(&patch_entry.name);
        if listed != was_listed {
            self.announce(&patch_entry, listed);
        }
        let flapped = began_flapping.then(|| patch_entry.clone());
        let kind = if cause == Cause::Overdue {
            HistoryKind::Expired
        } else {
            HistoryKind::StatusChanged
        };
        let event = self.push(stamp, |revision| RegistryEvent::StatusChanged {
            revision,
            url: patch_entry.url,
            name: patch_entry.name,
            status,
        });
        if let Some(RegistryEvent::StatusChanged { url, name, .. }) = event {
            let change = history::Change {
                kind,
                service: name,
                instance: url,
                status: Some(status),
                reason,
                registration: None,
            };
            self.remember(stamp, self.now(), change);
        }
        if let Some(entry) = flapped {
            let reason = self.flapping_reason();
            self.flapping_changed(entry, true, reason, stamp);
        }
    }

    /// Why an instance begins flapping: its note's reason, or the rule.
    fn flapping_reason(&self) -> String {
        if let Some((_, Some(reason))) = &self.note {
            return reason.clone();
        }
        let window = humantime::format_duration(self.eviction.flap_window);
        format!(
            "{} status changes within {window}: held out of discovery until it passes for \
             {window}",
            self.eviction.flap_threshold
        )
    }

    /// Why a flapping instance is given out again: its note's reason, or the rule.
    fn steady_reason(&self) -> String {
        if let Some((_, Some(reason))) = &self.note {
            return reason.clone();
        }
        format!(
            "passed for {}: given out again",
            humantime::format_duration(self.eviction.flap_window)
        )
    }

    /// What a cluster's leader notes when it decides that an instance flaps (`flapping`)
    /// or is steady again.
    pub fn flapping_note(&self, flapping: bool) -> String {
        if flapping {
            self.flapping_reason()
        } else {
            self.steady_reason()
        }
    }

    /// The instance at `url` is flapping, as a cluster's leader decided: held out of
    /// discovery until it is steady ([`State::apply_steady`]).
    pub fn apply_flapping(&mut self, url: &str, stamp: Stamp) {
        let Some(entry) = self.instances.get_mut(url) else {
            return;
        };
        if entry.flapping {
            return;
        }
        let was_listed = entry.listed();
        entry.flapping = true;
        let patch_entry = entry.patch_entry();
        self.lookups.remove(&patch_entry.name);
        if was_listed {
            self.announce(&patch_entry, false);
        }
        let reason = self.flapping_reason();
        self.flapping_changed(patch_entry, true, reason, stamp);
    }

    /// The instances not yet flapping whose status changed `flap_threshold` times within
    /// the last flap window by `now`: what a cluster's leader decides (a state in memory
    /// decides it as each change is made).
    pub fn decide_flapping(&self, now: Instant) -> Vec<String> {
        let threshold = self.eviction.flap_threshold as usize;
        if threshold == 0 {
            return Vec::new();
        }
        self.instances
            .values()
            .filter(|entry| {
                !entry.flapping
                    && entry
                        .changes
                        .iter()
                        .filter(|at| now.duration_since(**at) <= self.eviction.flap_window)
                        .count()
                        >= threshold
            })
            .map(|entry| entry.reg.url.clone())
            .collect()
    }

    /// Whether registering `reg` keeps its URL's flapping, if it flaps: the same instance,
    /// checked alike (see [`State::apply_registered`]).
    pub fn keeps_flapping(&self, reg: &ValidRegistration) -> bool {
        self.instances.get(&reg.url).is_some_and(|previous| {
            previous.reg.heartbeat_url == reg.heartbeat_url && previous.reg.ttl == reg.ttl
        })
    }

    /// Journals and records that the instance `entry` began (`flapping`) or ended
    /// flapping, for `reason`.
    fn flapping_changed(
        &mut self,
        entry: PatchEntry,
        flapping: bool,
        reason: String,
        stamp: Stamp,
    ) {
        if flapping {
            tracing::warn!(url = %entry.url, name = %entry.name, "{reason}");
            crate::ops::metrics::global().instances_flapped.inc();
        } else {
            tracing::info!(url = %entry.url, name = %entry.name, "{reason}");
        }
        let event = self.push(stamp, |revision| RegistryEvent::Flapping {
            revision,
            url: entry.url,
            name: entry.name,
            flapping,
        });
        if let Some(RegistryEvent::Flapping { url, name, .. }) = event {
            let change = history::Change {
                kind: if flapping {
                    HistoryKind::Flapping
                } else {
                    HistoryKind::Steady
                },
                service: name,
                instance: url,
                status: None,
                reason: reason.into(),
                registration: None,
            };
            self.remember(stamp, self.now(), change);
        }
    }

    /// The flapping instance at `url` has passed for a whole window: given out again.
    pub fn apply_steady(&mut self, url: &str, stamp: Stamp) {
        let Some(entry) = self.instances.get_mut(url) else {
            return;
        };
        if !entry.flapping {
            return;
        }
        entry.flapping = false;
        entry.changes.clear();
        let listed = entry.listed();
        let patch_entry = entry.patch_entry();
        self.lookups.remove(&patch_entry.name);
        if listed {
            self.announce(&patch_entry, true);
        }
        let reason = self.steady_reason();
        self.flapping_changed(patch_entry, false, reason, stamp);
    }

    /// Records a check's `result` on `target`, if it is still that registration, without
    /// an event or a status change (see [`State::decide_check`] for those).
    pub fn apply_check(&mut self, target: &HeartbeatTarget, result: &CheckResult) {
        if self.is_current(target) {
            self.record(result);
        }
    }

    /// Records a round of results checked elsewhere (by a cluster's leader), if their
    /// instances are registered; no event.
    pub fn apply_results(&mut self, results: &[CheckResult]) {
        for result in results {
            self.record(result);
        }
    }

    /// A TTL instance's renewal is overdue: one more failure, and critical.
    pub fn apply_overdue(&mut self, url: &str, stamp: Stamp) {
        if let Some(entry) = self.instances.get_mut(url) {
            entry.failures = entry.failures.saturating_add(1);
        }
        self.apply_status(url, Status::Critical, Cause::Overdue, stamp);
    }

    /// Publishes a round of check results as one event (their bookkeeping is
    /// [`State::apply_check`]'s).
    pub fn publish_round(&mut self, results: Vec<CheckResult>, stamp: Stamp) {
        if !results.is_empty() {
            self.push(stamp, |revision| RegistryEvent::Heartbeats {
                revision,
                results,
            });
        }
    }

    /// The events up to `revision` were made by loading a state: none is replayed.
    pub fn history_begins_at(&mut self, revision: u64) {
        self.journal.begin_at(revision);
        self.catalog_at(revision);
    }

    /// Follows the catalog's index: the revision of the last change to the instances.
    pub fn catalog(&self) -> tokio::sync::watch::Receiver<u64> {
        self.catalog.subscribe()
    }

    /// Moves the catalog's index to `revision`, if that is later.
    fn catalog_at(&self, revision: u64) {
        self.catalog.send_if_modified(|index| {
            let later = revision > *index;
            if later {
                *index = revision;
            }
            later
        });
    }

    /// The bookkeeping of one check, a renewal included, in one place: the instance's
    /// failures, latency and strip of recent checks, and its dependents nudged when it
    /// passed. Nothing if the instance is not registered.
    fn record(&mut self, result: &CheckResult) {
        let Some(entry) = self.instances.get_mut(&result.url) else {
            return;
        };
        // The check's own time, so every copy shows the same.
        let checked = humantime::parse_rfc3339(&result.at).unwrap_or_else(|_| SystemTime::now());
        self.lookups.remove(&entry.reg.name);
        if let Some(ms) = result.latency_ms {
            entry.last_latency = Some(Duration::from_secs_f64(ms / 1000.0));
        }
        if result.ok {
            entry.failures = 0;
            self.patches.nudge(&result.url);
        } else {
            entry.failures = entry.failures.saturating_add(1);
        }
        entry.last_check_at = Some(checked);
        if entry.recent.len() == RECENT_CHECKS {
            entry.recent.pop_front();
        }
        entry.recent.push_back(result.clone());
    }

    /// Journals the event `make` builds, as `stamp` says.
    /// Returns the event, once serialised, for a caller that takes back what it holds
    /// (not for a live-only event, which is not history).
    fn push(
        &mut self,
        stamp: Stamp,
        make: impl FnOnce(u64) -> RegistryEvent,
    ) -> Option<RegistryEvent> {
        // A round of checks changes no instance (its status changes are events of
        // their own): the catalog's index stays.
        let mut changed = false;
        let make = |revision| {
            let event = make(revision);
            changed = !matches!(event, RegistryEvent::Heartbeats { .. });
            event
        };
        let event = match stamp {
            Stamp::Next => Some(self.journal.push(make)),
            Stamp::At(revision) => Some(self.journal.push_at(revision, make)),
            Stamp::Live => {
                self.journal.push_live(make);
                None
            }
        };
        if changed {
            self.catalog_at(self.journal.revision());
        }
        event
    }

    /// Hands `event`, made at `at`, to the history as the journal's latest event (not for
    /// a copy loading a whole state: its events are not history).
    fn remember(&mut self, stamp: Stamp, at: SystemTime, event: history::Change) {
        if let Some(history) = &self.history
            && stamp != Stamp::Live
        {
            let id = self.journal.latest();
            history.record(id, at, event);
            self.recorded = Some(id);
        }
    }

    /// Tells every dependent of `entry.name` that it joined (`joined`) or left their view.
    fn announce(&self, entry: &PatchEntry, joined: bool) {
        for dependent in self.dependents.get(&entry.name).into_iter().flatten() {
            if joined {
                self.patches.add(dependent, entry);
            } else {
                self.patches.remove(dependent, entry);
            }
        }
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

    fn is_current(&self, target: &HeartbeatTarget) -> bool {
        self.instances
            .get(&target.url)
            .is_some_and(|entry| entry.generation == target.generation)
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

/// The decisions: what a check or the clock means, changing nothing.
impl State {
    /// What a check's `outcome` means for `target`: its result and the status it should
    /// change to. `None` if the target has left or registered again since.
    pub fn decide_check(
        &self,
        target: &HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Option<CheckDecision> {
        let entry = self
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

    /// The flapping instances that have passed for a whole flap window by `now`, their
    /// last check passed too (a failure short of `heartbeat_failures` leaves it passing).
    pub fn decide_steady(&self, now: Instant) -> Vec<String> {
        self.instances
            .values()
            .filter(|entry| {
                entry.flapping
                    && entry.status == Status::Passing
                    && entry.failures == 0
                    && now.duration_since(entry.status_since) >= self.eviction.flap_window
            })
            .map(|entry| entry.reg.url.clone())
            .collect()
    }

    /// The TTL instances whose renewal is overdue and the instances critical for too long.
    pub fn decide_expiry(&self) -> Vec<Expiry> {
        let now = Instant::now();
        let mut expiries = Vec::new();
        for entry in self.instances.values() {
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
}

/// The reads.
impl State {
    /// How many instances are registered, and whether one is at `url`.
    pub fn holds(&self, url: &str) -> (usize, bool) {
        (self.instances.len(), self.instances.contains_key(url))
    }

    /// When the instance at `url` registered, if it is registered.
    pub fn registered_at(&self, url: &str) -> Option<SystemTime> {
        self.instances.get(url).map(|entry| entry.registered_at)
    }

    /// The status of the instance at `url`, if it is registered.
    pub fn status(&self, url: &str) -> Option<Status> {
        self.instances.get(url).map(|entry| entry.status)
    }

    /// The URLs of every registered instance.
    pub fn urls(&self) -> Vec<String> {
        self.instances.keys().cloned().collect()
    }

    /// Every instance, ordered by service name then URL.
    pub fn instances(&self) -> AtRevision<Vec<InstanceInfo>> {
        AtRevision {
            revision: self.journal.revision(),
            value: self.sorted_infos(),
        }
    }

    /// The passing instances of `name` as the JSON of a lookup's answer, kept until one
    /// of them changes.
    pub fn passing_json(&mut self, name: &str) -> AtRevision<Bytes> {
        let revision = self.journal.revision();
        if let Some(answer) = self.lookups.get(name) {
            return AtRevision {
                revision,
                value: answer.clone(),
            };
        }
        let passing: Vec<InstanceInfo> = self
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|url| self.instances.get(url))
            .filter(|entry| entry.listed())
            .map(|entry| InstanceInfo {
                recent_checks: Vec::new(),
                ..entry.info()
            })
            .collect();
        let answer = Bytes::from(serde_json::to_vec(&passing).expect("instances serialise"));
        // Only names with instances are kept, so unknown names cannot grow the cache.
        if !passing.is_empty() {
            self.lookups.insert(name.to_owned(), answer.clone());
        }
        AtRevision {
            revision,
            value: answer,
        }
    }

    /// The instances with a heartbeat URL.
    pub fn heartbeat_targets(&self) -> Vec<HeartbeatTarget> {
        self.instances
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

    /// An event stream from `last_seen`: what followed it, if the journal still holds
    /// that, else a snapshot; then every new event.
    pub fn subscribe(&self, last_seen: Option<EventId>) -> Subscription {
        self.journal
            .subscribe(last_seen, |revision| RegistryEvent::Snapshot {
                revision,
                instances: self.sorted_infos(),
            })
    }

    /// Whether a subscriber that last saw `seen` would be replayed what followed.
    pub fn replays(&self, seen: EventId) -> bool {
        self.journal.replays(seen)
    }

    /// The live feed from now on, and the id of the event it follows.
    pub fn live(
        &self,
    ) -> (
        EventId,
        tokio::sync::broadcast::Receiver<std::sync::Arc<journal::Entry>>,
    ) {
        self.journal.live()
    }

    /// The listed instances of `reg`'s required services: what it should see.
    fn view_of(&self, reg: &ValidRegistration) -> BTreeSet<PatchEntry> {
        let mut view = BTreeSet::new();
        for required in &reg.required {
            for url in self.by_name.get(required).into_iter().flatten() {
                if let Some(entry) = self.instances.get(url)
                    && entry.listed()
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

#[cfg(test)]
mod tests {
    use wire::registry::Registration;

    use super::*;
    use crate::registry::validate;

    const URL: &str = "http://127.0.0.1:4001";

    fn state(failures: u32) -> State {
        let eviction = Eviction {
            failures,
            deregister_after: Duration::from_secs(60),
            flap_threshold: 0,
            flap_window: Duration::from_secs(60),
        };
        State::new(PatchSender::inert(), eviction)
    }

    /// A registration of `name` at [`URL`], checked by heartbeat.
    fn checked(name: &str) -> ValidRegistration {
        validate::registration(Registration {
            service_name: name.to_owned(),
            service_url: URL.to_owned(),
            heartbeat_url: format!("{URL}/heartbeat"),
            ..Registration::default()
        })
        .unwrap()
    }

    fn outcome(ok: bool) -> CheckOutcome {
        CheckOutcome {
            ok,
            latency: Duration::from_millis(3),
            error: (!ok).then(|| "refused".to_owned()),
            hold_eviction: false,
        }
    }

    fn info(state: &State) -> InstanceInfo {
        state.instances().value.remove(0)
    }

    /// What the in-memory store does with one check.
    fn check(state: &mut State, target: &HeartbeatTarget, ok: bool) {
        let decision = state.decide_check(target, outcome(ok)).unwrap();
        state.apply_check(target, &decision.result);
        if let Some(status) = decision.change {
            state.apply_status(
                &target.url,
                status,
                Cause::Check(decision.result.error.as_deref()),
                Stamp::Next,
            );
        }
    }

    fn flapping_state(window: Duration) -> State {
        let eviction = Eviction {
            failures: 1,
            deregister_after: Duration::from_secs(60),
            flap_threshold: 2,
            flap_window: window,
        };
        State::new(PatchSender::inert(), eviction)
    }

    fn looked_up(state: &mut State, name: &str) -> usize {
        let answer = state.passing_json(name).value;
        serde_json::from_slice::<Vec<InstanceInfo>>(&answer)
            .unwrap()
            .len()
    }

    #[test]
    fn flapping_outlasts_registering_again_and_ends_after_a_window_passing() {
        let mut state = flapping_state(Duration::from_secs(3600));
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        // A copy loading a state changes nothing really: not counted.
        state.apply_status(URL, Status::Critical, Cause::Replicated, Stamp::Live);
        state.apply_status(URL, Status::Passing, Cause::Replicated, Stamp::Live);
        assert!(!info(&state).flapping);
        state.apply_status(URL, Status::Critical, Cause::Overdue, Stamp::Next);
        state.apply_status(URL, Status::Passing, Cause::Renewed, Stamp::Next);
        assert!(info(&state).flapping);
        assert_eq!(looked_up(&mut state, "A"), 0);
        // Registering again is no way out.
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        assert!(info(&state).flapping);
        assert_eq!(looked_up(&mut state, "A"), 0);
        assert!(
            state.decide_steady(Instant::now()).is_empty(),
            "an hour has not passed"
        );
    }

    #[test]
    fn a_clusters_copy_counts_flaps_and_follows_its_leader_with_the_noted_time_and_reason() {
        let hour = Duration::from_secs(3600);
        let eviction = Eviction {
            flap_threshold: 2,
            ..flapping_state(hour).eviction
        };
        let mut copy = State::starting_at(PatchSender::inert(), eviction, 10);
        copy.apply_registered(checked("A"), SystemTime::now(), Stamp::At(11));
        copy.apply_status(URL, Status::Critical, Cause::Replicated, Stamp::At(12));
        copy.apply_status(URL, Status::Passing, Cause::Replicated, Stamp::At(13));
        // Counted, not decided: the leader decides.
        assert!(!info(&copy).flapping);
        assert_eq!(copy.decide_flapping(Instant::now()), vec![URL.to_owned()]);
        assert!(
            copy.decide_flapping(Instant::now() + hour + Duration::from_secs(1))
                .is_empty(),
            "changes older than a window do not count"
        );
        let noted = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        copy.noted(Some((noted, Some("the leader's words".into()))));
        copy.apply_flapping(URL, Stamp::At(14));
        copy.noted(None);
        assert!(info(&copy).flapping);
        assert_eq!(looked_up(&mut copy, "A"), 0);
        assert!(
            copy.decide_flapping(Instant::now()).is_empty(),
            "decided once"
        );
        let since = "13.0".parse().unwrap();
        let backlog = copy.subscribe(Some(since)).backlog;
        let flapping = backlog.iter().find(|e| e.name == "flapping").unwrap();
        assert_eq!(flapping.id.to_string(), "14.0");
        assert_eq!(
            copy.flapping_note(true),
            "2 status changes within 1h: held out of discovery until it passes for 1h"
        );
        // The same instance checked alike keeps it; checked otherwise, it would not.
        assert!(copy.keeps_flapping(&checked("A")));
        let mut other = checked("A");
        other.ttl = Some(Duration::from_secs(30));
        assert!(!copy.keeps_flapping(&other));
        copy.apply_steady(URL, Stamp::At(15));
        assert!(!info(&copy).flapping);
        assert_eq!(looked_up(&mut copy, "A"), 1);
    }

    #[test]
    fn registering_again_keeps_the_time_passing_unless_it_is_checked_differently() {
        let hour = Duration::from_secs(3600);
        let mut state = flapping_state(hour);
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        state.apply_status(URL, Status::Critical, Cause::Overdue, Stamp::Next);
        state.apply_status(URL, Status::Passing, Cause::Renewed, Stamp::Next);
        let passed = Instant::now();
        // A service that re-registers on a timer still comes back after a window.
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        assert!(info(&state).flapping);
        assert_eq!(state.decide_steady(passed + hour), vec![URL.to_owned()]);
        // Someone registering the URL with another heartbeat is not its history.
        let mut other = checked("A");
        other.heartbeat_url = Some(format!("{URL}/other"));
        state.apply_registered(other, SystemTime::now(), Stamp::Next);
        assert!(!info(&state).flapping);
        assert_eq!(looked_up(&mut state, "A"), 1);
    }

    #[test]
    fn a_flapping_instance_whose_last_check_failed_is_not_given_out() {
        let hour = Duration::from_secs(3600);
        let mut state = State::new(
            PatchSender::inert(),
            Eviction {
                failures: 2,
                deregister_after: Duration::from_secs(60),
                flap_threshold: 2,
                flap_window: hour,
            },
        );
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        state.apply_status(URL, Status::Critical, Cause::Overdue, Stamp::Next);
        state.apply_status(URL, Status::Passing, Cause::Renewed, Stamp::Next);
        let target = state.heartbeat_targets().remove(0);
        // One failure of the two that make it critical: passing, but not steady.
        check(&mut state, &target, false);
        assert_eq!(info(&state).status, Status::Passing);
        assert!(state.decide_steady(Instant::now() + hour).is_empty());
        check(&mut state, &target, true);
        assert_eq!(
            state.decide_steady(Instant::now() + hour),
            vec![URL.to_owned()]
        );
    }

    #[test]
    fn a_flapping_instance_is_given_out_once_it_passed_a_whole_window() {
        let hour = Duration::from_secs(3600);
        let mut state = flapping_state(hour);
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        let target = state.heartbeat_targets().remove(0);
        check(&mut state, &target, false);
        check(&mut state, &target, true);
        assert!(info(&state).flapping);
        assert_eq!(looked_up(&mut state, "A"), 0);
        // Critical when the window ends: not given out.
        check(&mut state, &target, false);
        assert!(state.decide_steady(Instant::now() + hour).is_empty());
        check(&mut state, &target, true);
        let revision = state.instances().revision;
        assert!(state.decide_steady(Instant::now()).is_empty());
        assert_eq!(
            state.decide_steady(Instant::now() + hour),
            vec![URL.to_owned()]
        );
        state.apply_steady(URL, Stamp::Next);
        assert!(!info(&state).flapping);
        assert_eq!(looked_up(&mut state, "A"), 1);
        assert_eq!(state.instances().revision, revision + 1);
    }

    #[test]
    fn a_check_and_a_renewal_are_counted_by_the_same_bookkeeping() {
        let mut state = state(2);
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        let target = state.heartbeat_targets().remove(0);

        check(&mut state, &target, false);
        let after_failure = info(&state);
        assert_eq!(after_failure.consecutive_failures, 1);
        assert_eq!(after_failure.last_latency_ms, Some(3.0));
        assert_eq!(after_failure.status, Status::Passing, "one failure of two");

        // A renewal (what a TTL instance sends, though any may) is a passing check: the
        // count resets, the strip grows, and the last latency (a renewal has none) stays.
        state
            .apply_renewal(URL, SystemTime::now(), true, Stamp::Next)
            .unwrap();
        let renewed = info(&state);
        assert_eq!(renewed.consecutive_failures, 0);
        assert_eq!(renewed.recent_checks.len(), 2);
        assert_eq!(renewed.last_latency_ms, Some(3.0));

        check(&mut state, &target, false);
        check(&mut state, &target, false);
        assert_eq!(
            info(&state).status,
            Status::Critical,
            "two failures in a row"
        );
        check(&mut state, &target, true);
        assert_eq!(
            info(&state).status,
            Status::Passing,
            "back on its next good check"
        );
    }

    #[test]
    fn a_check_of_an_earlier_registration_changes_nothing() {
        let mut state = state(1);
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        let earlier = state.heartbeat_targets().remove(0);
        state.apply_registered(checked("B"), SystemTime::now(), Stamp::Next);

        assert_eq!(state.decide_check(&earlier, outcome(false)), None);
        let result = CheckResult {
            url: URL.to_owned(),
            at: timestamp(SystemTime::now()),
            ok: false,
            latency_ms: Some(1.0),
            error: None,
        };
        state.apply_check(&earlier, &result);
        assert_eq!(info(&state).consecutive_failures, 0);
        assert!(info(&state).recent_checks.is_empty());
    }

    #[test]
    fn the_catalog_index_moves_with_changes_to_instances_not_with_rounds_of_checks() {
        let mut state = state(1);
        let catalog = state.catalog();
        let started = *catalog.borrow();
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        let registered = *catalog.borrow();
        assert!(registered > started);
        let target = state.heartbeat_targets().remove(0);
        check(&mut state, &target, true);
        let round = vec![CheckResult {
            url: URL.to_owned(),
            at: timestamp(SystemTime::now()),
            ok: true,
            latency_ms: Some(1.0),
            error: None,
        }];
        state.publish_round(round, Stamp::Next);
        assert!(
            state.instances().revision > registered,
            "the round is an event"
        );
        assert_eq!(
            *catalog.borrow(),
            registered,
            "but no change to the catalog"
        );
        check(&mut state, &target, false);
        assert!(*catalog.borrow() > registered, "a status change is one");
        // A whole state loaded at an etcd revision brings the index there.
        state.history_begins_at(u64::MAX - 1);
        assert_eq!(*catalog.borrow(), u64::MAX - 1);
    }

    #[test]
    fn a_state_of_its_own_numbers_from_the_time_it_starts() {
        let now_micros = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let mut state = state(1);
        let started = state.instances().revision;
        assert!(
            started + 60_000_000 > now_micros && started <= now_micros + 60_000_000,
            "ids rise across restarts: {started} beside {now_micros}"
        );
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::Next);
        assert_eq!(state.instances().revision, started + 1);
    }

    #[test]
    fn each_change_takes_the_revision_its_stamp_says() {
        let mut state = State::starting_at(
            PatchSender::inert(),
            Eviction {
                failures: 1,
                deregister_after: Duration::from_secs(60),
                flap_threshold: 0,
                flap_window: Duration::from_secs(60),
            },
            10,
        );
        state.apply_registered(checked("A"), SystemTime::now(), Stamp::At(12));
        assert_eq!(state.instances().revision, 12);
        // Live only: shown, but not history, so the revision stays.
        state.apply_status(URL, Status::Critical, Cause::Replicated, Stamp::Live);
        assert_eq!(state.instances().revision, 12);
        assert_eq!(info(&state).status, Status::Critical);
        state
            .apply_removed(URL, LeaveReason::Deregistered, Stamp::At(15))
            .unwrap();
        assert_eq!(state.instances().revision, 15);
        assert_eq!(
            state.apply_removed(URL, LeaveReason::Deregistered, Stamp::Next),
            Err(StoreError::UnknownInstance(URL.to_owned()))
        );
    }
}
