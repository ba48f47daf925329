//! The leader's heartbeat rounds, shared with the other nodes over HTTP rather than
//! through etcd: a passing check changes nothing worth a revision, and writing every
//! round grew etcd's history by about 100 bytes per instance per second (1.7 GiB a day
//! at 200 instances) until its quota stopped every write.
//!
//! The leader keeps its latest round ([`Rounds`]); `GET /cluster/heartbeats?after=<n>`
//! answers it as soon as there is one numbered above `n` (a long poll of at most
//! [`LONG_POLL`], then 204). Each other node asks the leader it finds in etcd's election
//! ([`follow_leader`]), and shows each round as a live-only event (see
//! [`crate::registry::journal`]). A follower that misses rounds (the leader changing, a
//! slow link) simply shows the next one: rounds are measurements, not state.

use std::{sync::Arc, time::Duration};

use app::wire::registry::{CheckResult, HeartbeatRound};
use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio_util::sync::CancellationToken;

use super::EtcdStore;
use crate::{http::error::ApiError, registry::Registry};

/// How long a request for the next round waits for it before answering 204.
pub const LONG_POLL: Duration = Duration::from_secs(20);
/// The largest round a follower reads (10,000 instances make about 1.5 MB).
const MAX_ROUND_BYTES: usize = 64 * 1024 * 1024;
/// Back-off after a failed request, or while no leader is known.
const RETRY: Duration = Duration::from_secs(1);

/// One round, serialised once for every follower that asks.
#[derive(Debug)]
pub struct Round {
    pub number: u64,
    pub json: Bytes,
}

/// The leader's latest round: published by its checker, read by `GET /cluster/heartbeats`.
#[derive(Debug, Clone)]
pub struct Rounds(tokio::sync::watch::Sender<Option<Arc<Round>>>);

impl Default for Rounds {
    fn default() -> Self {
        Rounds(tokio::sync::watch::Sender::new(None))
    }
}

impl Rounds {
    /// Publishes `results` as the next round of the leader at `leader`. Numbers are the
    /// time in ms (at least one above the last), so a new leader's follow an old one's.
    pub fn publish(&self, leader: &str, results: Vec<CheckResult>) {
        let last = self.0.borrow().as_ref().map_or(0, |round| round.number);
        let now = super::keys::millis_since_epoch(std::time::SystemTime::now());
        let round = HeartbeatRound {
            leader: leader.to_owned(),
            round: now.max(last + 1),
            results,
        };
        let json = serde_json::to_vec(&round).expect("rounds serialise");
        self.0.send_replace(Some(Arc::new(Round {
            number: round.round,
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
    let mut rounds = registry.rounds.0.subscribe();
    let newer = rounds.wait_for(|round| round.as_ref().is_some_and(|r| r.number > after));
    let round = tokio::select! {
        round = tokio::time::timeout(LONG_POLL, newer) => match round {
            Ok(Ok(round)) => round.clone(),
            _ => None,
        },
        () = registry.shutdown.cancelled() => None,
    };
    Ok(match round {
        Some(round) => (
            [(header::CONTENT_TYPE, "application/json")],
            round.json.clone(),
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// While this node does not lead: fetches each round from the node that does, and shows
/// it. Ends when `stopping`.
pub async fn follow_leader(store: Arc<EtcdStore>, own_url: String, stopping: CancellationToken) {
    // A round takes at most the long poll; the rest is margin for a slow network.
    let http = crate::http::client::with_timeout(LONG_POLL + Duration::from_secs(10), None);
    // The leader last asked, and its last round shown.
    let mut last: Option<(String, u64)> = None;
    loop {
        if stopping.is_cancelled() {
            return;
        }
        let fetched = async {
            if store.leadership.is_leading() {
                last = None;
                return Err(());
            }
            let leader = store.leader_url().await.ok_or(())?;
            if leader == own_url {
                // Its own election key, left from before a restart: it will lead shortly.
                return Err(());
            }
            let after = match &last {
                Some((asked, number)) if *asked == leader => *number,
                _ => 0,
            };
            let url = format!(
                "{}/cluster/heartbeats?after={after}",
                leader.trim_end_matches('/')
            );
            let response = http.get(url).send().await.map_err(|_| ())?;
            if response.status() == StatusCode::NO_CONTENT {
                return Ok(());
            }
            if !response.status().is_success() {
                return Err(());
            }
            let body = crate::http::client::read_limited(response, MAX_ROUND_BYTES)
                .await
                .map_err(|_| ())?;
            let round: HeartbeatRound = serde_json::from_slice(&body).map_err(|_| ())?;
            // A node that began to lead meanwhile shows its own rounds only.
            if round.leader == leader && round.round > after && !store.leadership.is_leading() {
                store.copy.apply_round(round.results, false);
                last = Some((leader, round.round));
            }
            Ok(())
        };
        let paused = tokio::select! {
            fetched = fetched => fetched.is_err(),
            () = stopping.cancelled() => return,
        };
        if paused {
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = stopping.cancelled() => return,
            }
        }
    }
}
