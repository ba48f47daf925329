//! The registry's event journal: every change gets the next id, is kept for replay, and
//! is broadcast to live subscribers (the SSE streams).
//!
//! An event's id is `<revision>.<index>` ([`EventId`]): the revision of the change it
//! reports, and its place among that revision's events (one etcd transaction can make
//! several, such as a renewal and a recovery). Every node of a cluster makes the same
//! events from the same revisions in the same order, so an id names one event on every
//! node, and a stream resumed at any id, on any node, gets each later event once. Two
//! kinds of event are *live only* ([`Journal::push_live`]): sent to live streams without
//! an id of their own, never replayed. They are a heartbeat round of a cluster (the
//! leader's measurement, sent to every node outside etcd: a resuming client receives the
//! next round), and the events a node's copy makes when it loads a whole state (not the
//! history, whose ids name the real changes: a client resuming from before gets that
//! history, or a snapshot).
//!
//! Revisions start at the Unix time in microseconds, so they keep increasing across
//! restarts of the registry, and a client resuming from a revision of an earlier run is
//! sent a fresh snapshot rather than unrelated events. The journal keeps the events of the
//! last [`RETAIN_FOR`] (replay serves clients that reconnect, within seconds), at most
//! [`RETAINED_EVENTS`] of them, so its memory stops growing once it has run that long;
//! heartbeat rounds, which can be large, are additionally capped at
//! [`RETAINED_CHECK_RESULTS`] results in all, the oldest dropped first (a client resuming
//! past them misses only those coalesced heartbeat results).

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use tokio::sync::broadcast;
use wire::registry::RegistryEvent;

/// How long events are kept for replay.
pub const RETAIN_FOR: Duration = Duration::from_secs(60);
/// How many events are kept for replay, at most.
pub const RETAINED_EVENTS: usize = 10_000;
/// How many heartbeat results the retained events may hold in all.
pub const RETAINED_CHECK_RESULTS: usize = 200_000;
/// How many events a live subscriber may fall behind before it is resynchronised.
const LIVE_BUFFER: usize = 4096;

/// Which event this is: the revision of the change it reports, and its index among that
/// revision's events. Written `<revision>.<index>` (the SSE id). A plain `<revision>`
/// means every event of that revision: the id of a snapshot of a state loaded at it, and
/// what earlier versions sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub revision: u64,
    pub index: u32,
}

impl EventId {
    /// Every event of `revision`, whatever their number: a state loaded at `revision`.
    pub fn all_of(revision: u64) -> EventId {
        EventId {
            revision,
            index: u32::MAX,
        }
    }

    fn first_of(revision: u64) -> EventId {
        EventId { revision, index: 0 }
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.index == u32::MAX {
            write!(f, "{}", self.revision)
        } else {
            write!(f, "{}.{}", self.revision, self.index)
        }
    }
}

impl std::str::FromStr for EventId {
    type Err = std::num::ParseIntError;

    fn from_str(id: &str) -> Result<EventId, Self::Err> {
        let id = id.trim();
        Ok(match id.split_once('.') {
            Some((revision, index)) => EventId {
                revision: revision.parse()?,
                index: index.parse()?,
            },
            None => EventId::all_of(id.parse()?),
        })
    }
}

/// An event, serialised once for every subscriber.
#[derive(Debug)]
pub struct Entry {
    /// Its id; for a live-only event, the id of the event before it.
    pub id: EventId,
    /// It was pushed live only ([`Journal::push_live`]): sent without an id, never replayed.
    pub live_only: bool,
    /// The SSE event name.
    pub name: &'static str,
    /// The event as JSON.
    pub json: String,
    /// Heartbeat results it holds (its weight against [`RETAINED_CHECK_RESULTS`]).
    results: usize,
    at: Instant,
}

impl Entry {
    fn new(id: EventId, live_only: bool, event: &RegistryEvent) -> Entry {
        let results = match event {
            RegistryEvent::Heartbeats { results, .. } => results.len(),
            _ => 0,
        };
        Entry {
            id,
            live_only,
            name: event.name(),
            json: serde_json::to_string(event).expect("registry events serialise"),
            results,
            at: Instant::now(),
        }
    }
}

