//! The registry's history: every change it makes (registered, deregistered, a status
//! changed and why, expired, dropped), kept on disk with its time and event id, so that
//! "what happened at 03:00?" has an answer after any restart.
//!
//! | module | owns |
//! | --- | --- |
//! | [`record`] | one line of a file: the codec and its checksum |
//! | [`files`] | the folder, its lock, the segment files and their index |
//! | [`replay`] | what records mean: checkpoints, a replay, availability |
//! | [`query`] | the parameters of `/history` and `?at=`, and the 400s for bad ones |
//! | [`http`] | `GET /history`, `GET /history/availability`, and `?at=` on `/services` |
//!
//! **In a cluster** (a node on etcd: [`History::open_following`]), each node keeps files of
//! its own and records every change as it applies it from etcd, with etcd's revision as its
//! id and the time and reason noted beside the change in etcd, so every node's files say
//! the same. The files go on from where they ended; each time the node loads the whole
//! state (its start, a watch etcd compacted past), it first fills in from a peer what it
//! missed ([`crate::registry::etcd::fill`]), then compares the state with the files
//! ([`History::loaded`]): a `gap` if they differ or a peer said changes are missing.
//!
//! **Durability.** The registry's state hands each change to the history as it makes it,
//! under its lock and so in its order ([`super::state`]); whoever made a change then
//! writes every change handed over so far, with one `write` (a group commit, under an
//! async lock, as the log service's writer does: handing changes to a thread of its own
//! and waiting to hear back cost more than the writing), or, while another caller is
//! writing, waits for that write to end and writes what it did not take. A registration or deregistration
//! is acknowledged only once its record is in the file, so a crash of the process loses
//! none that was acknowledged; the file is synced every [`SYNC_EVERY`], so a power cut
//! loses at most that much.
//!
//! When a write or a sync fails (a full disk, a disk error), the history is *failing*:
//! `/healthz` says why, and a registration or deregistration whose record was not
//! written, or that comes while it fails, gets a 503 with the reason. The writer keeps its
//! own copy of every instance, so it tries again every [`SYNC_EVERY`] with a new segment
//! that starts with a `gap` checkpoint: it says how many changes went unrecorded (and
//! whether a failed sync or an unrecorded start may have lost more) and holds every
//! instance, so replays are right again from there. A failure that lost nothing starts
//! the new segment with a plain checkpoint.
//!
//! **What it costs a registration** (`bench registrations`: 16 clients on the same 2
//! cores, the same registry with `--history-dir off` beside it, each run the median of 4
//! pairs; runs of 2026-12-06). As it is, the registry with the history takes 72–81% of
//! the registrations per second it takes without (twelve runs, median 74.5%). The same
//! build against itself (both off, twice) gave 102% and 110%: runs of one build differ
//! by up to 8 points, as much as most differences below, so each build was run two to
//! four times. Builds that leave parts out: recording nothing, 92–100%; the state handing
//! every change to the history and each request taking the writer as now, but the writer
//! throwing the changes away, 88–91%; the changes handed over and written once a second
//! with no request waiting for them (acknowledged before they are written), 81–82%. So
//! no one part decides it: without the waiting, the writing (serialising, the writer's
//! copy, the file's `write`, the checkpoints) still holds the figure near 81%, and
//! without the writing, the handing over holds it near 90%. With the history, the
//! registry spends about a third more CPU per registration than with it off (`perf`),
//! and the bench's clients, which share the cores, about a sixth more, as their runtime
//! wakes for fewer answers at a time when answers come slower. A lighter wake-up than
//! the `written` watch for callers waiting for another's write, with no lock taken while
//! nothing has failed, gave 73–78% beside 72–77% for the unchanged build in the same
//! hour, so it was not kept. Requests taking the writer with a blocking lock instead of
//! the async one (no waiting task, no wake-up) gave 77–84% beside 74–79%: perhaps 5
//! points, within the spread, and a checkpoint under the writer (hundreds of
//! milliseconds with a million instances) would then stop every worker, so it was not
//! kept either. On this machine the target (90%) is out of reach while every
//! acknowledged change is recorded.
//!
//! **Who waits for the disk.** A change's caller, on an async worker, only appends lines.
//! Whatever waits for the disk or copies every instance (closing a segment and syncing
//! it, a checkpoint, trying again after a failure, the sync every second) is done by
//! [`History::maintain`] on a blocking thread, once a [`SYNC_EVERY`]. Only
//! [`History::begin`] and [`History::open_following`] open a file on the caller's thread,
//! once, at start-up.
//!
//! **Replay.** A checkpoint (every instance at that moment) starts each segment and
//! follows once the events since the last checkpoint weigh [`CHECKPOINT_RATIO`] times as
//! much as it did (at least [`MIN_CHECKPOINT_GAP`]; checked every [`SYNC_EVERY`], so a
//! second's events more at most). `?at=` reads from the last checkpoint before the
//! moment, so it reads about five listings' worth whatever the history's length, and
//! the checkpoints cost at most a quarter as much disk as the events.
//!
//! **What one client can cost.** A registration sent again unchanged (a service that
//! re-registers on a timer) is recorded without its registration, so it costs a line of
//! about 200 bytes however large its `Meta`. A segment holds at least
//! [`SEGMENT_CHECKPOINTS`] times its first checkpoint in events (up to half the max
//! size), so that many large instances do not make every segment a copy of them; when a
//! checkpoint alone passes an eighth of `--history-max-size`, the log says to raise it.
//!
//! **Retention.** A segment is closed once its events (not its checkpoints) reach an
//! eighth of `--history-max-size` (between 4 KiB and 64 MiB; or [`SEGMENT_CHECKPOINTS`]
//! times its first checkpoint if more, but never past half the max size) or span an
//! eighth of `--history-retention`; whole segments are deleted once their last record is
//! older than the retention, and the oldest while the folder weighs more than the size.
//! Queries never answer from beyond the retention, even before its file goes.

pub mod files;
pub mod http;
pub mod query;
pub mod record;
pub mod replay;

use std::{
    borrow::Cow,
    collections::VecDeque,
    fs::File,
    io::{self, Write as _},
    ops::ControlFlow,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use wire::registry::{
    HistoryEvent, HistoryKind, HistoryPage, InstanceAvailability, Registration, Status,
};

use super::journal::EventId;
use files::{Mark, OpenError, Segment};
use record::{Line, Tag};
use replay::{Checkpoint, LISTED_CHECKPOINT, Model, Rendered};

/// How often the open segment is synced to the disk, and how often a failing history
/// tries to write again.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);
/// The fewest bytes of events between two checkpoints: a registry of a few instances
/// would otherwise checkpoint after every event.
pub const MIN_CHECKPOINT_GAP: u64 = 64 * 1024;
/// A checkpoint follows once the events since the last weigh this many times as much:
/// a replay reads at most about five listings' worth, and checkpoints take at most a
/// quarter of the disk the events do. (At 1, `?at=` was 2.9× a live listing's p99, and
/// rendering checkpoints cost a fifth of the writer's time; at 2, `?at=` was 2.55×, and
/// each checkpoint held every registration back while it was written, 4% of the
/// registry's time at 16 clients registering.)
pub const CHECKPOINT_RATIO: u64 = 4;
/// The most one page of `GET /history` reads before it stops and says where to go on
/// (`Next`), so a page that matches little never reads the whole history at once.
pub const MAX_PAGE_SCAN_BYTES: u64 = 64 * 1024 * 1024;
/// The most one availability answer reads; a longer stretch is a 400 that asks for a
/// shorter one.
pub const MAX_AVAILABILITY_SCAN_BYTES: u64 = 256 * 1024 * 1024;
/// How long a caller waiting for another's write looks again regardless.
const RECHECK: Duration = Duration::from_millis(50);
/// How many queries may read the files at once; more wait for a turn.
pub const MAX_READS: usize = 4;
/// A segment's events weigh at least this many times its first checkpoint before it is
/// closed: 10,000 instances with the largest `Meta` make a checkpoint of hundreds of
/// megabytes, which a segment of 64 MiB would copy after every 64 MiB of events.
pub const SEGMENT_CHECKPOINTS: u64 = 4;

/// Where and how long the history is kept.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub dir: PathBuf,
    pub retention: Duration,
    pub max_bytes: u64,
}

