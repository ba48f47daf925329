//! Filling a node's history from its peers. Every node records the changes it applies
//! from etcd in its own files ([`crate::registry::history`]), so a node that was stopped
//! (or cut off while etcd compacted what it missed) lacks what changed meanwhile. When it
//! loads the whole state again, it first asks its peers' `GET /history` for the events
//! after its last, up to the revision it loads, and records them as its own: they carry
//! the same ids and, from the notes every change writes ([`super::keys::Note`]), the same
//! times and reasons. Only if no peer has them does its history say `gap`.
//!
//! The peers are the candidates in etcd's election: only registry nodes write there, so
//! the registry's token never goes to a URL a client registered.

use std::time::Duration;

use etcd_client::KeyValue;
use wire::registry::{HistoryEvent, HistoryPage};

use super::EtcdStore;
use crate::registry::{history::History, journal::EventId};

/// How long one peer may take to give what this node missed.
pub const FILL_TIMEOUT: Duration = Duration::from_secs(10);
/// The events asked for in one page, and the most pages read from one peer (a node
/// that missed more than that many events says `gap` for the rest).
const PAGE: usize = 1000;
const MAX_PAGES: usize = 100;
/// How often, and how long apart, a peer is asked whether it has caught up.
const CATCH_UP_TRIES: usize = 40;
const CATCH_UP_PAUSE: Duration = Duration::from_millis(50);
/// The most one page's answer may weigh.
const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

/// Hands `history` the events after its last that a peer recorded up to `through`, the
/// revision being loaded; `kvs` is the state being loaded (its election keys name the
/// peers). Returns how many it took.
pub async fn from_peers(
    store: &EtcdStore,
    history: &History,
    kvs: &[KeyValue],
    through: u64,
) -> usize {
    let election = format!("{}/", store.election);
    let mut peers: Vec<String> = kvs
        .iter()
        .filter(|kv| kv.key().starts_with(election.as_bytes()))
        .filter_map(|kv| String::from_utf8(kv.value().to_vec()).ok())
        .filter(|url| *url != store.public_url)
        .collect();
    peers.sort();
    peers.dedup();
    // A node whose files hold nothing starts its own (a peer's events would need the
    // instances before them).
    let Some(last) = history.last_id() else {
        return 0;
    };
    if last.revision >= through {
        return 0;
    }
    let client = crate::http::client::with_timeout(FILL_TIMEOUT, store.token.as_deref());
    for peer in peers {
        match tokio::time::timeout(FILL_TIMEOUT, missed(&client, &peer, last, through)).await {
            Ok(Ok(events)) => {
                let taken = history.import(events);
                tracing::info!(%peer, taken, "filled this node's history from a peer's");
                return taken;
            }
            Ok(Err(problem)) => {
                tracing::warn!(%peer, %problem, "cannot fill this node's history from a peer's")
            }
            Err(_) => tracing::warn!(
                %peer,
                "a peer did not give its history within {FILL_TIMEOUT:?}"
            ),
        }
    }
    0
}

/// The events `peer` recorded after `last` up to revision
/// `through`, in order.
async fn missed(
    client: &reqwest::Client,
    peer: &str,
    last: EventId,
    through: u64,
) -> Result<Vec<HistoryEvent>, String> {
    // The peer may not have applied the last revisions yet (a few milliseconds behind):
    // its history is read once its copy has reached `through`.
    let peer = peer.trim_end_matches('/');
    let mut reached = false;
    for _ in 0..CATCH_UP_TRIES {
        let status = client.get(format!("{peer}/cluster")).send().await;
        if let Ok(status) = status
            && let Ok(node) = status.json::<wire::registry::NodeStatus>().await
            && node.revision >= through
        {
            reached = true;
            break;
        }
        tokio::time::sleep(CATCH_UP_PAUSE).await;
    }
    if !reached {
        return Err(format!("its copy has not reached revision {through}"));
    }
    let mut events = Vec::new();
    let mut after = last;
    let mut from = last.to_string();
    for _ in 0..MAX_PAGES {
        let response = client
            .get(format!("{peer}/history"))
            .query(&[("limit", PAGE.to_string()), ("from", from.clone())])
            .send()
            .await
            .map_err(|err| err.to_string())?;
        if !response.status().is_success() {
            return Err(format!("GET /history answered {}", response.status()));
        }
        let body = crate::http::client::read_at_most(response, MAX_PAGE_BYTES).await;
        let page: HistoryPage = serde_json::from_slice(&body).map_err(|err| err.to_string())?;
        for event in page.events {
            let id: EventId = event
                .id
                .parse()
                .map_err(|_| format!("an event id {:?} that is not one", event.id))?;
            if id <= after {
                continue;
            }
            if id.revision > through {
                return Ok(events);
            }
            after = id;
            events.push(event);
        }
        match page.next {
            Some(next) => from = next,
            None => return Ok(events),
        }
    }
    Ok(events)
}
