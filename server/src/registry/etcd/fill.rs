//! Filling a node's history from its peers. Every node records the changes it applies
//! from etcd in its own files ([`crate::registry::history`]), so a node that was stopped
//! (or cut off while etcd compacted what it missed) lacks what changed meanwhile. When it
//! loads the whole state again, it first asks a peer's `GET /history` for the events after
//! its last, up to the revision it loads, and records them as its own: they carry the same
//! ids and, from the notes every change writes ([`super::keys::Note`]), the same times and
//! reasons. If no peer can give them all, its history says `gap` there.
//!
//! The peers are the candidates in etcd's election: only registry nodes write there, so
//! the registry's token never goes to a URL a client registered. A peer whose history
//! failed to write while it read a page leaves out the page's `Registry-Applied` header:
//! that page is not taken, and the fill is partial unless another peer gives the rest. What a peer may cost is
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
    let mut fill = Fill::new(last, through, Limits::FILL);
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

/// What one fill may read: the most one page may weigh, and all pages together.
#[derive(Debug, Clone, Copy)]
struct Limits {
    page: usize,
    total: usize,
}

impl Limits {
    const FILL: Limits = Limits {
        page: MAX_PAGE_BYTES,
        total: MAX_FILL_BYTES,
    };
}

/// A fill in progress: the last event taken, and what it has read.
struct Fill {
    after: EventId,
    through: u64,
    limits: Limits,
    read: usize,
    taken: usize,
}

/// Why a peer did not give everything.
#[derive(Debug)]
enum Answer {
    /// It answered, and some changes are missing from what it has.
    Partly(String),
    /// It did not answer usefully: another may.
    Failed(String),
}

impl Fill {
    /// A fill of what came after `after` through the revision `through`.
    fn new(after: EventId, through: u64, limits: Limits) -> Fill {
        Fill {
            after,
            through,
            limits,
            read: 0,
            taken: 0,
        }
    }

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
        let mut from = self.after;
        loop {
            let (page, _) = self
                .page(client, peer, Some(&from.to_string()), PAGE)
                .await?;
            let mut events = Vec::new();
            let mut done = page.next.is_none();
            for event in page.events {
                let id: EventId = event.id.parse().map_err(|_| {
                    Answer::Failed(format!("an event id {:?} that is not one", event.id))
                })?;
                if id <= self.after {
                    continue;
                }
                // Its own gap, even past the revision loaded (a gap takes the id of the
                // last change it lost, so the changes before it may be this node's):
                // what came before it there is not known.
                if matches!(event.kind, HistoryKind::Gap | HistoryKind::Started) {
                    self.import(history, events)?;
                    return Err(Answer::Partly(format!(
                        "its history has a {} at {id}",
                        event.kind.as_str()
                    )));
                }
                if id.revision > self.through {
                    done = true;
                    break;
                }
                self.after = id;
                events.push(event);
            }
            self.import(history, events)?;
            if done {
                return Ok(());
            }
            // A page ends where the ids change, so the next starts past it; a peer whose
            // pages stand still would be asked until the deadline.
            let next = page
                .next
                .expect("a page that is not the last says where the next starts");
            match next.parse::<EventId>() {
                Ok(next) if next > from => from = next,
                _ => {
                    return Err(Answer::Failed(format!(
                        "its page from {from} says the next starts at {next:?}"
                    )));
                }
            }
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
            .ok_or_else(|| {
                // It answered, and cannot say its pages are whole: what this node missed
                // may be missing there too.
                Answer::Partly(format!(
                    "no {APPLIED_HEADER} header: its history may be failing, so its pages \
                     may lack changes"
                ))
            })?;
        let body = crate::http::client::read_limited(response, self.limits.page)
            .await
            .map_err(|err| Answer::Failed(err.to_string()))?;
        self.read += body.len();
        if self.read > self.limits.total {
            return Err(Answer::Partly(format!(
                "what it missed weighs more than {}",
                crate::http::error::human_bytes(self.limits.total)
            )));
        }
        let page = serde_json::from_slice(&body).map_err(|err| Answer::Failed(err.to_string()))?;
        Ok((page, applied))
    }
}