/// A moment in the history: a time, or an event (what the registry showed just after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Microseconds since the Unix epoch.
    Time(u64),
    Id(EventId),
}

impl Point {
    /// Whether a record of `id` at `micros` comes after this point.
    fn before(self, id: EventId, micros: u64) -> bool {
        match self {
            Point::Time(time) => micros > time,
            Point::Id(target) => id > target,
        }
    }

    /// Whether a record of `id` at `micros` comes before this point.
    fn after(self, id: EventId, micros: u64) -> bool {
        match self {
            Point::Time(time) => micros < time,
            Point::Id(target) => id < target,
        }
    }
}

/// The instances as they were at a moment.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    /// Every instance, and the id of the last change before the moment.
    Known { id: EventId, model: Model },
    /// The moment is older than anything the history holds (kept since `begins`, in
    /// microseconds, if it holds anything).
    Before { begins: Option<u64> },
}

/// The registry's history on disk (see the module's doc): the way in for changes, the
/// writer, and the files' index for queries.
pub struct History {
    shared: Shared,
    /// Changes handed over and not yet written, in the order they were made.
    queue: Mutex<Vec<Message>>,
    /// An async lock: a change's caller waiting for another's write yields its worker
    /// rather than blocking it (blocking them cost a fifth of the registrations per
    /// second on two cores).
    writer: tokio::sync::Mutex<Writer>,
    /// The last change written (or found unwritable): a caller whose change another
    /// caller is writing waits for it to move, rather than queueing for the writer (each
    /// waiter taking the writer in turn only to find its change written was a chain of
    /// hand-overs that cost a quarter of the registrations per second at 16 clients).
    written: tokio::sync::watch::Sender<EventId>,
    /// Turns for the queries that read the files ([`MAX_READS`]).
    reads: Arc<tokio::sync::Semaphore>,
}

/// What the writer and the readers share.
pub struct Shared {
    config: HistoryConfig,
    /// A segment is closed at this size or this age.
    segment_bytes: u64,
    segment_micros: u64,
    /// Every segment, oldest first; the writer's is the last.
    index: RwLock<Vec<Segment>>,
    /// Why the last write failed, while it has not written since.
    failing: Mutex<Option<String>>,
    /// How many writes (or syncs) failed, and how many times etcd's revisions went back
    /// below the files': a reader compares it before and after a read ([`Shared::mark`]).
    failures: std::sync::atomic::AtomicU64,
    /// The changes that could not be recorded, so that their callers are told.
    unrecorded: Mutex<Unrecorded>,
    /// A handle on the open segment, for the sync (so a sync never holds the writer, nor
    /// this lock while it waits for the disk).
    syncing: Mutex<Option<Arc<File>>>,
    dirty: AtomicBool,
    /// Why this history takes no more changes, for good: etcd's revisions went back
    /// below its ids (see [`Writer::regress`]).
    regressed: Mutex<Option<String>>,
    /// Segments closed since the last sync, to sync then.
    closed: Mutex<Vec<File>>,
    /// A sync failed: what was acknowledged since the last good one may not be on the
    /// disk. The writer's next upkeep fails and takes up again with a `gap`.
    sync_failed: AtomicBool,
    /// Held while this registry uses the folder.
    _lock: File,
}

/// The changes that could not be recorded: one stretch a failure, from the first change
/// lost to the last before the history wrote again (no change in between is written).
#[derive(Debug, Default)]
struct Unrecorded {
    /// The latest stretches: first and last id, and why. At most [`UNRECORDED_KEPT`].
    stretches: VecDeque<(EventId, EventId, String)>,
    /// The last id of the stretches let go: whether a change up to it was recorded can no
    /// longer be told.
    forgotten: Option<EventId>,
}

impl Unrecorded {
    /// Why the change `id` was not recorded, if it was not (or may not have been).
    fn why(&self, id: EventId) -> Option<String> {
        if let Some((_, _, error)) = self
            .stretches
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&id))
        {
            return Some(format!(
                "the change was made, but the registry's history could not record it: {error}"
            ));
        }
        self.forgotten.filter(|last| id <= *last).map(|_| {
            format!(
                "the change was made, but whether the registry's history recorded it is no \
                 longer known: its writes failed more than {UNRECORDED_KEPT} times since"
            )
        })
    }
}

impl std::ops::Deref for History {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// A change as the registry's state hands it over: a history event without its id and
/// time, which the history sets. Built from what the journal's event held, so recording
/// it copies little.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: HistoryKind,
    /// The instance's service and URL; for `registered`, taken from `registration`.
    pub service: String,
    pub instance: String,
    /// Its status after the change, when it has one.
    pub status: Option<Status>,
    pub reason: Cow<'static, str>,
    /// What it registered with (`registered` only).
    pub registration: Option<Registration>,
}

impl Default for Change {
    fn default() -> Change {
        Change {
            kind: HistoryKind::Registered,
            service: String::new(),
            instance: String::new(),
            status: None,
            reason: Cow::Borrowed(""),
            registration: None,
        }
    }
}

/// An event line's JSON: what is not in the line's head (its id and time) and not the
/// registration (appended as it was serialised for the writer's copy).
#[derive(Serialize)]
struct EventJson<'a> {
    #[serde(rename = "Kind")]
    kind: HistoryKind,
    #[serde(rename = "Service")]
    service: &'a str,
    #[serde(rename = "Instance")]
    instance: &'a str,
    #[serde(rename = "Status", skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(rename = "Reason")]
    reason: &'a str,
    #[serde(rename = "RegisteredAt", skip_serializing_if = "Option::is_none")]
    registered_at: Option<String>,
}

/// What is handed to the writer, in the order of the changes. `Begin` comes once a run:
/// boxing every change instead would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Message {
    /// The registry starts, empty, after `id`.
    Begin { id: EventId, at: SystemTime },
    /// The change `id` made at `at`.
    Change {
        id: EventId,
        at: SystemTime,
        change: Change,
    },
    /// A cluster's node loaded the whole state from etcd, at `id`: these `instances`;
    /// `missed`: why changes before it are missing, if they are.
    Loaded {
        id: EventId,
        at: SystemTime,
        instances: Vec<wire::registry::InstanceInfo>,
        missed: Option<String>,
    },
}

