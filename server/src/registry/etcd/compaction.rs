//! Compaction of etcd's history (`--etcd-history`, default 1h): etcd keeps every
//! revision of every key until someone compacts it, so a registry that never did grew
//! until etcd's quota alarm stopped every write. The leader compacts; every node keeps
//! the samples, so a new leader can compact at once.
//!
//! Every step (a quarter of the history, between 1 s and 5 min) a node samples the
//! revision its copy has reached. The leader compacts to the newest sample at least the
//! history old: what a live stream resumed on another node can still be replayed from
//! (older than that, a client is sent a snapshot). `make cluster` also starts etcd with
//! its own periodic auto-compaction, as a second line.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

use super::EtcdStore;

/// How often a node samples its revision for a history of `history`.
pub fn step(history: Duration) -> Duration {
    (history / 4).clamp(Duration::from_secs(1), Duration::from_secs(300))
}

/// Samples this node's revision, and compacts etcd's history older than `history` while
/// it leads, until `stopping`.
pub async fn run(store: Arc<EtcdStore>, history: Duration, stopping: CancellationToken) {
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut compacted = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(step(history)) => {}
            () = stopping.cancelled() => return,
        }
        let reached = *store.applied.borrow();
        if reached > 0 {
            samples.push_back((Instant::now(), reached));
        }
        // The newest sample at least `history` old; the older ones are no longer needed.
        let mut due = None;
        while samples
            .front()
            .is_some_and(|(at, _)| at.elapsed() >= history)
        {
            due = samples.pop_front().map(|(_, revision)| revision);
        }
        let Some(due) = due else { continue };
        if due <= compacted || !store.leadership.is_leading() {
            continue;
        }
        let mut client = store.client.clone();
        match tokio::time::timeout(super::WRITE_TIMEOUT, client.compact(due as i64, None)).await {
            Ok(Ok(_)) => {
                compacted = due;
                crate::ops::metrics::global().etcd_compactions.inc();
                tracing::info!(
                    revision = due,
                    "compacted etcd's history older than --etcd-history"
                );
            }
            // Compacted there already (etcd's own auto-compaction, or an earlier leader).
            Ok(Err(err)) if err.to_string().contains("compacted") => compacted = due,
            Ok(Err(err)) => {
                tracing::warn!(%err, revision = due, "compacting etcd's history failed; trying again next step")
            }
            Err(_) => tracing::warn!(
                revision = due,
                "compacting etcd's history did not finish in time; trying again next step"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_a_quarter_of_the_history_within_bounds() {
        assert_eq!(step(Duration::from_secs(3600)), Duration::from_secs(300));
        assert_eq!(step(Duration::from_secs(600)), Duration::from_secs(150));
        assert_eq!(step(Duration::from_secs(2)), Duration::from_secs(1));
    }
}
