//! The heartbeat checker: every interval, one round GETs every instance's HeartbeatURL,
//! concurrently (at most `heartbeat_concurrency` at once, over pooled connections), and
//! applies each result the moment it arrives, so a dead instance goes critical without
//! waiting for slower checks. The round's results are then published as one live event.
//! The same tick expires overdue TTL instances and drops long-critical ones.
//!
//! A round takes as long as its slowest check (at most the heartbeat timeout), never a
//! sleep per instance. If a round overruns the interval, the next tick waits for it.

use std::{sync::Arc, time::Instant};

use futures::StreamExt;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{
    config::RegistryConfig,
    outbound::Outbound,
    store::{CheckOutcome, Store},
};

/// Runs rounds until `shutdown` is cancelled.
pub async fn run(store: Arc<dyn Store>, config: RegistryConfig, shutdown: CancellationToken) {
    let outbound = Outbound::new(config.heartbeat_timeout);
    let mut ticker = tokio::time::interval(config.heartbeat_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let started = Instant::now();
        store.expire();
        let targets = store.heartbeat_targets();
        let checked = targets.len();
        let results: Vec<_> = futures::stream::iter(targets)
            .map(|target| {
                let outbound = &outbound;
                let store = &store;
                async move {
                    let (latency, result) = outbound.heartbeat(&target.heartbeat_url).await;
                    let outcome = CheckOutcome {
                        ok: result.is_ok(),
                        latency,
                        error: result.err(),
                    };
                    store.record_check(&target, outcome)
                }
            })
            .buffer_unordered(config.heartbeat_concurrency as usize)
            .filter_map(std::future::ready)
            .collect()
            .await;
        store.publish_heartbeats(results);
        let took = started.elapsed();
        if took > config.heartbeat_interval {
            tracing::warn!(
                instances = checked,
                took_ms = took.as_millis() as u64,
                "a heartbeat round took longer than the interval"
            );
        }
    }
}
