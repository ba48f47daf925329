//! This node's copy of the registry's state: loaded from etcd once, then kept current by a
//! watch from the next revision on. Every node applies the same changes in etcd's order,
//! at etcd's revisions, so every copy goes through the same states.
//!
//! When the watch breaks (etcd out of reach, a member restarting), it is opened again
//! from the revision after the last one applied, so nothing is missed or applied twice;
//! if etcd has compacted that history meanwhile, the whole state is loaded again and the
//! copy brought to it (instances that left meanwhile are removed).
//!
//! Beside the copy, a node keeps the revisions of each instance's keys
//! ([`KeyRevisions`]): updated after the copy, so that a decision read from the copy after
//! them is never newer than the revisions its write is conditional on.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use parking_lot::Mutex;

use etcd_client::{EventType, GetOptions, KeyValue, WatchOptions};
use tokio_util::sync::CancellationToken;
use wire::registry::{LeaveReason, Status};

use super::{
    EtcdStore, RETRY, WRITE_TIMEOUT,
    keys::{self, Key, KeyRevisions, Keys, StoredInstance},
};
use crate::registry::{
    journal::{EventId, Subscription},
    patches::PatchSender,
    state::{Cause, Eviction, Stamp, State},
    validate,
};

/// How long a load may take: etcd's answer, filling in the history from a peer (one
/// deadline of its own), and writing what the history makes of it.
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(
    2 * WRITE_TIMEOUT.as_secs() + super::fill::FILL_TIMEOUT.as_secs(),
);