/// Microseconds since the Unix epoch.
pub fn micros(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// RFC 3339 in UTC with microseconds: an event's time.
pub fn micros_timestamp(micros: u64) -> String {
    humantime::format_rfc3339_micros(replay::time_of(micros)).to_string()
}

fn micros_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl History {
    /// Opens the history in `config.dir`: locks the folder, indexes its segments
    /// (counting the records it must skip) and applies the retention. Nothing is written
    /// until [`History::begin`].
    ///
    /// # Errors
    /// The folder cannot be created, read or locked, or another registry holds it.
    pub fn open(config: HistoryConfig) -> Result<History, OpenError> {
        let lock = files::lock(&config.dir)?;
        let io = |source| OpenError::Io {
            path: config.dir.clone(),
            source,
        };
        let mut index = Vec::new();
        let mut skipped = 0;
        for path in files::segments(&config.dir).map_err(io)? {
            let (segment, bad) = files::index(&path).map_err(io)?;
            skipped += bad;
            if segment.checkpoints.is_empty() {
                tracing::warn!(path = %path.display(), "a history segment without a checkpoint (torn at its start) is left out");
                continue;
            }
            index.push(segment);
        }
        if skipped > 0 {
            tracing::warn!(skipped, dir = %config.dir.display(), "history records torn or corrupt were skipped");
        }
        crate::ops::metrics::global()
            .history_records_skipped
            .inc_by(skipped);
        let last_micros = index.last().map_or(0, |s: &Segment| s.last_micros);
        let shared = Shared {
            segment_bytes: (config.max_bytes / 8).clamp(4 * 1024, 64 * 1024 * 1024),
            segment_micros: micros_of(config.retention / 8).max(1),
            index: RwLock::new(index),
            failing: Mutex::new(None),
            failures: std::sync::atomic::AtomicU64::new(0),
            unrecorded: Mutex::new(Unrecorded::default()),
            syncing: Mutex::new(None),
            dirty: AtomicBool::new(false),
            sync_failed: AtomicBool::new(false),
            regressed: Mutex::new(None),
            closed: Mutex::new(Vec::new()),
            _lock: lock,
            config,
        };
        shared.trim();
        let writer = Writer {
            file: None,
            bytes: 0,
            first_checkpoint: 0,
            segment_events: 0,
            opened: 0,
            since_checkpoint: 0,
            checkpoint_bytes: 0,
            last: (EventId::all_of(0), last_micros),
            lost: 0,
            losing: false,
            unsure: None,
            tried: None,
            warned_size: false,
            lines: Vec::new(),
            spare: Vec::new(),
            scratch: Vec::new(),
            model: Rendered::default(),
        };
        Ok(History {
            shared,
            queue: Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(writer),
            written: tokio::sync::watch::Sender::new(EventId::all_of(0)),
            reads: Arc::new(tokio::sync::Semaphore::new(MAX_READS)),
        })
    }

    /// [`History::open`], for a node of a cluster on etcd: the registry's state outlives
    /// the node, so its history goes on from where its files end (read now), and each load of the whole state from etcd is compared with it
    /// ([`History::loaded`]) instead of a run starting empty ([`History::begin`]).
    ///
    /// # Errors
    /// As [`History::open`].
    pub fn open_following(config: HistoryConfig) -> Result<History, OpenError> {
        let history = History::open(config)?;
        // At start-up, on the caller's thread, as `begin` is.
        history
            .writer
            .try_lock()
            .expect("nothing else holds a new history's writer")
            .go_on(&history.shared);
        Ok(history)
    }

    /// A cluster's node loaded the whole state from etcd at `id` (its start, or a watch
    /// that etcd compacted past): `instances`. If the files do not end with the same
    /// instances, or `missed` says why changes are missing (its peers could not give them
    /// all), a `gap` checkpoint says so and holds these (a `started` one, if the files
    /// held nothing); else nothing is written. Call in the order of the changes (under the
    /// state's lock); [`History::commit_blocking`] writes it.
    pub fn loaded(
        &self,
        id: EventId,
        at: SystemTime,
        instances: Vec<wire::registry::InstanceInfo>,
        missed: Option<String>,
    ) {
        self.queue.lock().push(Message::Loaded {
            id,
            at,
            instances,
            missed,
        });
    }

    /// Hands over `events`, copied from a peer's history (a cluster's node filling in what
    /// it missed), in order, up to the first that is not a change (a peer's own `gap` or
    /// `started`, whose instances a page does not carry). Returns how many it took.
    pub fn import(&self, events: Vec<HistoryEvent>) -> usize {
        let mut queue = self.queue.lock();
        let mut taken = 0;
        for event in events {
            if matches!(event.kind, HistoryKind::Gap | HistoryKind::Started) {
                break;
            }
            // A registration at the time it was made (a peer may have recorded it later).
            let made = event.registered_at.as_deref().unwrap_or(&event.at);
            let (Ok(id), Ok(at)) = (event.id.parse::<EventId>(), humantime::parse_rfc3339(made))
            else {
                break;
            };
            queue.push(Message::Change {
                id,
                at,
                change: Change {
                    kind: event.kind,
                    service: event.service,
                    instance: event.instance,
                    status: event.status,
                    reason: Cow::Owned(event.reason),
                    registration: event.registration,
                },
            });
            taken += 1;
        }
        taken
    }

    /// Starts this run's segment with a `started` checkpoint holding no instance (a
    /// registry's state in memory starts empty), as the last change before `id`. Opening
    /// the file waits for the disk on the caller's thread: this is called once, at
    /// start-up, before any change.
    pub fn begin(&self, id: EventId, at: SystemTime) {
        self.queue.lock().push(Message::Begin { id, at });
        // Should `maintain` hold the writer already, its round writes it: nothing is
        // written before it either way.
        if let Ok(mut writer) = self.writer.try_lock() {
            let last = self.write(&mut writer, true);
            drop(writer);
            self.wrote(last);
        }
    }

    /// The id of the last record kept, if any: a new run numbers its changes above it.
    pub fn last_id(&self) -> Option<EventId> {
        self.index.read().last().map(|segment| segment.last_id)
    }

    /// Hands over `change`, the change `id` made at `at`, to be written by the next
    /// [`History::commit`]. Call in the order of the changes (under the state's lock).
    pub fn record(&self, id: EventId, at: SystemTime, change: Change) {
        self.queue.lock().push(Message::Change { id, at, change });
    }

    /// Writes every change handed over so far, with one `write` (a group commit: the
    /// caller writes the others' too, and a caller that finds its change written by
    /// another returns at once). Only appends: what else is due (a checkpoint, a new
    /// segment, trying again after a failure) waits for [`History::maintain`].
    pub async fn commit(&self) {
        let last = self.write(&mut *self.writer.lock().await, false);
        self.wrote(last);
    }

    /// [`History::commit`], and then whatever else is due: a checkpoint, a new segment
    /// (syncing the last), or, for a failing history, trying again (at most once a
    /// [`SYNC_EVERY`]). For a thread that may block: [`History::maintain`]'s, a test's.
    ///
    /// # Panics
    /// Called on an async worker (tokio's `blocking_lock` refuses to block one).
    pub fn commit_blocking(&self) {
        let last = self.write(&mut self.writer.blocking_lock(), true);
        self.wrote(last);
    }

    /// `upkeep`: whether this thread may wait for the disk, to do what else is due.
    /// Returns the last change handled, for [`History::wrote`] once the writer is let go.
    fn write(&self, writer: &mut Writer, upkeep: bool) -> EventId {
        // The queue and the writer's spare swap places, so neither is allocated again.
        let mut batch = std::mem::take(&mut writer.spare);
        std::mem::swap(&mut batch, &mut *self.queue.lock());
        writer.handle(&self.shared, &mut batch, upkeep);
        // A batch far larger than usual (a fill from a peer) is not kept.
        if batch.capacity() > 4096 {
            batch = Vec::new();
        }
        writer.spare = batch;
        writer.last.0
    }

    /// Tells the callers waiting ([`History::recorded`]) that the changes up to `last` are
    /// handled: after the writer is let go, so a waiter whose change the write did not
    /// take finds the writer free.
    fn wrote(&self, last: EventId) {
        self.written
            .send_modify(|written| *written = (*written).max(last));
    }

    /// Writes what was handed over up to the change `id`, and says whether it is in the
    /// file.
    ///
    /// # Errors
    /// Its record could not be written (the history was failing); the reason says why.
    pub async fn recorded(&self, id: EventId) -> Result<(), String> {
        // Ids below the files' cannot be written in order: none is recorded.
        if let Some(reason) = self.regressed.lock().clone() {
            return Err(format!(
                "the change was made, but the registry's history could not record it: {reason}"
            ));
        }
        let mut written = self.written.subscribe();
        // Seen before the writer is tried, so a write that ends meanwhile still wakes it.
        while *written.borrow_and_update() < id {
            if let Ok(mut writer) = self.writer.try_lock() {
                // Everything handed over so far: this change too, if it made a record.
                let last = self.write(&mut writer, false);
                drop(writer);
                self.wrote(last);
                break;
            }
            // Another caller (or the upkeep) is writing: it may take this change too; if
            // not, this caller writes once it has done. (Looked at again after a while
            // regardless: a `commit` waiting for the writer may be dropped with it.)
            let _ = tokio::time::timeout(RECHECK, written.changed()).await;
        }
        match self.unrecorded.lock().why(id) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Every [`SYNC_EVERY`], on a blocking thread: writes what is due
    /// ([`History::commit_blocking`]), syncs, and applies the retention; until `stop`,
    /// then once more. A task of the registry's background.
    pub async fn maintain(self: Arc<History>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                () = stop.cancelled() => true,
            };
            let history = self.clone();
            // A sync waits for the disk: never on an async worker.
            let _ = tokio::task::spawn_blocking(move || {
                history.commit_blocking();
                history.sync();
                history.trim();
            })
            .await;
            if stopping {
                return;
            }
        }
    }

    /// A turn to read the files ([`MAX_READS`] at once).
    pub(crate) async fn turn(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.reads
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

/// A history dropped without [`History::maintain`]'s last round (a test's) still writes
/// what it was handed.
impl Drop for History {
    fn drop(&mut self) {
        // Nothing else can hold the writer: the history is going (a `try_lock`, since a
        // drop may run on an async worker).
        if let Ok(mut writer) = self.writer.try_lock() {
            self.write(&mut writer, false);
        }
        // Segments closed since the last sync, synced now (a failure has no one to tell).
        for file in std::mem::take(&mut *self.closed.lock()) {
            let _ = file.sync_data();
        }
    }
}

impl Shared {
    /// The folder it is kept in.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Why the history cannot be written, if it cannot (`/healthz`, and the 503s).
    pub fn failing(&self) -> Option<String> {
        self.failing.lock().clone()
    }

    /// Syncs what was written since the last sync to the disk, if anything.
    pub fn sync(&self) {
        let closed = std::mem::take(&mut *self.closed.lock());
        for file in closed {
            if let Err(err) = file.sync_data() {
                self.sync_refused(&err);
            }
        }
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let file = self.syncing.lock().clone();
        if let Some(file) = file
            && let Err(err) = file.sync_data()
        {
            self.sync_refused(&err);
        }
    }

    /// A sync failed: Linux may have dropped the pages it could not write, so the history
    /// is failing until the writer takes up again, with a `gap` that says so.
    fn sync_refused(&self, err: &io::Error) {
        self.failed("sync", err);
        self.sync_failed.store(true, Ordering::Release);
    }

    /// The history is failing: it could not `doing` (write, sync) for `err`. Said once, in
    /// the log, the metric and `/healthz`.
    fn failed(&self, doing: &str, err: &io::Error) {
        let reason = format!(
            "cannot {doing} the registry's history in {}: {err}",
            self.config.dir.display()
        );
        tracing::error!("{reason}");
        crate::ops::metrics::global().history_write_failures.inc();
        *self.failing.lock() = Some(reason);
        self.failures.fetch_add(1, Ordering::AcqRel);
    }

    /// A mark of the history's failures, `None` while it fails: two equal marks say that
    /// it was not failing at either and no write or sync failed between them, so a page
    /// read between them lacks no change handed over before it (as `GET /history`'s
    /// [`wire::registry::APPLIED_HEADER`] promises). A disk error the kernel has not
    /// reported yet shows at the next sync, within [`SYNC_EVERY`].
    pub fn mark(&self) -> Option<u64> {
        let failures = self.failures.load(Ordering::Acquire);
        self.failing.lock().is_none().then_some(failures)
    }

    /// Deletes the segments past the retention (by age, then by size), never the last.
    pub fn trim(&self) {
        let oldest = micros(SystemTime::now()).saturating_sub(micros_of(self.config.retention));
        let mut gone = Vec::new();
        {
            let mut index = self.index.write();
            let mut total: u64 = index.iter().map(|s| s.bytes).sum();
            while index.len() > 1
                && (index[0].last_micros < oldest || total > self.config.max_bytes)
            {
                let segment = index.remove(0);
                total -= segment.bytes;
                gone.push(segment.path);
            }
        }
        for path in gone {
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %err, "cannot delete an old history segment");
            }
        }
    }

    /// When the history that is answered from begins (microseconds), if it holds anything.
    pub fn begins(&self) -> Option<u64> {
        let horizon = self.horizon();
        self.index
            .read()
            .first()
            .map(|s| s.first_micros().max(horizon))
    }

    /// The time before which nothing is answered.
    fn horizon(&self) -> u64 {
        micros(SystemTime::now()).saturating_sub(micros_of(self.config.retention))
    }
}

