//! Which etcd members a node's client sends to: the healthy ones. etcd's client spreads
//! its calls over every endpoint it was given and keeps calling a dead member (each call
//! that lands there fails with a connection error), so when a member died with the
//! leader, the next leader's campaign and lease kept landing on it and it led only after
//! about 8 s. Here each member's `/health` is asked every [`PROBE_EVERY`], and only the
//! healthy members stay in the client's balance; while none is healthy (the cluster
//! electing its own leader, which makes every member say so for a second or two), the
//! members that answer at all stay in it; and if none answers, every member does.

use std::{collections::BTreeSet, time::Duration};

use etcd_client::Client;
use tokio_util::sync::CancellationToken;

/// How often each member is asked.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long a member may take to answer (a busy one is not a dead one).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Keeps `client` sending to the healthy members among `endpoints` until `stopping`.
/// With only one endpoint there is nothing to do.
pub async fn keep_healthy(client: Client, endpoints: Vec<String>, stopping: CancellationToken) {
    if endpoints.len() < 2 {
        return;
    }
    let http = crate::http::client::with_timeout(PROBE_TIMEOUT, None);
    let every: BTreeSet<String> = endpoints.iter().cloned().collect();
    let mut in_use = every.clone();
    loop {
        tokio::select! {
            () = tokio::time::sleep(PROBE_EVERY) => {}
            () = stopping.cancelled() => return,
        }
        let answers =
            futures::future::join_all(endpoints.iter().map(|endpoint| health(&http, endpoint)))
                .await;
        let with = |wanted: fn(Health) -> bool| -> BTreeSet<String> {
            endpoints
                .iter()
                .zip(&answers)
                .filter(|(_, health)| wanted(**health))
                .map(|(endpoint, _)| endpoint.clone())
                .collect()
        };
        let healthy = with(|health| health == Health::Healthy);
        let answering = with(|health| health != Health::Silent);
        let wanted = [healthy, answering]
            .into_iter()
            .find(|members| !members.is_empty())
            .unwrap_or_else(|| every.clone());
        // Added first, so the client is never left with none; what failed is tried again
        // at the next probe.
        for endpoint in wanted.difference(&in_use.clone()) {
            match client.add_endpoint(endpoint).await {
                Ok(()) => {
                    in_use.insert(endpoint.clone());
                    tracing::info!(%endpoint, "etcd member healthy again: calls go to it too");
                }
                Err(err) => {
                    tracing::warn!(%endpoint, %err, "cannot put an etcd member back into the client")
                }
            }
        }
        for endpoint in in_use.clone().difference(&wanted) {
            match client.remove_endpoint(endpoint).await {
                Ok(()) => {
                    in_use.remove(endpoint);
                    tracing::warn!(%endpoint, "etcd member not healthy: calls go to the others until it is");
                }
                Err(err) => {
                    tracing::warn!(%endpoint, %err, "cannot take an etcd member out of the client")
                }
            }
        }
    }
}

/// What a member says at `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// `"health":"true"`: it answers, and its cluster has a leader.
    Healthy,
    /// It answers, but not healthy (no leader, an alarm).
    Unhealthy,
    /// No answer: dead, or cut off.
    Silent,
}

async fn health(http: &reqwest::Client, endpoint: &str) -> Health {
    let Ok(answer) = http
        .get(format!("{}/health", endpoint.trim_end_matches('/')))
        .send()
        .await
    else {
        return Health::Silent;
    };
    match answer.json::<serde_json::Value>().await {
        Ok(body) if body["health"].as_str() == Some("true") => Health::Healthy,
        _ => Health::Unhealthy,
    }
}
