//! Filling a node's history from its peers. Every node records the changes it applies
//! from etcd in its own files ([`crate::registry::history`]), so a node that was stopped
//! (or cut off while etcd compacted what it missed) lacks what changed meanwhile. When it
//! loads the whole state again, it first asks a peer's `GET /history` for the events after
//! its last, up to the revision it loads, and records them as its own: they carry the same
//! ids and, from the notes every change writes ([`super::keys::Note`]), the same times and
//! reasons. If no peer can give them all, its history says `gap` there.
//!
//! The peers are the candidates in etcd's election: only registry nodes write there, so
//! the registry's token never goes to a URL a client registered. What a peer may cost is
//! bounded: one deadline for the whole fill ([`FILL_TIMEOUT`]), small pages each read up
//! to a limit, and [`MAX_FILL_BYTES`] in all.

use std::time::Duration;

use etcd_client::KeyValue;
use tokio::time::Instant;
use wire::registry::{APPLIED_HEADER, HistoryKind, HistoryPage};

use super::EtcdStore;
use crate::registry::{history::History, journal::EventId};

/// How long the whole fill may take, whatever the peers do.
pub const FILL_TIMEOUT: Duration = Duration::from_secs(10);
/// The events asked for in one page (a page of registrations with large `Meta` weighs
/// several MiB), the most one page may weigh, and the most a fill reads in all.
const PAGE: usize = 100;
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
const MAX_FILL_BYTES: usize = 256 * 1024 * 1024;
/// How long apart a peer is asked again while it has not applied the revision loaded yet
/// (it follows etcd a few milliseconds behind), and for how long at most.
const CATCH_UP_PAUSE: Duration = Duration::from_millis(50);
const CATCH_UP: Duration = Duration::from_secs(2);

/// What filling in found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filled {
    /// A peer gave every change this node missed (perhaps none).
    Whole,
    /// Some changes are missing, for this reason: the history says `gap`.
    Partly(String),
    /// No peer answered (or there is none): only the state loaded can tell.
    NoPeer,
}

/// Hands `history` the events after its last that a peer recorded up to `through`, the
/// revision being loaded; `kvs` is the state being loaded (its election keys name the
/// peers).
pub async fn from_peers(
    store: &EtcdStore,
    history: &History,
    kvs: &[KeyValue],
    through: u64,
) -> Filled {
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
        return Filled::NoPeer;
    };
    if last.revision >= through {
        return Filled::Whole;
    }
    let client = crate::http::client::with_timeout(FILL_TIMEOUT, store.token.as_deref());
    let deadline = Instant::now() + FILL_TIMEOUT;
    let mut fill = Fill {
        after: last,
        through,
        read: 0,
        taken: 0,
    };
    let mut outcome = Filled::NoPeer;
    for peer in peers {
        let asked = tokio::time::timeout_at(deadline, fill.from(&client, &peer, history)).await;
        let problem = match asked {
            Ok(Ok(())) => {
                tracing::info!(%peer, taken = fill.taken, "filled this node's history from a peer's");
                return Filled::Whole;
            }
            Ok(Err(Answer::Partly(why))) => {
                outcome = Filled::Partly(format!("{peer}: {why}"));
                why
            }
            Ok(Err(Answer::Failed(why))) => why,
            Err(_) => {
                let why = format!("no answer within {FILL_TIMEOUT:?}");
                tracing::warn!(%peer, "cannot fill this node's history from a peer's: {why}");
                break;
            }
        };
        tracing::warn!(%peer, %problem, "cannot fill this node's history from a peer's");
    }
    if fill.taken > 0 && outcome == Filled::NoPeer {
        outcome = Filled::Partly("the peers gave only part of it".into());
    }
    outcome
}

/// A fill in progress: the last event taken, and what it has read.
struct Fill {
    after: EventId,
    through: u64,
    read: usize,
    taken: usize,
}

/// Why a peer did not give everything.
enum Answer {
    /// It answered, and some changes are missing from what it has.
    Partly(String),
    /// It did not answer usefully: another may.
    Failed(String),
}