/// The writer: the open segment, and its own copy of every instance, from which it
/// writes checkpoints (and a `gap`'s, after a failure).
struct Writer {
    /// The open segment; none while the history is failing.
    file: Option<File>,
    /// Its length, the size of its first checkpoint, the bytes of events in it, and the
    /// time of its first record.
    bytes: u64,
    first_checkpoint: u64,
    segment_events: u64,
    opened: u64,
    /// Bytes of events since the last checkpoint, and that checkpoint's size.
    since_checkpoint: u64,
    checkpoint_bytes: u64,
    /// The id and time of the last change. Records never go back in time, even if the
    /// clock does, so the files stay in time order.
    last: (EventId, u64),
    /// Changes not recorded since the history began failing; whether it is losing them
    /// (from the first lost until it writes again); when it last tried.
    lost: u64,
    losing: bool,
    /// Why the files may not hold every change though none was counted lost (the start
    /// not recorded, a sync that failed): the next segment starts with a `gap` that says
    /// so.
    unsure: Option<&'static str>,
    tried: Option<Instant>,
    /// Whether the log was told that a checkpoint is too large for the max size.
    warned_size: bool,
    /// Lines not yet written.
    lines: Vec<u8>,
    /// An empty queue, kept to swap with the full one.
    spare: Vec<Message>,
    /// The registration being written, as JSON (kept, so it is not allocated each time).
    scratch: Vec<u8>,
    model: Rendered,
}

/// How many stretches of unrecorded changes are remembered for their callers: a stretch
/// is a failure, and a failing history tries again once a second, so about a minute's.
const UNRECORDED_KEPT: usize = 64;

/// What a `gap` says after a failed sync.
const SYNC_FAILED: &str =
    "a sync to the disk failed, so changes acknowledged since the one before may be lost";

/// The reason a registration sent again unchanged is recorded with (without its
/// registration: the one before holds).
pub const UNCHANGED: &str = "registered again, unchanged";

