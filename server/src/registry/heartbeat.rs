//! The heartbeat checker: every interval, one round GETs every instance's HeartbeatURL,
//! concurrently (at most `heartbeat_concurrency` at once, over pooled connections), and
//! applies each result the moment it arrives, so a dead instance goes critical without
//! waiting for slower checks. The round's results are then published as one live event.
//! The same tick expires overdue TTL instances and drops long-critical ones, and gives out
//! again the flapping instances that have passed for a whole `--flap-window`.
//!
//! A round takes as long as its slowest check (at most the heartbeat timeout), never a
//! sleep per instance. If a round overruns the interval, the next tick waits for it.
//!
//! Self-preservation: when more than `self_preservation_threshold` of the checked hosts
//! fail in one round (a host fails when every instance checked on it fails; at least
//! `self_preservation_min_hosts` hosts must be checked), the failure is more likely the
//! registry's own network than every host at once. It counts hosts rather than instances,
//! so a client that registers many dead instances on its own machine cannot switch it on
//! (and so hold every other eviction). From the next round on, failures are still counted
//! and shown, but no one is evicted for them, until a round's failure rate falls to the
//! threshold again. Since an instance needs `heartbeat_failures` (default 2) failures in a
//! row to be evicted, the round that reveals a mass failure evicts no one either.

use std::{sync::Arc, time::Instant};

use futures::StreamExt;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{
    config::RegistryConfig,
    outbound::Outbound,
    store::{CheckOutcome, HeartbeatTarget, Store},
};

/// Runs rounds until `shutdown` is cancelled.
pub async fn run(store: Arc<dyn Store>, config: RegistryConfig, shutdown: CancellationToken) {
    let outbound = Outbound::new(config.heartbeat_timeout, None);
    let mut preserving = false;
    let mut ticker = tokio::time::interval(config.heartbeat_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        // Not while evictions are held: a failing instance may look steady then.
        if !store.self_preservation()
            && let Err(err) = store.settle().await
        {
            tracing::warn!(%err, "an instance given out again after flapping was not recorded");
        }
        if !store.checks_here() {
            // Another node leads: it checks. Start afresh if this one leads again.
            if preserving {
                preserving = false;
                store.set_self_preservation(false);
            }
            continue;
        }
        let started = Instant::now();
        if let Err(err) = store.expire().await {
            tracing::warn!(%err, "expiring overdue instances failed; trying again next round");
        }
        let targets = spread_over_hosts(store.heartbeat_targets());
        let checked = targets.len();
        let results: Vec<_> = futures::stream::iter(targets)
            .map(|target| {
                let outbound = &outbound;
                let store = &store;
                async move {
                    let (latency, result) = outbound.heartbeat(&target.heartbeat_url).await;
                    let check = (host_of(&target.heartbeat_url).to_ascii_lowercase(), result.is_ok());
                    crate::ops::metrics::global()
                        .heartbeat_seconds
                        .observe(latency.as_secs_f64());
                    let outcome = CheckOutcome {
                        ok: result.is_ok(),
                        latency,
                        error: result.err().map(|err| err.to_string()),
                        hold_eviction: preserving,
                    };
                    let recorded = match store.record_check(&target, outcome).await {
                        Ok(result) => result,
                        Err(err) => {
                            tracing::warn!(url = %target.url, %err, "a heartbeat result was not recorded");
                            None
                        }
                    };
                    (check, recorded)
                }
            })
            .buffer_unordered(config.heartbeat_concurrency as usize)
            .collect()
            .await;
        // Host → whether any instance on it passed.
        let mut hosts = std::collections::HashMap::<String, bool>::new();
        let results: Vec<_> = results
            .into_iter()
            .filter_map(|((host, ok), recorded)| {
                *hosts.entry(host).or_default() |= ok;
                recorded
            })
            .collect();
        let failed = hosts.values().filter(|passed| !**passed).count();
        let mass_failure = hosts.len() >= config.self_preservation_min_hosts
            && failed as f64 > config.self_preservation_threshold * hosts.len() as f64;
        if mass_failure != preserving {
            preserving = mass_failure;
            store.set_self_preservation(preserving);
            if preserving {
                tracing::warn!(
                    failed_hosts = failed,
                    hosts = hosts.len(),
                    "self-preservation on: on most hosts every instance failed its heartbeat \
                     in one round; holding evictions until the failure rate falls"
                );
            } else {
                tracing::info!(
                    failed_hosts = failed,
                    hosts = hosts.len(),
                    "self-preservation off: evicting failed instances again"
                );
            }
        }
        if let Err(err) = store.publish_heartbeats(results).await {
            tracing::warn!(%err, "a round of heartbeat results was not published");
        }
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

/// The authority of `url` (`host:port`), as written.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// The host of `url`, without user or port (`[::1]` keeps its brackets), as written:
/// cheap enough for every check of a round.
pub fn host_of(url: &str) -> &str {
    let authority = authority(url);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The targets in an order that takes turns between hosts: each host's first, then each
/// one's second, and so on (each host's own in their given order). Listed by URL, a
/// host's instances come together, so a round's concurrent checks piled onto a few hosts
/// at a time, and the pool kept as many connections to every host as it ever had checks
/// in flight there: 10,000 connections for 10,000 instances on 100 hosts (see
/// `BENCHMARKS.md`). Taking turns spreads the checks, and the connections, evenly.
pub fn spread_over_hosts(targets: Vec<HeartbeatTarget>) -> Vec<HeartbeatTarget> {
    let host = authority;
    let mut turns: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut order: Vec<(usize, usize)> = targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let turn = turns.entry(host(&target.heartbeat_url)).or_insert(0);
            *turn += 1;
            (*turn, index)
        })
        .collect();
    order.sort_unstable();
    let mut slots: Vec<Option<HeartbeatTarget>> = targets.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(_, index)| slots[index].take())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(heartbeat_url: &str) -> HeartbeatTarget {
        HeartbeatTarget {
            url: heartbeat_url.into(),
            heartbeat_url: heartbeat_url.into(),
            generation: 1,
        }
    }

    #[test]
    fn a_host_is_its_name_or_address_without_user_or_port() {
        for (url, host) in [
            ("http://a:1/hb", "a"),
            ("http://user:pw@B.example:80/x?y", "B.example"),
            ("https://[::1]:8080/hb", "[::1]"),
            ("http://[fe80::1]/", "[fe80::1]"),
            ("http://10.0.0.5?x", "10.0.0.5"),
        ] {
            assert_eq!(host_of(url), host, "{url}");
        }
    }

    #[test]
    fn checks_take_turns_between_hosts_keeping_each_hosts_order() {
        let urls = [
            "http://a:1/hb/1",
            "http://a:1/hb/2",
            "http://a:1/hb/3",
            "http://b:2/hb/1",
            "http://c:3?x",
            "http://b:2/hb/2",
        ];
        let spread: Vec<String> = spread_over_hosts(urls.iter().map(|u| target(u)).collect())
            .into_iter()
            .map(|t| t.heartbeat_url)
            .collect();
        assert_eq!(
            spread,
            [
                "http://a:1/hb/1",
                "http://b:2/hb/1",
                "http://c:3?x",
                "http://a:1/hb/2",
                "http://b:2/hb/2",
                "http://a:1/hb/3",
            ]
        );
        assert!(spread_over_hosts(Vec::new()).is_empty());
    }
}