/// What a new subscriber gets: the events to send first, then the live feed.
pub struct Subscription {
    /// A snapshot, or the retained events after the subscriber's last seen revision.
    pub backlog: Vec<Arc<Entry>>,
    pub live: broadcast::Receiver<Arc<Entry>>,
}

/// The registry's numbered history of changes: the backlog a resuming event stream is
/// replayed from, and the broadcast that live streams follow.
pub struct Journal {
    /// The id of the latest event.
    latest: EventId,
    retained: VecDeque<Arc<Entry>>,
    retained_results: usize,
    /// Events up to this id may have been evicted (by age or count).
    evicted_through: EventId,
    /// How long events are kept ([`RETAIN_FOR`]).
    retain_for: Duration,
    live: broadcast::Sender<Arc<Entry>>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new()
    }
}

/// How far above the last recorded id a run starts when the clock is behind it: rounds of
/// checks take ids too and are not recorded, and no run makes 2^32 of them (136 years of
/// one a second).
pub const FLOOR_MARGIN: u64 = 1 << 32;

impl Journal {
    pub fn new() -> Journal {
        Journal::retaining_for(RETAIN_FOR)
    }

    /// A journal whose history begins at `revision`: a replicated store's, whose events
    /// take the revisions of the changes they report ([`Journal::push_at`]).
    pub fn starting_at(revision: u64) -> Journal {
        Journal::from(revision, RETAIN_FOR)
    }

    /// A journal that numbers its own events from the time it starts, or, if the clock
    /// is not past `floor` (the revision of the last id a registry's history kept: the
    /// clock went back), from [`FLOOR_MARGIN`] above it, so that every id of a run rises
    /// past the last run's: a client resuming from one gets a snapshot.
    pub fn numbering_after(floor: u64) -> Journal {
        let journal = Journal::new();
        if journal.latest.revision > floor {
            return journal;
        }
        Journal::from(floor.saturating_add(FLOOR_MARGIN), RETAIN_FOR)
    }

    /// A journal that keeps events for `retain_for`.
    fn retaining_for(retain_for: Duration) -> Journal {
        let start = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        Journal::from(start, retain_for)
    }

