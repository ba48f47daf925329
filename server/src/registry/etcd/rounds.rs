//! The leader's heartbeat rounds, shared with the other nodes over HTTP rather than
//! through etcd: a passing check changes nothing worth a revision, and writing every
//! round grew etcd's history by about 100 bytes per instance per second (1.7 GiB a day
//! at 200 instances) until its quota stopped every write.
//!
//! The leader keeps its latest round of its term ([`Rounds`]); `GET
//! /cluster/heartbeats?after=<n>` answers it as soon as there is one numbered above `n` (a
//! long poll of at most [`LONG_POLL`], then 204), and 503 from a node that does not lead
//! (at once, or as soon as it stops). Each other node asks the leader it finds in etcd's
//! election ([`follow_leader`]), with the registry's token if it has one, and shows each
//! round as a live-only event (see [`crate::registry::journal`]). A follower that misses
//! rounds (the leader changing, a slow link) shows the next one: rounds are measurements,
//! not state.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio_util::sync::CancellationToken;
use wire::registry::{CheckResult, HeartbeatRound};

use super::{EtcdStore, leader::Leadership};
use crate::{
    http::error::ApiError,
    registry::{Registry, state::Stamp},
};

/// How long a request for the next round waits for it before answering 204.
pub const LONG_POLL: Duration = Duration::from_secs(20);
/// The most a round takes per instance (a result is about 150 bytes; an error text can
/// be longer): with `--max-instances`, the largest round a follower reads.
const MAX_BYTES_PER_INSTANCE: usize = 1024;
/// How often a waiting request looks whether this node still leads.
const LEADING_EVERY: Duration = Duration::from_millis(250);
/// Back-off after a failed request, or while no leader is known.
const RETRY: Duration = Duration::from_secs(1);

/// One round, serialised once for every follower that asks.
#[derive(Debug)]
pub struct Round {
    pub number: u64,
    /// The leader's term it was checked in ([`Leadership::term`]).
    term: i64,
    pub json: Bytes,
}

/// The leader's latest round: published by its checker, read by `GET /cluster/heartbeats`.
#[derive(Debug, Clone, Default)]
pub struct Rounds(Arc<RoundsInner>);

#[derive(Debug)]
struct RoundsInner {
    latest: tokio::sync::watch::Sender<Option<Arc<Round>>>,
    /// This node's leadership, once it is a node of a cluster.
    leadership: std::sync::OnceLock<Arc<Leadership>>,
}

impl Default for RoundsInner {
    fn default() -> Self {
        RoundsInner {
            latest: tokio::sync::watch::Sender::new(None),
            leadership: std::sync::OnceLock::new(),
        }
    }
}

impl Rounds {
    /// The rounds of a node whose leadership is `leadership`.
    pub fn attach(&self, leadership: Arc<Leadership>) {
        let _ = self.0.leadership.set(leadership);
    }

    /// This node's term, while it leads.
    fn term(&self) -> Option<i64> {
        self.0.leadership.get()?.term()
    }