impl Writer {
    /// Writes `batch`; then, with `upkeep` (a thread that may wait for the disk), closes
    /// the segment, writes a checkpoint, or tries again, as due.
    fn handle(&mut self, shared: &Shared, batch: &mut Vec<Message>, upkeep: bool) {
        let mut pending = None;
        for message in batch.drain(..) {
            match message {
                Message::Loaded {
                    id,
                    at,
                    instances,
                    missed,
                } => {
                    self.write_lines(shared, &mut pending);
                    // Stopped for good: nothing more is written until the folder is moved.
                    if shared.regressed.lock().is_some() {
                        continue;
                    }
                    if id < self.last.0 {
                        self.regress(shared, id);
                        continue;
                    }
                    // A sync that failed since the last upkeep is taken in first, as the
                    // upkeep would (the segment let go, and the gap says so): else the
                    // upkeep after this load would close the segment it opens, with
                    // nothing left failing to try again.
                    if shared.sync_failed.swap(false, Ordering::AcqRel) {
                        self.unsure = Some(SYNC_FAILED);
                        if self.file.is_some() {
                            self.close(shared);
                        }
                    }
                    // A history failing until now (its files could not be gone on with,
                    // say) takes up again here, as a retry would, and says what it lost.
                    let failing = shared.failing().filter(|_| self.file.is_none());
                    let unrecorded = failing
                        .as_ref()
                        .filter(|_| self.lost > 0 || self.unsure.is_some());
                    let loaded = Rendered::of(&instances);
                    let empty = shared.index.read().is_empty();
                    let same = !empty
                        && unrecorded.is_none()
                        && self.model.same(&loaded)
                        && missed.is_none();
                    let before = self.last.0;
                    self.model = loaded;
                    let micros = self.stamp(id, at);
                    let (kind, reason) = if let Some(why) = unrecorded.filter(|_| !empty) {
                        // The changes it missed while it was not applying them (if the
                        // fill from its peers said some) are lost too: said as well.
                        let peers = missed
                            .as_ref()
                            .map(|partly| {
                                format!(
                                    "; changes this node missed are lost too, as its peers \
                                     could not give them all ({partly})"
                                )
                            })
                            .unwrap_or_default();
                        (
                            HistoryKind::Gap,
                            format!(
                                "{}{peers}: every instance is listed as etcd held it at \
                                 revision {}",
                                self.unrecorded_reason(why),
                                id.revision
                            ),
                        )
                    } else if empty {
                        (
                            HistoryKind::Started,
                            "this node began keeping the cluster's history: every instance \
                             is listed as etcd held it"
                                .to_owned(),
                        )
                    } else {
                        let peers = match &missed {
                            Some(why) => format!("its peers could not give them all ({why})"),
                            None => "no peer gave them".to_owned(),
                        };
                        (
                            HistoryKind::Gap,
                            format!(
                                "this node did not see every change after event {before} (it \
                                 was stopped, or cut off from etcd while etcd compacted what it \
                                 missed), and {peers}: every instance is listed as etcd held \
                                 it at revision {}",
                                id.revision
                            ),
                        )
                    };
                    let event = HistoryEvent {
                        id: id.to_string(),
                        at: micros_timestamp(micros),
                        kind,
                        service: String::new(),
                        instance: String::new(),
                        status: None,
                        reason,
                        registration: None,
                        registered_at: None,
                    };
                    let listed = (!same).then_some(&event);
                    let written = if self.file.is_none() {
                        self.open_segment(shared, listed)
                    } else if listed.is_some() {
                        self.checkpoint(shared, listed)
                    } else {
                        Ok(())
                    };
                    match written {
                        Ok(()) if failing.is_some() => self.recovered(shared),
                        Ok(()) => {}
                        Err(err) => {
                            self.unsure =
                                Some("this node loaded etcd's state, and that was not recorded");
                            self.fail(shared, &err);
                        }
                    }
                }
                Message::Begin { id, at } => {
                    self.write_lines(shared, &mut pending);
                    self.model = Rendered::default();
                    if micros(at) < self.last.1 {
                        tracing::warn!(
                            behind = ?Duration::from_micros(self.last.1 - micros(at)),
                            "the clock is behind the history's last record: records take that \
                             record's time until the clock passes it"
                        );
                    }
                    let micros = self.stamp(id, at);
                    let started = HistoryEvent {
                        id: id.to_string(),
                        at: micros_timestamp(micros),
                        kind: HistoryKind::Started,
                        service: String::new(),
                        instance: String::new(),
                        status: None,
                        reason: "the registry started; its state is kept in memory, so every \
                                 instance registers again"
                            .into(),
                        registration: None,
                        registered_at: None,
                    };
                    if let Err(err) = self.open_segment(shared, Some(&started)) {
                        self.unsure = Some("the registry started, and its start was not recorded");
                        self.fail(shared, &err);
                    }
                }
                Message::Change { id, at, change } => {
                    // Ids only go up in the files (a change a peer gave that this node
                    // had loaded past is not written twice).
                    if id <= self.last.0 {
                        if shared.regressed.lock().is_some() {
                            // Its caller is told: the history can take no change now.
                            self.lose(shared, id, id, 1);
                        }
                        continue;
                    }
                    let micros = self.stamp(id, at);
                    // Recorded later than it was made (in a cluster, a registration
                    // stamped on one node before a change another node noted): the line
                    // says when it registered.
                    let made = self::micros(at);
                    let registered_at = (change.kind == HistoryKind::Registered && made != micros)
                        .then(|| crate::registry::state::timestamp(at));
                    // The registration is serialised once, into a buffer kept for it, for
                    // the line and the copy.
                    let mut scratch = std::mem::take(&mut self.scratch);
                    scratch.clear();
                    if let Some(registration) = &change.registration {
                        serde_json::to_writer(&mut scratch, registration)
                            .expect("registrations serialise");
                    }
                    let mut registration = change
                        .registration
                        .is_some()
                        .then(|| std::str::from_utf8(&scratch).expect("JSON is UTF-8"));
                    let (service, instance) = match &change.registration {
                        Some(registration) => {
                            (&registration.service_name, &registration.service_url)
                        }
                        None => (&change.service, &change.instance),
                    };
                    // Sent again unchanged: the line need not carry it again.
                    let unchanged =
                        registration.is_some_and(|json| self.model.holds(instance, json));
                    if unchanged {
                        registration = None;
                    }
                    if self.file.is_some() {
                        let event = EventJson {
                            kind: change.kind,
                            service,
                            instance,
                            status: change.status,
                            reason: if unchanged { UNCHANGED } else { &change.reason },
                            registered_at: registered_at.clone(),
                        };
                        record::encode_with(Tag::Event, id, micros, &mut self.lines, |out| {
                            serde_json::to_writer(&mut *out, &event)
                                .expect("history events serialise");
                            if let Some(registration) = registration {
                                out.pop();
                                out.extend_from_slice(br#","Registration":"#);
                                out.extend_from_slice(registration.as_bytes());
                                out.push(b'}');
                            }
                        });
                        let (_, count) = pending.get_or_insert((id, 0));
                        *count += 1;
                    } else {
                        // Failing: the copy has it, for the `gap` checkpoint.
                        self.lose(shared, id, id, 1);
                    }
                    self.model.apply(
                        if registered_at.is_some() {
                            made
                        } else {
                            micros
                        },
                        change.kind,
                        instance,
                        change.status,
                        registration,
                    );
                    self.scratch = scratch;
                    // A checkpoint due in the middle of a long batch is written there, so
                    // that a replay never reads much more than the rule allows.
                    if upkeep
                        && self.since_checkpoint + self.lines.len() as u64 >= self.checkpoint_gap()
                    {
                        self.write_lines(shared, &mut pending);
                        self.upkeep(shared);
                    }
                }
            }
        }
        self.write_lines(shared, &mut pending);
        if upkeep {
            self.upkeep(shared);
        }
    }

    /// A cluster's node goes on from where its files end: their instances are the model,
    /// and a new segment starts with them (a plain checkpoint), for what it fills in from
    /// its peers and what it applies next. A node whose files hold nothing opens its first
    /// segment when it first loads the state (a `started`).
    fn go_on(&mut self, shared: &Shared) {
        let Some(last) = shared.index.read().last().map(|segment| segment.last_id) else {
            return;
        };
        self.model = match shared.last_model() {
            Ok(model) => model,
            Err(err) => {
                // Unreadable: the next load then differs, and says so with a gap.
                tracing::warn!(%err, "cannot read where the registry's history ends");
                Rendered::default()
            }
        };
        self.last.0 = last;
        if let Err(err) = self.open_segment(shared, None) {
            self.unsure = Some("this node could not go on with its history");
            self.fail(shared, &err);
        }
    }

    /// etcd's revision `id` is below the ids this history holds: etcd's data was replaced,
    /// and the files cannot go on in order. The history takes no more changes (each is a
    /// 503 that says why) until the folder is moved aside.
    fn regress(&mut self, shared: &Shared, id: EventId) {
        let reason = format!(
            "etcd's revision {} is below the last this node's history holds ({}): was etcd's \
             data replaced? Move {} aside and start this node again",
            id.revision,
            self.last.0,
            shared.config.dir.display()
        );
        tracing::error!("{reason}");
        self.close(shared);
        *shared.failing.lock() = Some(reason.clone());
        shared.failures.fetch_add(1, Ordering::AcqRel);
        *shared.regressed.lock() = Some(reason);
    }

    /// Appends the lines gathered (`pending`: the first change's id and how many), with
    /// one `write`.
    fn write_lines(&mut self, shared: &Shared, pending: &mut Option<(EventId, u64)>) {
        let Some((first, events)) = pending.take() else {
            return;
        };
        match self.append(shared, Tag::Event) {
            Ok(()) => {
                crate::ops::metrics::global()
                    .history_events_written
                    .inc_by(events);
            }
            Err(err) => {
                self.fail(shared, &err);
                self.lose(shared, first, self.last.0, events);
            }
        }
    }

    /// Remembers that the `count` changes from `first` to `last` were not recorded: in the
    /// stretch of this failure, if it is still losing them.
    fn lose(&mut self, shared: &Shared, first: EventId, last: EventId, count: u64) {
        self.lost += count;
        let error = shared.failing().unwrap_or_default();
        let mut unrecorded = shared.unrecorded.lock();
        match unrecorded.stretches.back_mut() {
            Some((_, end, _)) if self.losing => *end = last,
            _ => unrecorded.stretches.push_back((first, last, error)),
        }
        self.losing = true;
        if unrecorded.stretches.len() > UNRECORDED_KEPT
            && let Some((_, end, _)) = unrecorded.stretches.pop_front()
        {
            unrecorded.forgotten = Some(end);
        }
    }

    /// What is due after writing, on a thread that may wait for the disk: a failing
    /// writer tries again; a segment whose events have reached its size or age is closed
    /// (its first checkpoint does not count: with many instances it alone can pass the
    /// size); else a checkpoint is written if due.
    fn upkeep(&mut self, shared: &Shared) {
        // The failed sync was reported where it happened.
        if shared.sync_failed.swap(false, Ordering::AcqRel) {
            // Whether or not a segment is open now (a closed one's sync may have failed).
            self.unsure = Some(SYNC_FAILED);
            if self.file.is_some() {
                self.close(shared);
            }
        }
        let result = if self.file.is_none() {
            // Before `begin`, nothing has failed and there is nothing to take up again.
            if shared.failing().is_some() && shared.regressed.lock().is_none() {
                self.retry(shared);
            }
            Ok(())
        } else if self.segment_full(shared) {
            self.open_segment(shared, None)
        } else if self.since_checkpoint >= self.checkpoint_gap() {
            self.checkpoint(shared, None)
        } else {
            Ok(())
        };
        if let Err(err) = result {
            self.fail(shared, &err);
        }
    }

    /// Whether the open segment's events have reached its size or its age. Its size is
    /// at least [`SEGMENT_CHECKPOINTS`] times its first checkpoint, but never more than
    /// half the max size, so that the retention can always delete a closed one.
    fn segment_full(&self, shared: &Shared) -> bool {
        let size = shared
            .segment_bytes
            .max(self.first_checkpoint * SEGMENT_CHECKPOINTS)
            .min(shared.config.max_bytes / 2);
        self.segment_events >= size
            || self.last.1.saturating_sub(self.opened) >= shared.segment_micros
    }

    /// How many bytes of events call for the next checkpoint.
    fn checkpoint_gap(&self) -> u64 {
        (self.checkpoint_bytes * CHECKPOINT_RATIO).max(MIN_CHECKPOINT_GAP)
    }

    /// The time of the change `id` made at `at`: never before the last one.
    fn stamp(&mut self, id: EventId, at: SystemTime) -> u64 {
        let micros = micros(at).max(self.last.1);
        self.last = (id, micros);
        micros
    }

    /// Appends `self.lines` to the open segment (events, or one checkpoint: `tag`) and
    /// empties it. A write that fails part-way is cut back off, so the next write does not
    /// follow torn bytes (and if the cut fails too, the torn line fails its check and is
    /// skipped).
    fn append(&mut self, shared: &Shared, tag: Tag) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("no segment is open"))?;
        let written = file.write_all(&self.lines);
        let length = self.lines.len() as u64;
        self.lines.clear();
        if let Err(err) = written {
            let _ = file.set_len(self.bytes);
            return Err(err);
        }
        let offset = self.bytes;
        self.bytes += length;
        shared.dirty.store(true, Ordering::Release);
        let (id, micros) = self.last;
        let mut index = shared.index.write();
        if let Some(segment) = index.last_mut() {
            segment.last_id = id;
            segment.last_micros = micros;
            segment.bytes = self.bytes;
            if tag == Tag::Checkpoint {
                segment.checkpoints.push(Mark { id, micros, offset });
            }
        }
        drop(index);
        if tag == Tag::Checkpoint {
            self.since_checkpoint = 0;
            self.checkpoint_bytes = length;
        } else {
            self.since_checkpoint += length;
            self.segment_events += length;
        }
        Ok(())
    }

    /// Writes a checkpoint of every instance, as the last change's, listing `event` if
    /// given.
    fn checkpoint(&mut self, shared: &Shared, event: Option<&HistoryEvent>) -> io::Result<()> {
        let event = event.map(|event| serde_json::to_string(event).expect("events serialise"));
        let json = self.model.checkpoint(event.as_deref());
        let (id, micros) = self.last;
        self.lines.clear();
        record::encode(Tag::Checkpoint, id, micros, &json, &mut self.lines);
        self.append(shared, Tag::Checkpoint)
    }

    /// Closes the open segment (synced within a second) and starts a new one with a
    /// checkpoint.
    fn open_segment(&mut self, shared: &Shared, event: Option<&HistoryEvent>) -> io::Result<()> {
        // The old segment is synced by the next sync ([`Shared::sync`], within a second),
        // not here: here the writer is held, and syncing 128 MiB held every change back.
        if let Some(old) = self.file.take() {
            shared.closed.lock().push(old);
        }
        *shared.syncing.lock() = None;
        let micros = self.last.1;
        let mut name = micros;
        let dir = shared.config.dir.clone();
        let (path, file) = loop {
            let path = dir.join(files::segment_name(name));
            match File::options().create_new(true).append(true).open(&path) {
                Ok(file) => break (path, file),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => name += 1,
                Err(err) => return Err(err),
            }
        };
        self.file = Some(file);
        self.bytes = 0;
        self.segment_events = 0;
        self.opened = micros;
        shared.index.write().push(Segment::new(path.clone()));
        let written = self
            .checkpoint(shared, event)
            // The new file's name reaches the disk too.
            .and_then(|()| File::open(&dir)?.sync_all());
        self.first_checkpoint = self.bytes;
        if let Err(err) = written {
            self.file = None;
            let mut index = shared.index.write();
            if index.last().is_some_and(|s| s.path == path) {
                index.pop();
            }
            drop(index);
            let _ = std::fs::remove_file(&path);
            return Err(err);
        }
        if self.first_checkpoint > shared.config.max_bytes / 8 && !self.warned_size {
            self.warned_size = true;
            tracing::warn!(
                checkpoint = self.first_checkpoint,
                max = shared.config.max_bytes,
                "one checkpoint of the registry's instances weighs more than an eighth of \
                 --history-max-size, so the history keeps little beside them: raise \
                 --history-max-size"
            );
        }
        *shared.syncing.lock() = self
            .file
            .as_ref()
            .and_then(|f| f.try_clone().ok())
            .map(Arc::new);
        Ok(())
    }

    /// A failing writer tries again (at most once a [`SYNC_EVERY`]): a new segment that
    /// starts with a checkpoint, as the last change's; a `gap` checkpoint if changes went
    /// unrecorded (a plain one if none did: the gap's id is then unique in the files).
    fn retry(&mut self, shared: &Shared) {
        if self.tried.is_some_and(|at| at.elapsed() < SYNC_EVERY) {
            return;
        }
        self.tried = Some(Instant::now());
        let reason = shared.failing().unwrap_or_default();
        let (id, micros) = self.last;
        let gap = HistoryEvent {
            id: id.to_string(),
            at: micros_timestamp(micros),
            kind: HistoryKind::Gap,
            service: String::new(),
            instance: String::new(),
            status: None,
            reason: format!(
                "{}; every instance is listed as it is now",
                self.unrecorded_reason(&reason)
            ),
            registration: None,
            registered_at: None,
        };
        // Nothing missing: a plain checkpoint, which a replay passes over.
        let listed = (self.lost > 0 || self.unsure.is_some()).then_some(&gap);
        match self.open_segment(shared, listed) {
            Ok(()) => self.recovered(shared),
            Err(err) => self.fail(shared, &err),
        }
    }

    /// What a `gap` says of the changes lost while failing for `reason`.
    fn unrecorded_reason(&self, reason: &str) -> String {
        let lost = match self.lost {
            1 => "1 change".to_owned(),
            n => format!("{n} changes"),
        };
        match self.unsure {
            Some(unsure) => format!("{lost} could not be recorded ({reason}), and {unsure}"),
            None => format!("{lost} could not be recorded ({reason})"),
        }
    }

    /// The history writes again (a new segment is open, after a `gap` if anything was
    /// lost): it is no longer failing.
    fn recovered(&mut self, shared: &Shared) {
        tracing::info!(lost = self.lost, "the registry's history is written again");
        self.lost = 0;
        self.losing = false;
        self.unsure = None;
        self.tried = None;
        *shared.failing.lock() = None;
    }

    fn fail(&mut self, shared: &Shared, err: &io::Error) {
        self.close(shared);
        shared.failed("write", err);
    }

    /// Lets the open segment go (the history is failing): the next upkeep tries again.
    fn close(&mut self, shared: &Shared) {
        // What it holds was acknowledged: synced by the next sync all the same.
        if let Some(file) = self.file.take() {
            shared.closed.lock().push(file);
        }
        self.lines.clear();
        self.tried.get_or_insert_with(Instant::now);
        *shared.syncing.lock() = None;
    }
}