    fn from(start: u64, retain_for: Duration) -> Journal {
        Journal {
            latest: EventId::all_of(start),
            retained: VecDeque::new(),
            retained_results: 0,
            evicted_through: EventId::all_of(start),
            retain_for,
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }

    /// The revision of the latest event.
    pub fn revision(&self) -> u64 {
        self.latest.revision
    }

    /// The id of the latest event.
    pub fn latest(&self) -> EventId {
        self.latest
    }

    /// Appends the event `make` builds for the next revision; returns it (serialised
    /// for the subscribers), for the caller to take back what it holds.
    pub fn push(&mut self, make: impl FnOnce(u64) -> RegistryEvent) -> RegistryEvent {
        self.push_at(self.latest.revision + 1, make)
    }

    /// Appends the event `make` builds for `revision`, the revision of the replicated
    /// change it reports. Several events may share one (one transaction changed several
    /// things): each takes the next index. A revision below the latest is taken as the
    /// latest, so ids never go back. Returns the event, as [`Journal::push`] does.
    pub fn push_at(
        &mut self,
        revision: u64,
        make: impl FnOnce(u64) -> RegistryEvent,
    ) -> RegistryEvent {
        self.latest = if revision > self.latest.revision {
            EventId::first_of(revision)
        } else {
            EventId {
                revision: self.latest.revision,
                // Saturating: only the events a state loaded at this revision makes (which
                // are never replayed) can come after `all_of` it.
                index: self.latest.index.saturating_add(1),
            }
        };
        let event = make(self.latest.revision);
        let entry = Arc::new(Entry::new(self.latest, false, &event));
        self.retained_results += entry.results;
        self.retained.push_back(entry.clone());
        while self.retained.len() > RETAINED_EVENTS
            || self
                .retained
                .front()
                .is_some_and(|old| old.at.elapsed() > self.retain_for)
        {
            let Some(old) = self.retained.pop_front() else {
                break;
            };
            self.retained_results -= old.results;
            self.evicted_through = old.id;
        }
        while self.retained_results > RETAINED_CHECK_RESULTS {
            let Some(index) = self.retained.iter().position(|e| e.results > 0) else {
                break;
            };
            if let Some(old) = self.retained.remove(index) {
                self.retained_results -= old.results;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.live.send(entry);
        event
    }

    /// Sends the event `make` builds to live subscribers only: no id of its own, never
    /// retained, never replayed (a cluster's heartbeat round: see the module docs).
    pub fn push_live(&mut self, make: impl FnOnce(u64) -> RegistryEvent) {
        let event = make(self.latest.revision);
        let _ = self
            .live
            .send(Arc::new(Entry::new(self.latest, true, &event)));
    }

    /// Forgets the events up to `revision`: they were made by loading a state, not by the
    /// changes that led to it, so no subscriber is replayed them (one from before is sent
    /// a snapshot, or the real history from elsewhere).
    pub fn begin_at(&mut self, revision: u64) {
        self.evicted_through = self.evicted_through.max(EventId::all_of(revision));
        self.latest = self.latest.max(EventId::all_of(revision));
        while self
            .retained
            .front()
            .is_some_and(|e| e.id.revision <= revision)
        {
            if let Some(old) = self.retained.pop_front() {
                self.retained_results -= old.results;
            }
        }
    }

    /// Whether a subscriber that last saw `seen` can be replayed what followed (else it is
    /// sent a snapshot).
    pub fn replays(&self, seen: EventId) -> bool {
        seen >= self.evicted_through && seen.revision <= self.latest.revision
    }

    /// The live feed from now on, and the id of the event it follows.
    pub fn live(&self) -> (EventId, broadcast::Receiver<Arc<Entry>>) {
        (self.latest, self.live.subscribe())
    }

    /// Subscribes from `last_seen`. `snapshot` builds the snapshot event for the current
    /// revision, if one is needed. Call under the same lock as [`Journal::push`], so that
    /// nothing falls between the backlog and the live feed.
    pub fn subscribe(
        &self,
        last_seen: Option<EventId>,
        snapshot: impl FnOnce(u64) -> RegistryEvent,
    ) -> Subscription {
        let live = self.live.subscribe();
        let backlog = match last_seen {
            Some(seen) if self.replays(seen) => {
                let start = self.retained.partition_point(|e| e.id <= seen);
                self.retained.range(start..).cloned().collect()
            }
            _ => vec![Arc::new(Entry::new(
                self.latest,
                false,
                &snapshot(self.latest.revision),
            ))],
        };
        Subscription { backlog, live }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::registry::{LeaveReason, RegistryEvent};

    fn left(revision: u64) -> RegistryEvent {
        RegistryEvent::Deregistered {
            revision,
            url: format!("http://x/{revision}"),
            name: "S".into(),
            reason: LeaveReason::Deregistered,
        }
    }

    fn snapshot(revision: u64) -> RegistryEvent {
        RegistryEvent::Snapshot {
            revision,
            instances: vec![],
        }
    }

    #[test]
    fn revisions_increase_and_a_resume_replays_what_followed() {
        let mut journal = Journal::new();
        let start = journal.revision();
        for _ in 0..5 {
            journal.push(left);
        }
        assert_eq!(journal.revision(), start + 5);
        let sub = journal.subscribe(Some(EventId::all_of(start + 2)), snapshot);
        let revisions: Vec<u64> = sub.backlog.iter().map(|e| e.id.revision).collect();
        assert_eq!(revisions, vec![start + 3, start + 4, start + 5]);
        assert!(
            journal
                .subscribe(Some(journal.latest()), snapshot)
                .backlog
                .is_empty()
        );
    }

    #[test]
    fn an_unknown_or_evicted_revision_gets_a_snapshot() {
        let mut journal = Journal::new();
        let start = journal.revision();
        for _ in 0..RETAINED_EVENTS + 10 {
            journal.push(left);
        }
        for seen in [None, Some(start + 5), Some(journal.revision() + 1), Some(3)] {
            let sub = journal.subscribe(seen.map(EventId::all_of), snapshot);
            assert_eq!(sub.backlog.len(), 1, "{seen:?}");
            assert_eq!(sub.backlog[0].name, "snapshot");
            assert_eq!(sub.backlog[0].id, journal.latest());
        }
        // The oldest still retained can be resumed from.
        let sub = journal.subscribe(Some(EventId::all_of(start + 10)), snapshot);
        assert_eq!(sub.backlog.len(), RETAINED_EVENTS);
    }

    #[test]
    fn events_older_than_the_retention_are_dropped() {
        let mut journal = Journal::retaining_for(Duration::from_millis(30));
        let start = journal.revision();
        for _ in 0..3 {
            journal.push(left);
        }
        std::thread::sleep(Duration::from_millis(50));
        journal.push(left);
        assert_eq!(journal.retained.len(), 1);
        // A client that last saw one of the dropped events gets a snapshot.
        let sub = journal.subscribe(Some(EventId::all_of(start + 1)), snapshot);
        assert_eq!(sub.backlog.len(), 1);
        assert_eq!(sub.backlog[0].name, "snapshot");
        // One that saw the last dropped event resumes with what followed.
        let sub = journal.subscribe(Some(EventId::all_of(start + 3)), snapshot);
        assert_eq!(sub.backlog.len(), 1);
        assert_eq!(sub.backlog[0].id.revision, start + 4);
    }

    #[test]
    fn heartbeat_rounds_are_capped_by_their_results() {
        let mut journal = Journal::new();
        let round = |revision| RegistryEvent::Heartbeats {
            revision,
            results: vec![
                wire::registry::CheckResult {
                    url: "u".into(),
                    at: "t".into(),
                    ok: true,
                    latency_ms: None,
                    error: None,
                };
                RETAINED_CHECK_RESULTS / 4
            ],
        };
        journal.push(left);
        for _ in 0..10 {
            journal.push(round);
        }
        assert!(journal.retained_results <= RETAINED_CHECK_RESULTS);
        assert_eq!(journal.retained.iter().filter(|e| e.results > 0).count(), 4);
        assert_eq!(journal.retained.front().unwrap().name, "deregistered");
    }

    #[test]
    fn live_subscribers_get_later_events() {
        let mut journal = Journal::new();
        let mut sub = journal.subscribe(None, snapshot);
        journal.push(left);
        let entry = sub.live.try_recv().unwrap();
        assert_eq!(entry.id, journal.latest());
        assert!(entry.json.contains(r#""Type":"deregistered""#));
    }

    #[test]
    fn events_of_one_revision_have_their_own_ids_and_a_resume_at_each_misses_none() {
        let mut journal = Journal::starting_at(10);
        journal.push_at(11, left);
        for _ in 0..3 {
            journal.push_at(12, left);
        }
        journal.push_at(13, left);
        let ids: Vec<String> = journal.retained.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["11.0", "12.0", "12.1", "12.2", "13.0"]);
        for (n, seen) in ids.iter().enumerate() {
            let sub = journal.subscribe(Some(seen.parse().unwrap()), snapshot);
            let after: Vec<String> = sub.backlog.iter().map(|e| e.id.to_string()).collect();
            assert_eq!(after, ids[n + 1..], "resumed at {seen}");
        }
        // A plain revision, as earlier versions sent, is every event of it.
        let sub = journal.subscribe(Some("12".parse().unwrap()), snapshot);
        assert_eq!(sub.backlog.len(), 1);
        assert_eq!(sub.backlog[0].id.to_string(), "13.0");
        assert!("12.x".parse::<EventId>().is_err());
        assert!("".parse::<EventId>().is_err());
    }

    #[test]
    fn a_live_only_event_takes_no_id_and_is_never_replayed() {
        let mut journal = Journal::starting_at(10);
        journal.push_at(11, left);
        let mut sub = journal.subscribe(None, snapshot);
        journal.push_live(|revision| RegistryEvent::Heartbeats {
            revision,
            results: vec![],
        });
        journal.push_at(11, left);
        let live = sub.live.try_recv().unwrap();
        assert!(live.live_only);
        assert_eq!(live.id.to_string(), "11.0");
        assert_eq!(sub.live.try_recv().unwrap().id.to_string(), "11.1");
        let replay = journal.subscribe(Some("11.0".parse().unwrap()), snapshot);
        assert_eq!(replay.backlog.len(), 1);
        assert!(!replay.backlog[0].live_only);
    }
}