/// Follows etcd until `stopping`: loads the state, then applies every change to it.
pub async fn follow(store: Arc<EtcdStore>, stopping: CancellationToken) {
    // The last revision applied; none until the state is loaded.
    let mut applied: Option<i64> = None;
    let mut said = false;
    loop {
        if stopping.is_cancelled() {
            return;
        }
        let from = match applied {
            Some(revision) => revision + 1,
            None => {
                match tokio::time::timeout(LOAD_TIMEOUT, load(&store)).await {
                    Ok(Ok(revision)) => {
                        if said {
                            eprintln!("registry: etcd at {} answers again", store.endpoints);
                        }
                        said = false;
                        applied = Some(revision);
                        revision + 1
                    }
                    failed => {
                        let cause = match failed {
                            Ok(Err(err)) => Some(err),
                            _ => None,
                        };
                        let problem = match &cause {
                            Some(err) => super::failure(&store.endpoints, err),
                            None => format!("etcd at {} does not answer", store.endpoints),
                        };
                        if !said {
                            // Said on stderr as well as in the log: a node that cannot start
                            // its state must never look merely slow. (The operator's stream:
                            // the driver's text is said too.)
                            let detail = cause
                                .as_ref()
                                .map(|err| format!(" ({err})"))
                                .unwrap_or_default();
                            eprintln!(
                                "registry: {problem}{detail}; answering 503 and trying again every {RETRY:?}"
                            );
                            said = true;
                        }
                        store.trouble(problem, cause.as_ref());
                        if pause(&stopping).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let history = store.copy.lock().history();
        let mut client = store.client.clone();
        let options = WatchOptions::new().with_prefix().with_start_revision(from);
        let watch =
            tokio::time::timeout(WRITE_TIMEOUT, client.watch(store.keys.all(), Some(options)));
        let Ok(Ok(mut stream)) = watch.await else {
            store.trouble(format!("cannot watch etcd at {}", store.endpoints), None);
            if pause(&stopping).await {
                return;
            }
            continue;
        };
        loop {
            let message = tokio::select! {
                message = stream.message() => message,
                () = stopping.cancelled() => return,
            };
            let Ok(Some(response)) = message else {
                // Broken off: watch again from the next revision.
                break;
            };
            if response.compact_revision() > 0 {
                tracing::warn!(
                    compacted = response.compact_revision(),
                    "etcd no longer holds the changes since this node's last; loading the whole state again"
                );
                applied = None;
                break;
            }
            if response.canceled() {
                break;
            }
            store.touch();
            {
                // One answer's changes under one lock: a revision's changes come in one
                // answer, and readers never see half of them.
                let mut copy = store.copy.lock();
                // Each revision's note (its time and reason), which may come after the
                // changes it notes: every node records them with it.
                let notes = notes(&store.keys, response.events());
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    copy.noted(notes.get(&kv.mod_revision()).cloned());
                    apply(
                        &store.keys,
                        &mut copy,
                        Some(&store.revisions),
                        event.event_type(),
                        kv,
                    );
                    applied = Some(applied.unwrap_or(0).max(kv.mod_revision()));
                }
                copy.noted(None);
            }
            // This node's record of what it applied goes to its files at once (appended,
            // synced within a second), not only when a change made here waits for it:
            // killed, it loses little, and what it lost its peers fill in.
            if let Some(history) = &history {
                history.commit().await;
            }
            if let Some(revision) = applied {
                store.applied.send_replace(revision.max(0) as u64);
            }
        }
    }
}

/// The note of each revision among `events` that has one: its time and its reason.
fn notes(keys: &Keys, events: &[etcd_client::Event]) -> HashMap<i64, (SystemTime, Option<String>)> {
    events
        .iter()
        .filter(|event| event.event_type() == EventType::Put)
        .filter_map(|event| event.kv())
        .filter(|kv| keys.parse(kv.key()) == Some(Key::Note))
        .filter_map(|kv| {
            let note: keys::Note = serde_json::from_slice(kv.value()).ok()?;
            Some((kv.mod_revision(), (note.time(), note.reason)))
        })
        .collect()
}

/// Waits before trying etcd again; true if the node is stopping.
async fn pause(stopping: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY) => false,
        () = stopping.cancelled() => true,
    }
}

/// Loads the whole state and brings the copy to it; returns its revision.
async fn load(store: &EtcdStore) -> Result<i64, etcd_client::Error> {
    let mut client = store.client.clone();
    let answer = client
        .get(store.keys.all(), Some(GetOptions::new().with_prefix()))
        .await?;
    let revision = answer.header().map_or(0, |header| header.revision());
    // What this node's history missed, from a peer's, before the state it loads (the
    // watch is not running: nothing else is handed to the history meanwhile).
    let history = store.copy.lock().history();
    let missed = match &history {
        Some(history) => {
            match super::fill::from_peers(store, history, answer.kvs(), revision.max(0) as u64)
                .await
            {
                super::fill::Filled::Partly(why) => Some(why),
                super::fill::Filled::Whole | super::fill::Filled::NoPeer => None,
            }
        }
        None => None,
    };
    {
        let mut copy = store.copy.lock();
        bring_to(&store.keys, &mut copy, Some(&store.revisions), answer.kvs());
        copy.history_begins_at(revision.max(0) as u64);
        // As of the last noted change (not now: the changes after it, noted before this
        // node loaded, must not seem to come before it).
        let noted = answer
            .kvs()
            .iter()
            .filter(|kv| store.keys.parse(kv.key()) == Some(Key::Note))
            .find_map(|kv| serde_json::from_slice::<keys::Note>(kv.value()).ok())
            .map_or_else(SystemTime::now, |note| note.time());
        copy.history_loaded(revision.max(0) as u64, noted, missed);
    }
    if let Some(history) = history {
        // Compared with the files, and written, on a thread that may wait for the disk.
        let _ = tokio::task::spawn_blocking(move || history.commit_blocking()).await;
    }
    store.contact.lock().loaded = true;
    store.touch();
    store.applied.send_replace(revision.max(0) as u64);
    tracing::info!(revision, "loaded the registry's state from etcd");
    Ok(revision)
}

/// The revisions of every instance's keys, by URL.
pub type Revisions = Mutex<HashMap<String, KeyRevisions>>;

/// Brings `copy` to the state `kvs` hold: instances that left are removed, the others
/// registered (unless held already) with their status; and `revisions`, if given, to the
/// keys' revisions. The events this makes are live only ([`Stamp::Live`]).
fn bring_to(keys: &Keys, copy: &mut State, revisions: Option<&Revisions>, kvs: &[KeyValue]) {
    let mut instances = BTreeMap::new();
    let mut critical = std::collections::BTreeSet::new();
    let mut flapping = std::collections::BTreeSet::new();
    let mut written: HashMap<String, KeyRevisions> = HashMap::new();
    for kv in kvs {
        match keys.parse(kv.key()) {
            Some(Key::Instance(url)) => {
                if let Some(stored) = decode(url, kv.value()) {
                    instances.insert(url.to_owned(), stored);
                }
                written.entry(url.to_owned()).or_default().instance = kv.mod_revision();
            }
            Some(Key::Status(url)) => {
                if kv.value() == keys::CRITICAL.as_bytes() {
                    critical.insert(url.to_owned());
                }
                written.entry(url.to_owned()).or_default().status = kv.mod_revision();
            }
            Some(Key::Renewed(url)) => {
                written.entry(url.to_owned()).or_default().renewed = kv.mod_revision();
            }
            Some(Key::Flapping(url)) => {
                flapping.insert(url.to_owned());
            }
            _ => {}
        }
    }
    for url in copy.urls() {
        if !instances.contains_key(&url) {
            let _ = copy.apply_removed(&url, LeaveReason::Deregistered, Stamp::Live);
        }
    }
    for (url, stored) in instances {
        register(copy, &url, stored, Stamp::Live);
        let status = if critical.contains(&url) {
            Status::Critical
        } else {
            Status::Passing
        };
        copy.apply_status(&url, status, Cause::Replicated, Stamp::Live);
        // As etcd says, whichever way it changed while this node was not following.
        if flapping.contains(&url) {
            copy.apply_flapping(&url, Stamp::Live);
        } else {
            copy.apply_steady(&url, Stamp::Live);
        }
    }
    if let Some(revisions) = revisions {
        written.retain(|url, _| copy.registered_at(url).is_some());
        *revisions.lock() = written;
    }
}

/// The events after `seen` up to this node's latest, rebuilt from etcd's history, then
/// the node's live feed: for a client that last saw `seen` on another node, from before
/// this node's copy began. The state just before `seen`'s revision is read from etcd (a
/// read at a past revision) into a scratch copy, etcd's changes since are applied to it
/// up to the node's revision, and the events after `seen` that this makes are the backlog:
/// the same events, with the same ids, as every node's copy made (each revision's events in
/// the order of its changes). Fails if etcd has compacted that history (the client is
/// then sent a snapshot).
///
/// A replay reads and never writes (it serves anonymous readers), at most
/// [`MAX_REPLAYS`] run at once and each spans at most [`MAX_REPLAY_SPAN`] revisions:
/// beyond either, the client is sent a snapshot.
pub async fn history(store: &EtcdStore, seen: EventId) -> Result<Subscription, NoReplay> {
    let (until, live) = store.copy.lock().live();
    if seen >= until {
        return Err(NoReplay::NotBehind { seen, until });
    }
    // The state to start from: all of `seen`'s revision if the client saw all of it, else
    // the one before, so that the revision's events are made again, with their indices.
    let base = if seen == EventId::all_of(seen.revision) {
        seen.revision
    } else {
        seen.revision.saturating_sub(1)
    };
    if base == 0 {
        // etcd reads revision 0 as its latest: there is no state before revision 1.
        return Err(NoReplay::BeforeFirstChange { seen });
    }
    if until.revision - base > MAX_REPLAY_SPAN {
        return Err(NoReplay::TooLong {
            base,
            until: until.revision,
        });
    }
    let Ok(_turn) = store.replays.try_acquire() else {
        return Err(NoReplay::Busy);
    };
    let until = until.revision;
    let fetch = async {
        let mut client = store.client.clone();
        let past = client
            .get(
                store.keys.all(),
                Some(GetOptions::new().with_prefix().with_revision(base as i64)),
            )
            .await
            .map_err(|source| NoReplay::State { base, source })?;
        let mut scratch = State::starting_at(PatchSender::inert(), SCRATCH_EVICTION, base);
        bring_to(&store.keys, &mut scratch, None, past.kvs());
        if base == until {
            return Ok(scratch.subscribe(Some(seen)).backlog);
        }
        // Every key, not only the registry's: `until` is a revision some write made (an
        // event of the copy, or the revision its state was loaded at), and that write is
        // in the history of some key, so watching them all, the replay sees `until`
        // itself and ends there, without writing a marker to end on. (etcd 3.4's
        // progress notifications cannot be trusted to follow the history.) Other keys'
        // changes are read past.
        let options = WatchOptions::new()
            .with_all_keys()
            .with_start_revision(base as i64 + 1);
        let mut changes = client
            .watch(store.keys.all(), Some(options))
            .await
            .map_err(|source| NoReplay::Watch { base, source })?;
        loop {
            let Ok(Some(response)) = changes.message().await else {
                return Err(NoReplay::EndedEarly);
            };
            if response.compact_revision() > 0 {
                return Err(NoReplay::Compacted { base });
            }
            let mut reached = false;
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                let revision = kv.mod_revision().max(0) as u64;
                if revision > until {
                    reached = true;
                    break;
                }
                apply(&store.keys, &mut scratch, None, event.event_type(), kv);
                // A revision's events come in one answer: once `until`'s are in, done.
                reached |= revision == until;
            }
            if reached {
                return Ok(scratch.subscribe(Some(seen)).backlog);
            }
        }
    };
    let backlog = tokio::time::timeout(WRITE_TIMEOUT, fetch)
        .await
        .map_err(|_| NoReplay::TimedOut { base, until })??;
    Ok(Subscription { backlog, live })
}

