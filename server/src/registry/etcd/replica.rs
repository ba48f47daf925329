//! This node's copy of the registry's state: loaded from etcd once, then kept current by a
//! watch from the next revision on. Every node applies the same changes in etcd's order,
//! at etcd's revisions, so every copy goes through the same states.
//!
//! When the watch breaks (etcd out of reach, a member restarting), it is opened again
//! from the revision after the last one applied, so nothing is missed or applied twice;
//! if etcd has compacted that history meanwhile, the whole state is loaded again and the
//! copy brought to it (instances that left meanwhile are removed).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use app::wire::registry::{LeaveReason, Status};
use etcd_client::{EventType, GetOptions, KeyValue, WatchOptions};
use tokio_util::sync::CancellationToken;

use super::{
    EtcdStore, RETRY, WRITE_TIMEOUT,
    keys::{self, Key, StoredInstance},
};
use crate::registry::validate;

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
            None => match tokio::time::timeout(WRITE_TIMEOUT, load(&store)).await {
                Ok(Ok(revision)) => {
                    if said {
                        eprintln!("registry: etcd at {} answers again", store.endpoints);
                    }
                    said = false;
                    applied = Some(revision);
                    revision + 1
                }
                failed => {
                    let problem = match failed {
                        Ok(Err(err)) => format!("etcd at {} failed: {err}", store.endpoints),
                        _ => format!("etcd at {} does not answer", store.endpoints),
                    };
                    if !said {
                        // Said on stderr as well as in the log: a node that cannot start
                        // its state must never look merely slow.
                        eprintln!(
                            "registry: {problem}; answering 503 and trying again every {RETRY:?}"
                        );
                        said = true;
                    }
                    store.trouble(problem);
                    if pause(&stopping).await {
                        return;
                    }
                    continue;
                }
            },
        };
        let mut client = store.client.clone();
        let options = WatchOptions::new().with_prefix().with_start_revision(from);
        let watch =
            tokio::time::timeout(WRITE_TIMEOUT, client.watch(store.keys.all(), Some(options)));
        let Ok(Ok(mut stream)) = watch.await else {
            store.trouble(format!("cannot watch etcd at {}", store.endpoints));
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
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                apply(&store, event.event_type(), kv);
                applied = Some(applied.unwrap_or(0).max(kv.mod_revision()));
            }
            if let Some(revision) = applied {
                store.applied.send_replace(revision.max(0) as u64);
            }
        }
    }
}

/// Waits before trying etcd again; true if the node is stopping.
async fn pause(stopping: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY) => false,
        () = stopping.cancelled() => true,
    }
}

/// Loads the whole state and brings the copy to it; gives its revision.
async fn load(store: &EtcdStore) -> Result<i64, etcd_client::Error> {
    let mut client = store.client.clone();
    let answer = client
        .get(store.keys.all(), Some(GetOptions::new().with_prefix()))
        .await?;
    let revision = answer.header().map_or(0, |header| header.revision());
    let at = Some(revision.max(0) as u64);
    let mut instances = BTreeMap::new();
    let mut critical = std::collections::BTreeSet::new();
    for kv in answer.kvs() {
        match store.keys.parse(kv.key()) {
            Some(Key::Instance(url)) => {
                if let Some(stored) = decode(url, kv.value()) {
                    instances.insert(url.to_owned(), stored);
                }
            }
            Some(Key::Status(url)) if kv.value() == keys::CRITICAL.as_bytes() => {
                critical.insert(url.to_owned());
            }
            _ => {}
        }
    }
    let copy = &store.copy;
    for url in copy.urls() {
        if !instances.contains_key(&url) {
            let _ = copy.apply_removed(&url, LeaveReason::Deregistered, at);
        }
    }
    for (url, stored) in instances {
        register(store, &url, stored, at);
        let status = if critical.contains(&url) {
            Status::Critical
        } else {
            Status::Passing
        };
        copy.apply_status(&url, status, at);
    }
    store.contact.lock().unwrap().loaded = true;
    store.touch();
    store.applied.send_replace(revision.max(0) as u64);
    tracing::info!(revision, "loaded the registry's state from etcd");
    Ok(revision)
}

/// Applies one change from the watch.
fn apply(store: &EtcdStore, kind: EventType, kv: &KeyValue) {
    let at = Some(kv.mod_revision().max(0) as u64);
    let copy = &store.copy;
    match (kind, store.keys.parse(kv.key())) {
        (EventType::Put, Some(Key::Instance(url))) => {
            if let Some(stored) = decode(url, kv.value()) {
                register(store, url, stored, at);
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
        (EventType::Put, Some(Key::Status(url))) => copy.apply_status(url, Status::Critical, at),
        (EventType::Delete, Some(Key::Status(url))) => copy.apply_status(url, Status::Passing, at),
        (EventType::Put, Some(Key::Renewed(url))) => {
            let renewed = std::str::from_utf8(kv.value())
                .ok()
                .and_then(|ms| ms.parse().ok())
                .map_or_else(SystemTime::now, |ms| {
                    UNIX_EPOCH + std::time::Duration::from_millis(ms)
                });
            let _ = copy.apply_renewal(url, renewed, false, at);
        }
        (EventType::Put, Some(Key::Heartbeats)) => {
            copy.apply_heartbeats(keys::decode_heartbeats(kv.value()), at);
        }
        _ => {}
    }
}

/// Applies a stored registration, unless the copy holds that very registration already
/// (the same URL, registered at the same time: a node listing itself again).
fn register(store: &EtcdStore, url: &str, stored: StoredInstance, at: Option<u64>) {
    if store.copy.registered_at(url) == Some(stored.registered_at()) {
        return;
    }
    let registered_at = stored.registered_at();
    match validate::registration(stored.registration) {
        Ok(valid) => store.copy.apply_registered(valid, registered_at, at),
        Err(reason) => {
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