    /// Publishes `results` as the next round of the leader at `leader`, in this term.
    /// A round's number is the time in ms (at least one above the last), so a new leader's
    /// rounds follow an old one's.
    pub fn publish(&self, leader: &str, results: Vec<CheckResult>) {
        let Some(term) = self.term() else { return };
        let last = self
            .0
            .latest
            .borrow()
            .as_ref()
            .map_or(0, |round| round.number);
        let now = super::keys::millis_since_epoch(std::time::SystemTime::now());
        let round = HeartbeatRound {
            leader: leader.to_owned(),
            round: now.max(last + 1),
            results,
        };
        let json = serde_json::to_vec(&round).expect("rounds serialise");
        self.0.latest.send_replace(Some(Arc::new(Round {
            number: round.round,
            term,
            json: json.into(),
        })));
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct After {
    #[serde(default)]
    after: u64,
}

/// `GET /cluster/heartbeats?after=<n>`: this node's latest round once it is numbered
/// above `n`; 204 if none comes within [`LONG_POLL`]; 404 on a registry without etcd.
pub async fn latest(
    State(registry): State<Registry>,
    Query(After { after }): Query<After>,
) -> Result<Response, ApiError> {
    if !registry.clustered() {
        return Err(ApiError::not_found(
            "this registry keeps its state in memory (no --etcd): it has no followers to share its heartbeat rounds with",
        ));
    }
    let rounds = &registry.rounds;
    let mut latest = rounds.0.latest.subscribe();
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        // Only a round of this term: an earlier term's may be hours old.
        let Some(term) = rounds.term() else {
            return Err(ApiError::unavailable(
                "this node does not lead the cluster: ask the node etcd's election names",
            ));
        };
        let round = latest
            .borrow_and_update()
            .clone()
            .filter(|round| round.term == term && round.number > after);
        if let Some(round) = round {
            return Ok((
                [(header::CONTENT_TYPE, "application/json")],
                round.json.clone(),
            )
                .into_response());
        }
        let wake = (tokio::time::Instant::now() + LEADING_EVERY).min(deadline);
        tokio::select! {
            _ = latest.changed() => {}
            () = tokio::time::sleep_until(wake) => {}
            () = registry.shutdown.cancelled() => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
}

/// Why a node did not get the leader's next round.
#[derive(Debug, thiserror::Error)]
enum NoRound {
    /// This node leads, will lead shortly, or knows no leader: nothing to fetch, and
    /// nothing to say.
    #[error("no other node leads")]
    NoOtherLeader,
    #[error("{url}")]
    Call {
        url: String,
        #[source]
        source: crate::http::client::ClientError,
    },
    #[error("{url} answered {status}")]
    Status { url: String, status: StatusCode },
    #[error("{url} answered an unreadable round")]
    Unreadable {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

/// While this node does not lead, fetches each round from the node that does, and shows it.
/// Ends when `stopping`. Its requests carry `token` (a registry whose reads need it guards
/// this route too), and it reads at most one round of `max_instances` results.
pub async fn follow_leader(
    store: Arc<EtcdStore>,
    own_url: String,
    token: Option<String>,
    max_instances: u64,
    stopping: CancellationToken,
) {
    // A round takes at most the long poll; the rest is margin for a slow network.
    let http =
        crate::http::client::with_timeout(LONG_POLL + Duration::from_secs(10), token.as_deref());
    let limit = usize::try_from(max_instances)
        .unwrap_or(usize::MAX)
        .saturating_mul(MAX_BYTES_PER_INSTANCE)
        .clamp(1024 * 1024, 64 * 1024 * 1024);
    // The leader last asked, and its last round shown.
    let mut last: Option<(String, u64)> = None;
    // What went wrong last, said once until it changes.
    let mut said: Option<String> = None;
    loop {
        if stopping.is_cancelled() {
            return;
        }
        let fetched = async {
            if store.leadership.is_leading() {
                last = None;
                return Err(NoRound::NoOtherLeader);
            }
            let leader = store.leader_url().await.ok_or(NoRound::NoOtherLeader)?;
            if leader == own_url {
                // Its own election key, left from before a restart: it will lead shortly.
                return Err(NoRound::NoOtherLeader);
            }
            let after = match &last {
                Some((asked, number)) if *asked == leader => *number,
                _ => 0,
            };
            let url = format!(
                "{}/cluster/heartbeats?after={after}",
                leader.trim_end_matches('/')
            );
            let response = http.get(&url).send().await.map_err(|err| NoRound::Call {
                url: url.clone(),
                source: err.into(),
            })?;
            if response.status() == StatusCode::NO_CONTENT {
                return Ok(());
            }
            if !response.status().is_success() {
                return Err(NoRound::Status {
                    url,
                    status: response.status(),
                });
            }
            let body = crate::http::client::read_limited(response, limit)
                .await
                .map_err(|source| NoRound::Call {
                    url: url.clone(),
                    source,
                })?;
            let round: HeartbeatRound = serde_json::from_slice(&body)
                .map_err(|source| NoRound::Unreadable { url, source })?;
            // A node that began to lead meanwhile shows its own rounds only.
            if round.leader == leader && round.round > after && !store.leadership.is_leading() {
                let mut copy = store.copy.lock();
                copy.apply_results(&round.results);
                copy.publish_round(round.results, Stamp::Live);
                last = Some((leader, round.round));
            }
            Ok(())
        };
        let fetched = tokio::select! {
            fetched = fetched => fetched,
            () = stopping.cancelled() => return,
        };
        match fetched {
            Ok(()) => said = None,
            Err(err) => {
                // Nothing to fetch is nothing to say; either way, ask again in a while.
                said = match err {
                    NoRound::NoOtherLeader => None,
                    err => {
                        let problem = crate::errors::report(&err);
                        if said.as_ref() != Some(&problem) {
                            tracing::warn!(%problem, "cannot fetch the leader's heartbeat rounds; trying again");
                        }
                        Some(problem)
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => {}
                    () = stopping.cancelled() => return,
                }
            }
        }
    }
}