#[cfg(test)]
mod tests {
    //! A peer that answers without end, too much at once, without vouching for its pages,
    //! with a gap, or with pages that stand still: the node filling in takes only what
    //! its rules and limits allow.

    use std::{
        collections::HashMap,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::SystemTime,
    };

    use axum::{
        Router,
        extract::Query,
        http::StatusCode,
        response::{IntoResponse, Response},
        routing::get,
    };
    use wire::registry::{HistoryEvent, HistoryPage};

    use super::*;
    use crate::registry::history::{HistoryConfig, micros, micros_timestamp};

    const LIMITS: Limits = Limits {
        page: 64 * 1024,
        total: 512 * 1024,
    };

    /// The `index`th event of `revision`: about 510 bytes of JSON, so a page of
    /// [`PAGE`] weighs about 51 KB (under [`LIMITS`]' page, over 16 KiB).
    fn event_at(revision: u64, index: u32) -> HistoryEvent {
        HistoryEvent {
            id: EventId { revision, index }.to_string(),
            at: micros_timestamp(micros(SystemTime::now())),
            kind: HistoryKind::Registered,
            service: "Padding".into(),
            instance: format!("http://peer/{revision}"),
            status: None,
            reason: "x".repeat(400),
            registration: None,
            registered_at: None,
        }
    }

    fn event(revision: u64) -> HistoryEvent {
        event_at(revision, 0)
    }

    /// What a page request gave the peer: its `from` (a revision) and `limit`, and how
    /// many pages it was asked for before.
    type Pages = fn(u64, usize, usize) -> HistoryPage;

    /// A peer whose history reaches back to revision 1 and that has applied `applied`
    /// (and says so, if `vouches`): each page is `pages`'. It answers a 500 after 100
    /// pages, so a fill that does not stop fails rather than hangs. How many pages it
    /// was asked for.
    async fn peer(applied: u64, vouches: bool, pages: Pages) -> (String, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = asked.clone();
        let answer = move |Query(query): Query<HashMap<String, String>>| {
            let counted = counted.clone();
            async move {
                let limit: usize = query["limit"].parse().unwrap();
                let page = if limit == 1 {
                    HistoryPage {
                        events: vec![event(1)],
                        next: None,
                    }
                } else {
                    let n = counted.fetch_add(1, Ordering::Relaxed);
                    if n >= 100 {
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                    let from: EventId = query["from"].parse().unwrap();
                    pages(from.revision, limit, n)
                };
                let mut response: Response = axum::Json(page).into_response();
                if vouches {
                    response
                        .headers_mut()
                        .insert(APPLIED_HEADER, applied.into());
                }
                response
            }
        };
        let app = Router::new().route("/history", get(answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, asked)
    }

    /// A fill of what came after revision 5 through `through`, from `url`, into a new
    /// history: its answer and how many events it took.
    async fn fill(url: &str, through: u64, limits: Limits) -> (Result<(), Answer>, usize) {
        // A folder per test: the tests run at once, and a folder takes one history.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "distributed-fill-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            micros(SystemTime::now())
        ));
        let history = History::open(HistoryConfig {
            dir: dir.clone(),
            retention: Duration::from_secs(86_400),
            max_bytes: 64 * 1024 * 1024,
        })
        .unwrap();
        let client = crate::http::client::with_timeout(FILL_TIMEOUT, None);
        let mut fill = Fill::new(EventId::all_of(5), through, limits);
        let answer = fill.from(&client, url, &history).await;
        drop(history);
        let _ = std::fs::remove_dir_all(dir);
        (answer, fill.taken)
    }

