//! The registry's event journal: every change gets the next revision, is kept for
//! replay, and is broadcast to live subscribers (the SSE streams).
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

use app::wire::registry::RegistryEvent;
use tokio::sync::broadcast;

/// How long events are kept for replay.
pub const RETAIN_FOR: Duration = Duration::from_secs(60);
/// How many events are kept for replay, at most.
pub const RETAINED_EVENTS: usize = 10_000;
/// How many heartbeat results the retained events may hold in all.
pub const RETAINED_CHECK_RESULTS: usize = 200_000;
/// How many events a live subscriber may fall behind before it is resynchronised.
const LIVE_BUFFER: usize = 4096;

/// An event, serialised once for every subscriber.
#[derive(Debug)]
pub struct Entry {
    pub revision: u64,
    /// The SSE event name.
    pub name: &'static str,
    /// The event as JSON.
    pub json: String,
    /// Heartbeat results it holds (its weight against [`RETAINED_CHECK_RESULTS`]).
    results: usize,
    at: Instant,
}

impl Entry {
    fn new(event: &RegistryEvent) -> Entry {
        let results = match event {
            RegistryEvent::Heartbeats { results, .. } => results.len(),
            _ => 0,
        };
        Entry {
            revision: event.revision(),
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
    /// The revision of the latest event.
    revision: u64,
    retained: VecDeque<Arc<Entry>>,
    retained_results: usize,
    /// Events at or below this revision may have been evicted (by age or count).
    evicted_through: u64,
    /// How long events are kept ([`RETAIN_FOR`]).
    retain_for: Duration,
    live: broadcast::Sender<Arc<Entry>>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new()
    }
}

impl Journal {
    pub fn new() -> Journal {
        Journal::retaining_for(RETAIN_FOR)
    }

    /// A journal whose history begins at `revision`: a replicated store's, whose events
    /// take the revisions of the changes they report ([`Journal::push_at`]).
    pub fn starting_at(revision: u64) -> Journal {
        Journal::from(revision, RETAIN_FOR)
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
            revision: start,
            retained: VecDeque::new(),
            retained_results: 0,
            evicted_through: start,
            retain_for,
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }

    /// The revision of the latest event.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Appends the event `make` builds for the next revision.
    pub fn push(&mut self, make: impl FnOnce(u64) -> RegistryEvent) {
        self.push_at(self.revision + 1, make);
    }

    /// Appends the event `make` builds for `revision`, the revision of the replicated
    /// change it reports. Several events may share one (one transaction changed several
    /// things); a revision below the latest is taken as the latest, so ids never go back.
    pub fn push_at(&mut self, revision: u64, make: impl FnOnce(u64) -> RegistryEvent) {
        self.revision = self.revision.max(revision);
        let entry = Arc::new(Entry::new(&make(self.revision)));
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
            self.evicted_through = old.revision;
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
    }

    /// Forgets the events up to `revision`: they were made by loading a state, not by the
    /// changes that led to it, so no subscriber is replayed them (one from before is sent
    /// a snapshot, or the real history from elsewhere).
    pub fn begin_at(&mut self, revision: u64) {
        self.evicted_through = self.evicted_through.max(revision);
        while self
            .retained
            .front()
            .is_some_and(|e| e.revision <= revision)
        {
            if let Some(old) = self.retained.pop_front() {
                self.retained_results -= old.results;
            }
        }
    }

    /// Whether a subscriber that last saw `seen` can be replayed what followed (else it is
    /// sent a snapshot).
    pub fn replays(&self, seen: u64) -> bool {
        seen >= self.evicted_through && seen <= self.revision
    }

    /// The live feed from now on, and the revision it follows.
    pub fn live(&self) -> (u64, broadcast::Receiver<Arc<Entry>>) {
        (self.revision, self.live.subscribe())
    }

    /// Subscribes from `last_seen`. `snapshot` builds the snapshot event for the current
    /// revision, if one is needed. Call under the same lock as [`Journal::push`], so that
    /// nothing falls between the backlog and the live feed.
    pub fn subscribe(
        &self,
        last_seen: Option<u64>,
        snapshot: impl FnOnce(u64) -> RegistryEvent,
    ) -> Subscription {
        let live = self.live.subscribe();
        let backlog = match last_seen {
            Some(seen) if self.replays(seen) => {
                let start = self.retained.partition_point(|e| e.revision <= seen);
                self.retained.range(start..).cloned().collect()
            }
            _ => vec![Arc::new(Entry::new(&snapshot(self.revision)))],
        };
        Subscription { backlog, live }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::wire::registry::{LeaveReason, RegistryEvent};

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
        let sub = journal.subscribe(Some(start + 2), snapshot);
        let revisions: Vec<u64> = sub.backlog.iter().map(|e| e.revision).collect();
        assert_eq!(revisions, vec![start + 3, start + 4, start + 5]);
        assert!(
            journal
                .subscribe(Some(start + 5), snapshot)
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
            let sub = journal.subscribe(seen, snapshot);
            assert_eq!(sub.backlog.len(), 1, "{seen:?}");
            assert_eq!(sub.backlog[0].name, "snapshot");
            assert_eq!(sub.backlog[0].revision, journal.revision());
        }
        // The oldest still retained can be resumed from.
        let sub = journal.subscribe(Some(start + 10), snapshot);
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
        let sub = journal.subscribe(Some(start + 1), snapshot);
        assert_eq!(sub.backlog.len(), 1);
        assert_eq!(sub.backlog[0].name, "snapshot");
        // One that saw the last dropped event resumes with what followed.
        let sub = journal.subscribe(Some(start + 3), snapshot);
        assert_eq!(sub.backlog.len(), 1);
        assert_eq!(sub.backlog[0].revision, start + 4);
    }

    #[test]
    fn heartbeat_rounds_are_capped_by_their_results() {
        let mut journal = Journal::new();
        let round = |revision| RegistryEvent::Heartbeats {
            revision,
            results: vec![
                app::wire::registry::CheckResult {
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
        assert_eq!(entry.revision, journal.revision());
        assert!(entry.json.contains(r#""Type":"deregistered""#));
    }
}