impl Fill {
    /// Takes from `peer` the events after the last taken, through the revision loaded.
    async fn from(
        &mut self,
        client: &reqwest::Client,
        peer: &str,
        history: &History,
    ) -> Result<(), Answer> {
        let peer = peer.trim_end_matches('/');
        // Its history must reach back to the last event taken (this node's own, at first).
        let oldest = self.page(client, peer, None, 1).await?.0;
        match oldest.events.first().map(|e| e.id.parse::<EventId>()) {
            Some(Ok(first)) if first <= self.after => {}
            _ => {
                return Err(Answer::Partly(
                    "its history does not reach back that far".into(),
                ));
            }
        }
        // It follows etcd a few milliseconds behind: asked (for one event, not counted)
        // until it has applied the revision loaded, for at most `CATCH_UP`.
        let waited = Instant::now();
        loop {
            let read = self.read;
            let (_, applied) = self.page(client, peer, None, 1).await?;
            self.read = read;
            if applied >= self.through {
                break;
            }
            if waited.elapsed() > CATCH_UP {
                return Err(Answer::Failed(format!(
                    "it has not applied revision {} within {CATCH_UP:?}",
                    self.through
                )));
            }
            tokio::time::sleep(CATCH_UP_PAUSE).await;
        }
        let mut from = self.after.to_string();
        loop {
            let (page, _) = self.page(client, peer, Some(&from), PAGE).await?;
            let mut events = Vec::new();
            let mut done = page.next.is_none();
            for event in page.events {
                let id: EventId = event.id.parse().map_err(|_| {
                    Answer::Failed(format!("an event id {:?} that is not one", event.id))
                })?;
                if id <= self.after {
                    continue;
                }
                if id.revision > self.through {
                    done = true;
                    break;
                }
                if matches!(event.kind, HistoryKind::Gap | HistoryKind::Started) {
                    // Its own gap: what came before it there is not known.
                    self.import(history, events)?;
                    return Err(Answer::Partly(format!(
                        "its history has a {} at {id}",
                        event.kind.as_str()
                    )));
                }
                self.after = id;
                events.push(event);
            }
            self.import(history, events)?;
            if done {
                return Ok(());
            }
            from = page
                .next
                .expect("a page that is not the last says where the next starts");
        }
    }

    /// Hands `events` to `history`: all of them, or the fill is partial.
    fn import(
        &mut self,
        history: &History,
        events: Vec<wire::registry::HistoryEvent>,
    ) -> Result<(), Answer> {
        let given = events.len();
        let taken = history.import(events);
        self.taken += taken;
        if taken < given {
            return Err(Answer::Partly(format!(
                "{} of its events could not be read",
                given - taken
            )));
        }
        Ok(())
    }

    /// One page of `peer`'s history from `from` (its oldest, if none), and the revision it
    /// had applied.
    async fn page(
        &mut self,
        client: &reqwest::Client,
        peer: &str,
        from: Option<&str>,
        limit: usize,
    ) -> Result<(HistoryPage, u64), Answer> {
        let mut request = client
            .get(format!("{peer}/history"))
            .query(&[("limit", limit.to_string())]);
        if let Some(from) = from {
            request = request.query(&[("from", from)]);
        }
        let response = request
            .send()
            .await
            .map_err(|err| Answer::Failed(err.to_string()))?;
        if !response.status().is_success() {
            return Err(Answer::Failed(format!(
                "GET /history answered {}",
                response.status()
            )));
        }
        let applied = response
            .headers()
            .get(APPLIED_HEADER)
            .and_then(|value| value.to_str().ok()?.parse().ok())
            .ok_or_else(|| Answer::Failed(format!("no {APPLIED_HEADER} header")))?;
        let body = crate::http::client::read_limited(response, MAX_PAGE_BYTES)
            .await
            .map_err(|err| Answer::Failed(err.to_string()))?;
        self.read += body.len();
        if self.read > MAX_FILL_BYTES {
            return Err(Answer::Partly(format!(
                "what it missed weighs more than {} MiB",
                MAX_FILL_BYTES / (1024 * 1024)
            )));
        }
        let page = serde_json::from_slice(&body).map_err(|err| Answer::Failed(err.to_string()))?;
        Ok((page, applied))
    }
}