    #[tokio::test]
    async fn a_peer_whose_pages_never_end_is_read_only_up_to_the_limit() {
        // Each page moves on and holds new events: only the bytes read stop the fill.
        let (url, asked) = peer(1_000_000, true, |from, limit, _| HistoryPage {
            events: (from..from + limit as u64).map(event).collect(),
            next: Some(
                EventId {
                    revision: from + limit as u64,
                    index: 0,
                }
                .to_string(),
            ),
        })
        .await;
        let (answer, taken) = fill(&url, 1_000_000, LIMITS).await;
        match answer {
            Err(Answer::Partly(why)) => {
                assert_eq!(why, "what it missed weighs more than 512 KiB");
            }
            other => panic!("expected a partial fill, got {other:?}"),
        }
        let page_bytes = serde_json::to_vec(&event(1)).unwrap().len() * PAGE;
        let most = LIMITS.total / page_bytes + 2;
        let pages = asked.load(Ordering::Relaxed);
        assert!(
            (2..=most).contains(&pages),
            "asked for {pages} pages of {page_bytes} bytes, at most {most} expected"
        );
        assert!(taken > 0 && taken < pages * PAGE, "{taken}");
    }

    #[tokio::test]
    async fn a_peer_whose_pages_stand_still_is_asked_no_further() {
        // Tiny pages of what the node has, each saying the next starts where it did.
        let (url, asked) = peer(100, true, |from, _, _| HistoryPage {
            events: vec![event(from)],
            next: Some(from.to_string()),
        })
        .await;
        let (answer, taken) = fill(&url, 100, LIMITS).await;
        match answer {
            Err(Answer::Failed(why)) => {
                assert_eq!(why, r#"its page from 5 says the next starts at "5""#);
            }
            other => panic!("expected a failed fill, got {other:?}"),
        }
        assert_eq!(asked.load(Ordering::Relaxed), 1);
        assert_eq!(taken, 0);
    }

    #[tokio::test]
    async fn a_page_over_the_limit_is_refused_and_another_peer_may_be_asked() {
        let (url, asked) = peer(100, true, |from, limit, _| HistoryPage {
            events: (from..from + limit as u64).map(event).collect(),
            next: None,
        })
        .await;
        let limits = Limits {
            page: 16 * 1024,
            ..LIMITS
        };
        let (answer, taken) = fill(&url, 100, limits).await;
        match answer {
            Err(Answer::Failed(why)) => {
                assert!(why.contains("larger than 16384 bytes"), "{why}");
            }
            other => panic!("expected a failed fill, got {other:?}"),
        }
        assert_eq!(asked.load(Ordering::Relaxed), 1);
        assert_eq!(taken, 0, "nothing of a refused page is taken");
    }

    #[tokio::test]
    async fn a_page_a_peer_does_not_vouch_for_is_not_whole() {
        // As a node whose history fails answers: its pages, without the header.
        let (url, _) = peer(100, false, |from, _, _| HistoryPage {
            events: (from..=10).map(event).collect(),
            next: None,
        })
        .await;
        let (answer, taken) = fill(&url, 100, LIMITS).await;
        match answer {
            Err(Answer::Partly(why)) => {
                assert!(why.starts_with("no registry-applied header"), "{why}");
            }
            other => panic!("expected a partial fill, got {other:?}"),
        }
        assert_eq!(taken, 0, "the page is not taken");
    }

    #[tokio::test]
    async fn a_gap_past_the_revision_loaded_still_makes_the_fill_partial() {
        // The peer lost revisions 10 to 60 and says so with a gap at 60 (a gap takes the
        // id of the last change it lost): this node, loading revision 55, lacks 10 to 55.
        let (url, _) = peer(100, true, |from, _, _| {
            let mut events: Vec<HistoryEvent> = (from..10).map(event).collect();
            let mut gap = event(60);
            gap.kind = HistoryKind::Gap;
            events.push(gap);
            events.push(event(61));
            HistoryPage { events, next: None }
        })
        .await;
        let (answer, taken) = fill(&url, 55, LIMITS).await;
        match answer {
            Err(Answer::Partly(why)) => assert_eq!(why, "its history has a gap at 60.0"),
            other => panic!("expected a partial fill, got {other:?}"),
        }
        assert_eq!(taken, 4, "6 to 9, before the gap");
    }
}