/// Reading.
impl Shared {
    /// Reads records in order from the last checkpoint at or before `start` (strictly
    /// before, if `strict`), or from the beginning if there is none, through the later
    /// segments, giving each to `visit` until it breaks. Returns whether a checkpoint was
    /// found.
    fn scan(
        &self,
        start: Point,
        strict: bool,
        mut visit: impl FnMut(Line<'_>) -> ControlFlow<()>,
    ) -> io::Result<bool> {
        let (paths, offset, found) = {
            let index = self.index.read();
            let mut place = None;
            for (n, segment) in index.iter().enumerate() {
                for mark in &segment.checkpoints {
                    let reached = if strict {
                        start.after(mark.id, mark.micros)
                    } else {
                        !start.before(mark.id, mark.micros)
                    };
                    if !reached {
                        break;
                    }
                    place = Some((n, mark.offset));
                }
            }
            let (first, offset) = place.unwrap_or((0, 0));
            let paths: Vec<PathBuf> = index.iter().skip(first).map(|s| s.path.clone()).collect();
            (paths, offset, place.is_some())
        };
        let mut stopped = false;
        let mut skipped = 0;
        for (n, path) in paths.iter().enumerate() {
            let from = if n == 0 { offset } else { 0 };
            let read = files::read(path, from, &mut skipped, |_, line| {
                let flow = visit(line);
                stopped = flow.is_break();
                flow
            });
            match read {
                // Deleted by the retention since: it is older than what is asked.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
                Ok(_) if stopped => break,
                Ok(_) => {}
            }
        }
        Ok(found)
    }

    /// The writer's model of where the files end (every instance after the last record).
    fn last_model(&self) -> io::Result<Rendered> {
        let Some(last) = self.index.read().last().map(|segment| segment.last_id) else {
            return Ok(Rendered::default());
        };
        Ok(match self.at(Point::Id(last))? {
            Then::Known { model, .. } => Rendered::of(&model.listing()),
            Then::Before { .. } => Rendered::default(),
        })
    }

    /// The instances as they were at `at`: after the last change at or before it.
    ///
    /// # Errors
    /// The files cannot be read.
    pub fn at(&self, at: Point) -> io::Result<Then> {
        let horizon = self.horizon();
        let begins = self.begins();
        let too_old = match at {
            Point::Time(time) => time < horizon,
            Point::Id(_) => false,
        };
        if too_old {
            return Ok(Then::Before { begins });
        }
        let mut model: Option<Model> = None;
        let mut last = None;
        let mut failed = None;
        let found = self.scan(at, false, |line| {
            if at.before(line.id, line.micros) {
                return ControlFlow::Break(());
            }
            match read_record(&line, model.is_none()) {
                Ok(Record::Checkpoint(checkpoint)) => {
                    model = Some(Model::from_checkpoint(checkpoint));
                }
                Ok(Record::Event(event)) => {
                    if let Some(model) = &mut model {
                        model.apply(line.micros, &event);
                    }
                }
                Ok(Record::Plain) => {}
                Err(err) => {
                    failed = Some(err);
                    return ControlFlow::Break(());
                }
            }
            last = Some((line.id, line.micros));
            ControlFlow::Continue(())
        })?;
        if let Some(err) = failed {
            return Err(err);
        }
        match (found, model, last) {
            (true, Some(model), Some((id, micros)))
                if micros >= horizon || matches!(at, Point::Time(_)) =>
            {
                Ok(Then::Known { id, model })
            }
            _ => Ok(Then::Before { begins }),
        }
    }

    /// One page of events from `from` (inclusive) to `to` (inclusive), of `service` and
    /// `instance` if given (a `started` or `gap` is every instance's), at most `limit`.
    ///
    /// # Errors
    /// The files cannot be read.
    pub fn events(&self, filter: &query::EventFilter) -> io::Result<HistoryPage> {
        self.events_within(filter, MAX_PAGE_SCAN_BYTES)
    }

    /// [`Shared::events`], reading about `budget` bytes at most.
    fn events_within(&self, filter: &query::EventFilter, budget: u64) -> io::Result<HistoryPage> {
        let horizon = self.horizon();
        let start = filter.from.unwrap_or(Point::Time(horizon));
        let mut events = Vec::new();
        let mut next = None;
        let mut read: u64 = 0;
        // The id of the last line read: a page stops for its budget only where the id
        // changes (a plain checkpoint shares its event's), so the next page, from that
        // id, neither repeats a line nor stands still, however large one line is.
        let mut last_read = None;
        let mut last_taken = None;
        let mut failed = None;
        self.scan(start, true, |line| {
            if line.micros < horizon || start.after(line.id, line.micros) {
                return ControlFlow::Continue(());
            }
            if filter.to.is_some_and(|to| to.before(line.id, line.micros)) {
                return ControlFlow::Break(());
            }
            if read > budget && last_read.is_some_and(|last| last != line.id) {
                next = Some(line.id.to_string());
                return ControlFlow::Break(());
            }
            read += line.json.len() as u64;
            last_read = Some(line.id);
            let parsed = match line.tag {
                Tag::Event => read_record(&line, false).map(|record| match record {
                    Record::Event(event) => Some(event),
                    _ => None,
                }),
                Tag::Checkpoint => listed_event(&line),
            };
            let event = match parsed {
                Ok(Some(event)) => event,
                Ok(None) => return ControlFlow::Continue(()),
                Err(err) => {
                    failed = Some(err);
                    return ControlFlow::Break(());
                }
            };
            let everyone = matches!(event.kind, HistoryKind::Started | HistoryKind::Gap);
            let wanted = everyone
                || (filter.service.as_ref().is_none_or(|s| *s == event.service)
                    && filter
                        .instance
                        .as_ref()
                        .is_none_or(|i| *i == event.instance));
            if !wanted {
                return ControlFlow::Continue(());
            }
            // A full page stops where the id changes too (a `gap` may share its event's),
            // so the next, from that id, repeats nothing.
            if events.len() >= filter.limit && last_taken != Some(line.id) {
                next = Some(event.id);
                return ControlFlow::Break(());
            }
            last_taken = Some(line.id);
            events.push(event);
            ControlFlow::Continue(())
        })?;
        if let Some(err) = failed {
            return Err(err);
        }
        Ok(HistoryPage { events, next })
    }

    /// Each instance of `service` between `from` and `to` (microseconds): its share of
    /// the time passing, and when it was down; and whether more instances came and went
    /// than one answer follows ([`replay::MAX_FOLLOWED`]: the first are listed).
    ///
    /// # Errors
    /// The files cannot be read; or ([`TooLarge`]) the stretch holds more than
    /// [`MAX_AVAILABILITY_SCAN_BYTES`].
    pub fn availability(
        &self,
        service: &str,
        from: u64,
        to: u64,
    ) -> io::Result<(Vec<InstanceAvailability>, bool)> {
        self.availability_within(service, from, to, MAX_AVAILABILITY_SCAN_BYTES)
    }

    /// [`Shared::availability`], reading at most `budget` bytes.
    fn availability_within(
        &self,
        service: &str,
        from: u64,
        to: u64,
        budget: u64,
    ) -> io::Result<(Vec<InstanceAvailability>, bool)> {
        let from = from.max(self.horizon());
        let mut model: Option<Model> = None;
        let mut following: Option<replay::Availability> = None;
        let mut failed = None;
        let mut read: u64 = 0;
        let mut visit = |line: Line<'_>| {
            if line.micros > to {
                return ControlFlow::Break(());
            }
            read += line.json.len() as u64;
            if read > budget {
                failed = Some(io::Error::other(TooLarge(format!(
                    "the stretch asked for holds more than {} MiB of the registry's history: \
                     ask for a shorter one (from=, to=)",
                    budget / (1024 * 1024)
                ))));
                return ControlFlow::Break(());
            }
            if following.is_none() && line.micros > from {
                following = Some(replay::Availability::new(
                    service,
                    from,
                    model.as_ref().unwrap_or(&Model::default()),
                ));
            }
            match read_record(&line, model.is_none()) {
                Ok(Record::Checkpoint(checkpoint)) => {
                    let fresh = Model::from_checkpoint(checkpoint);
                    if let Some(following) = &mut following {
                        following.reconcile(&fresh, line.micros);
                    }
                    model = Some(fresh);
                }
                Ok(Record::Event(event)) => {
                    let model = model.get_or_insert_with(Model::default);
                    model.apply(line.micros, &event);
                    if let Some(following) = &mut following {
                        following.changed(model, &event.instance, line.micros);
                    }
                }
                Ok(Record::Plain) => {}
                Err(err) => {
                    failed = Some(err);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        };
        self.scan(Point::Time(from), false, &mut visit)?;
        if let Some(err) = failed {
            return Err(err);
        }
        let following = following.unwrap_or_else(|| {
            replay::Availability::new(service, from, model.as_ref().unwrap_or(&Model::default()))
        });
        Ok(following.finish(to))
    }
}

/// A question that would read too much: a 400 with this reason (see [`http`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TooLarge(pub String);

/// What a line holds, parsed as far as a reader needs.
enum Record {
    Event(HistoryEvent),
    Checkpoint(Checkpoint),
    /// A checkpoint that lists no event, left unparsed: it agrees with the replay that
    /// reached it.
    Plain,
}

/// Parses `line`. A checkpoint is parsed whole only if it lists an event (`started`,
/// `gap`) or the reader needs it (`whole`: the one a replay starts from).
fn read_record(line: &Line<'_>, whole: bool) -> io::Result<Record> {
    let parsed = match line.tag {
        Tag::Event => {
            serde_json::from_str(line.json).map(|event| Record::Event(stamped(line, event)))
        }
        Tag::Checkpoint if whole || line.json.starts_with(LISTED_CHECKPOINT) => {
            serde_json::from_str(line.json).map(Record::Checkpoint)
        }
        Tag::Checkpoint => Ok(Record::Plain),
    };
    parsed.map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

/// `event` with the id and time of its line (an event's JSON leaves them to the line's
/// head).
fn stamped(line: &Line<'_>, mut event: HistoryEvent) -> HistoryEvent {
    event.id = line.id.to_string();
    event.at = micros_timestamp(line.micros);
    event
}

/// The event a checkpoint lists, if any, without building its instances.
fn listed_event(line: &Line<'_>) -> io::Result<Option<HistoryEvent>> {
    #[derive(serde::Deserialize)]
    struct Listed {
        #[serde(rename = "Event", default)]
        event: Option<HistoryEvent>,
    }
    if !line.json.starts_with(LISTED_CHECKPOINT) {
        return Ok(None);
    }
    serde_json::from_str::<Listed>(line.json)
        .map(|listed| listed.event.map(|event| stamped(line, event)))
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

#[cfg(test)]
mod tests;