/// Why a client is sent a snapshot instead of a replay from etcd's history.
#[derive(Debug, thiserror::Error)]
pub enum NoReplay {
    #[error("event {seen} is not behind this node's {until}")]
    NotBehind { seen: EventId, until: EventId },
    #[error("event {seen} is from before etcd's first change")]
    BeforeFirstChange { seen: EventId },
    #[error("revisions {base} to {until} are more than {MAX_REPLAY_SPAN} to replay")]
    TooLong { base: u64, until: u64 },
    #[error("{MAX_REPLAYS} replays are running already")]
    Busy,
    #[error("etcd cannot give the state at revision {base}")]
    State {
        base: u64,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd cannot replay from revision {base}")]
    Watch {
        base: u64,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd's history ended early")]
    EndedEarly,
    #[error("etcd has compacted its history past revision {base}")]
    Compacted { base: u64 },
    #[error("etcd did not replay revisions {base} to {until} in time")]
    TimedOut { base: u64, until: u64 },
}

/// The most replays from etcd's history running at once, on one node.
pub const MAX_REPLAYS: usize = 4;
/// The most revisions one replay may span.
pub const MAX_REPLAY_SPAN: u64 = 100_000;

/// A scratch copy decides nothing: any eviction settings will do.
const SCRATCH_EVICTION: Eviction = Eviction {
    failures: 1,
    deregister_after: std::time::Duration::from_secs(60),
    flap_threshold: 0,
    flap_window: std::time::Duration::from_secs(60),
};

/// Applies one change from the watch to `copy`, then to `revisions` if given.
fn apply(
    keys: &Keys,
    copy: &mut State,
    revisions: Option<&Revisions>,
    kind: EventType,
    kv: &KeyValue,
) {
    let at = Stamp::At(kv.mod_revision().max(0) as u64);
    let key = keys.parse(kv.key());
    match (kind, &key) {
        (EventType::Put, Some(Key::Instance(url))) => {
            if let Some(stored) = decode(url, kv.value()) {
                register(copy, url, stored, at);
            }
        }
        (EventType::Delete, Some(Key::Instance(url))) => {
            // Etcd does not say who deleted it: the leader drops only critical instances.
            let reason = match copy.status(url) {
                Some(Status::Critical) => LeaveReason::Expired,
                _ => LeaveReason::Deregistered,
            };
            let _ = copy.apply_removed(url, reason, at);
        }
        (EventType::Put, Some(Key::Status(url))) => {
            copy.apply_status(url, Status::Critical, Cause::Replicated, at)
        }
        (EventType::Delete, Some(Key::Status(url))) => {
            copy.apply_status(url, Status::Passing, Cause::Replicated, at)
        }
        (EventType::Put, Some(Key::Flapping(url))) => copy.apply_flapping(url, at),
        (EventType::Delete, Some(Key::Flapping(url))) => copy.apply_steady(url, at),
        (EventType::Put, Some(Key::Renewed(url))) => {
            let renewed = std::str::from_utf8(kv.value())
                .ok()
                .and_then(|ms| ms.parse().ok())
                .map_or_else(SystemTime::now, |ms| {
                    UNIX_EPOCH + std::time::Duration::from_millis(ms)
                });
            let _ = copy.apply_renewal(url, renewed, false, at);
        }
        _ => {}
    }
    let Some(revisions) = revisions else { return };
    let written = match kind {
        EventType::Put => kv.mod_revision(),
        EventType::Delete => 0,
    };
    let mut revisions = revisions.lock();
    match key {
        Some(Key::Instance(url)) if written == 0 => {
            revisions.remove(url);
        }
        Some(Key::Instance(url)) => revisions.entry(url.to_owned()).or_default().instance = written,
        Some(Key::Status(url)) => {
            if let Some(keys) = revisions.get_mut(url) {
                keys.status = written;
            }
        }
        Some(Key::Renewed(url)) => {
            if let Some(keys) = revisions.get_mut(url) {
                keys.renewed = written;
            }
        }
        _ => {}
    }
}

/// Applies a stored registration, unless the copy holds that very registration already
/// (the same URL, registered at the same time: a node listing itself again).
fn register(copy: &mut State, url: &str, stored: StoredInstance, at: Stamp) {
    if copy.registered_at(url) == Some(stored.registered_at()) {
        return;
    }
    let registered_at = stored.registered_at();
    match validate::registration(stored.registration) {
        Ok(valid) => copy.apply_registered(valid, registered_at, at),
        Err(err) => {
            let reason = crate::errors::report(&err);
            tracing::warn!(%url, %reason, "etcd holds a registration this registry refuses; ignored")
        }
    }
}

/// A stored instance, or `None` (said in the log) if it cannot be read.
fn decode(url: &str, value: &[u8]) -> Option<StoredInstance> {
    serde_json::from_slice(value)
        .inspect_err(|err| tracing::warn!(%url, %err, "etcd holds an unreadable instance; ignored"))
        .ok()
}
