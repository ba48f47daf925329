//! The patch sender: keeps every dependent's view of its providers in step with the
//! registry by POSTing patches to its `ServiceUpdateURL`.
//!
//! It syncs state rather than queueing messages. For each target it holds the view the
//! target should have (`desired`, kept current by the store under its lock) and the view
//! the target has acknowledged (`acked`). One worker task per target sends the difference
//! as a patch, waits for the answer, and repeats until the two agree. So:
//! - each target receives its patches in order (one worker, one patch at a time);
//! - a failed delivery loses nothing: the next attempt sends the difference again, with
//!   any later changes folded in;
//! - a slow or dead target delays no other (each has its own worker);
//! - registering sends a full patch: the target's acknowledged view starts empty. Each
//!   patch says in a header whether it is the full view or a change (see
//!   [`PATCH_KIND_HEADER`]), so a target can tell a change from before it registered
//!   (still in flight when it did) from the full view that supersedes it;
//! - each patch is ordered (`<epoch>.<sequence>`, [`PATCH_ORDER_HEADER`]): the sender's
//!   epoch (a cluster leader's election revision, which grows with every term; the
//!   process's start otherwise) and a sequence it counts up. Our runtime drops a patch
//!   ordered before one it has applied: one delayed on the way, or a dead leader's last.
//!
//! A send that fails or times out may still arrive, late: so the next patch to that
//! target is its full view, ordered after it, removing whatever the lost one added that
//! it should not have. Such a send is retried this way, with doubling back-off, a bounded
//! number of times; then the target is left alone until its view changes again or it passes
//! a heartbeat.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use parking_lot::Mutex;

use wire::registry::{
    PATCH_DELTA, PATCH_FULL, PATCH_KIND_HEADER, PATCH_ORDER_HEADER, Patch, PatchEntry,
};

use super::outbound::Outbound;
use crate::http::shutdown::Background;

/// First back-off after a failed delivery; it doubles with each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The most deliveries in flight at once, over every target: a change seen by 10,000
/// dependents must not open 10,000 connections (and file descriptors) at once. Well
/// above make bench's 100 dependents, whose propagation figure it leaves untouched.
pub const MAX_IN_FLIGHT: usize = 512;

/// Keeps every dependent's view of its providers in step with the registry, one worker
/// per target (see the module documentation). Cheap to clone: clones share the targets.
#[derive(Clone)]
pub struct PatchSender {
    inner: Arc<Inner>,
}

struct Inner {
    targets: Mutex<HashMap<String, Target>>,
    outbound: Outbound,
    retries: u32,
    /// Source of worker ids and epochs, unique across targets that come and go.
    ids: AtomicU64,
    /// Where workers run; they stop, mid-delivery if need be, when it stops.
    background: Background,
    /// Whether this sender sends at all. A replica of a replicated registry keeps every
    /// target's desired view but sends only while it leads ([`PatchSender::set_active`]).
    active: AtomicBool,
    /// While active, until when (a leader's lease): past it, no patch is sent.
    active_until: Mutex<Option<std::time::Instant>>,
    /// A permit for each delivery in flight ([`MAX_IN_FLIGHT`]).
    in_flight: tokio::sync::Semaphore,
    /// The epoch of this sender's patches ([`PatchSender::set_epoch`]).
    epoch: AtomicU64,
    /// The sequence of its last patch.
    sequence: AtomicU64,
}

struct Target {
    update_url: String,
    desired: BTreeSet<PatchEntry>,
    acked: BTreeSet<PatchEntry>,
    /// Renewed when the target registers again; an answer for an older epoch is ignored.
    epoch: u64,
    /// The id of the worker sending to this target, if one is running.
    worker: Option<u64>,
    /// Deliveries failed for good; retried on the next change or passing heartbeat.
    stalled: bool,
    /// The target is owed its full view, even an empty one: it registered, or a delivery
    /// failed (and may still arrive, late).
    initial: bool,
    /// What failed deliveries added: the target may hold it, if one arrived after all.
    unsure: BTreeSet<PatchEntry>,
}

impl PatchSender {
    /// A sender posting through `outbound`, retrying a failed delivery `retries` times,
    /// with its workers running as tasks of `background`.
    pub fn new(outbound: Outbound, retries: u32, background: Background) -> PatchSender {
        PatchSender::with_limit(outbound, retries, background, MAX_IN_FLIGHT)
    }

    /// [`PatchSender::new`] with at most `in_flight` deliveries at once.
    pub fn with_limit(
        outbound: Outbound,
        retries: u32,
        background: Background,
        in_flight: usize,
    ) -> PatchSender {
        PatchSender {
            inner: Arc::new(Inner {
                targets: Mutex::default(),
                outbound,
                retries,
                ids: AtomicU64::new(1),
                background,
                active: AtomicBool::new(true),
                active_until: Mutex::new(None),
                in_flight: tokio::sync::Semaphore::new(in_flight),
                // A registry's start: a restarted one's patches come after its last run's.
                epoch: AtomicU64::new(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |since| since.as_millis() as u64),
                ),
                sequence: AtomicU64::new(0),
            }),
        }
    }

    /// The epoch of the patches from now on: a cluster leader's election revision, which
    /// is higher for every later term, so a new leader's patches come after an old one's.
    pub fn set_epoch(&self, epoch: u64) {
        self.inner.epoch.store(epoch, Ordering::SeqCst);
    }

    /// A target (the instance at `instance_url`) registered: it knows nothing yet, so it
    /// is sent `view` in full, even if that is empty, as the original does.
    pub fn reset(&self, instance_url: &str, update_url: &str, view: BTreeSet<PatchEntry>) {
        let mut targets = self.inner.targets.lock();
        let target = targets
            .entry(instance_url.to_owned())
            .or_insert_with(|| Target {
                update_url: update_url.to_owned(),
                desired: BTreeSet::new(),
                acked: BTreeSet::new(),
                epoch: 0,
                worker: None,
                stalled: false,
                initial: true,
                unsure: BTreeSet::new(),
            });
        target.update_url = update_url.to_owned();
        target.desired = view;
        target.acked.clear();
        // The full view it is owed replaces whatever it holds.
        target.unsure.clear();
        target.epoch = self.inner.next_id();
        target.initial = true;
        self.start(instance_url, target);
    }

    /// `entry` joined the view of the target at `instance_url`.
    pub fn add(&self, instance_url: &str, entry: &PatchEntry) {
        self.change(instance_url, |desired| desired.insert(entry.clone()));
    }

    /// `entry` left the view of the target at `instance_url`.
    pub fn remove(&self, instance_url: &str, entry: &PatchEntry) {
        self.change(instance_url, |desired| desired.remove(entry));
    }

    /// The target at `instance_url` left the registry: stop sending to it.
    pub fn forget(&self, instance_url: &str) {
        self.inner.targets.lock().remove(instance_url);
    }

    /// The target answered a heartbeat: if its deliveries had failed, try again now.
    pub fn nudge(&self, instance_url: &str) {
        let mut targets = self.inner.targets.lock();
        if let Some(target) = targets.get_mut(instance_url)
            && target.stalled
        {
            self.start(instance_url, target);
        }
    }

    fn change(&self, instance_url: &str, apply: impl FnOnce(&mut BTreeSet<PatchEntry>) -> bool) {
        let mut targets = self.inner.targets.lock();
        if let Some(target) = targets.get_mut(instance_url)
            && apply(&mut target.desired)
        {
            self.start(instance_url, target);
        }
    }

    /// A sender that never sends: for a scratch copy of the state, which only rebuilds
    /// events.
    pub fn inert() -> PatchSender {
        let sender = PatchSender::new(
            Outbound::new(Duration::from_secs(1), None),
            0,
            Background::new(),
        );
        sender.set_active(false);
        sender
    }

    /// Starts sending (`active`), every target being owed its full view again (a new
    /// leader cannot know what the last one delivered), or stops: running workers end
    /// before their next delivery, and none starts.
    pub fn set_active(&self, active: bool) {
        self.inner.active.store(active, Ordering::SeqCst);
        if !active {
            return;
        }
        let mut targets = self.inner.targets.lock();
        for (instance_url, target) in targets.iter_mut() {
            target.acked.clear();
            target.initial = true;
            target.epoch = self.inner.next_id();
            self.start(instance_url, target);
        }
    }

    /// While active, send nothing after `until` (the end of a leader's lease, renewed as
    /// it is kept alive): a leader paused past its lease must not deliver a stale patch
    /// before it notices it no longer leads.
    pub fn active_until(&self, until: std::time::Instant) {
        *self.inner.active_until.lock() = Some(until);
    }

    /// Starts the target's worker unless it is running (or the sender is inactive).
    fn start(&self, instance_url: &str, target: &mut Target) {
        target.stalled = false;
        if target.worker.is_some() || !self.inner.active.load(Ordering::SeqCst) {
            return;
        }
        let id = self.inner.next_id();
        target.worker = Some(id);
        let inner = self.inner.clone();
        let key = instance_url.to_owned();
        let stopping = inner.background.stopping();
        let background = inner.background.clone();
        background.spawn(async move {
            // A patch cut off by shutdown is not lost: the instance registers again with
            // whichever registry is up, and gets the full view then.
            tokio::select! {
                () = inner.work(key, id) => {}
                () = stopping.cancelled() => {}
            }
        });
    }
}

impl Inner {
    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether patches may be sent now: active, and within the leader's lease if any.
    fn may_send(&self) -> bool {
        self.active.load(Ordering::SeqCst)
            && self
                .active_until
                .lock()
                .is_none_or(|until| std::time::Instant::now() < until)
    }

    /// The order of the next patch: `<epoch>.<sequence>`.
    fn next_order(&self) -> String {
        format!(
            "{}.{}",
            self.epoch.load(Ordering::SeqCst),
            self.sequence.fetch_add(1, Ordering::SeqCst) + 1
        )
    }

    /// Sends differences to one target until it is in step, or has failed for good.
    /// Worker `id` stops as soon as the target is gone or has another worker, or the
    /// sender may no longer send.
    async fn work(self: Arc<Self>, key: String, id: u64) {
        let mut backoff = FIRST_BACKOFF;
        let mut failures = 0;
        loop {
            let (update_url, patch, epoch, full, order) = {
                let mut targets = self.targets.lock();
                let Some(target) = targets.get_mut(&key).filter(|t| t.worker == Some(id)) else {
                    return;
                };
                if !self.may_send() {
                    target.worker = None;
                    return;
                }
                let full = target.initial;
                let patch = if full {
                    // Its whole view; and, for a runtime that applies it as a change (the
                    // original's), what it may hold beyond that removed.
                    Patch {
                        added: target.desired.iter().cloned().collect(),
                        removed: target
                            .acked
                            .union(&target.unsure)
                            .filter(|entry| !target.desired.contains(entry))
                            .cloned()
                            .collect(),
                    }
                } else {
                    Patch {
                        added: target.desired.difference(&target.acked).cloned().collect(),
                        removed: target.acked.difference(&target.desired).cloned().collect(),
                    }
                };
                if patch.is_empty() && !full {
                    target.worker = None;
                    return;
                }
                // Numbered under the lock: a later worker's patch (the target registered
                // again meanwhile) is always numbered after this one.
                let order = self.next_order();
                (target.update_url.clone(), patch, target.epoch, full, order)
            };

            let body = serde_json::to_string(&patch).expect("patches serialise");
            let kind = if full { PATCH_FULL } else { PATCH_DELTA };
            let sent = {
                let _permit = self
                    .in_flight
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                self.outbound
                    .post_json(
                        &update_url,
                        body,
                        &[(PATCH_KIND_HEADER, kind), (PATCH_ORDER_HEADER, &order)],
                    )
                    .await
            };

            {
                let mut targets = self.targets.lock();
                let Some(target) = targets.get_mut(&key).filter(|t| t.worker == Some(id)) else {
                    return;
                };
                match sent {
                    Ok(()) => {
                        crate::ops::metrics::global().patches_sent.inc();
                        (backoff, failures) = (FIRST_BACKOFF, 0);
                        // Unless the target registered again meanwhile (its view is then
                        // owed in full anyway).
                        if target.epoch == epoch {
                            if full {
                                target.acked = patch.added.into_iter().collect();
                                target.unsure.clear();
                                target.initial = false;
                            } else {
                                for entry in patch.added {
                                    target.acked.insert(entry);
                                }
                                for entry in &patch.removed {
                                    target.acked.remove(entry);
                                }
                            }
                        }
                        continue;
                    }
                    Err(err) => {
                        // It may still arrive, late: the next patch is the full view,
                        // ordered after it, taking back what it added.
                        target.unsure.extend(patch.added);
                        target.initial = true;
                        if failures >= self.retries {
                            crate::ops::metrics::global().patches_failed.inc();
                            tracing::warn!(
                                target = %key, %update_url, %err,
                                "patch not delivered after {} retries; will retry on its next change or heartbeat",
                                self.retries
                            );
                            target.worker = None;
                            target.stalled = true;
                            return;
                        }
                        tracing::debug!(%update_url, %err, failures, "patch delivery failed, retrying with the full view");
                    }
                }
            }
            failures += 1;
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// However many targets a change reaches, no more deliveries than the limit are in
    /// flight at once, and every target still gets its patch.
    #[tokio::test]
    async fn deliveries_in_flight_are_bounded() {
        let (now, most, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let counters = (now.clone(), most.clone(), done.clone());
        let app = axum::Router::new().fallback(move || {
            let (now, most, done) = counters.clone();
            async move {
                let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(inside, Ordering::SeqCst);
                // Held long enough for every other delivery to try to start meanwhile.
                tokio::time::sleep(Duration::from_millis(50)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                ""
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });

        let background = Background::new();
        let sender = PatchSender::with_limit(
            Outbound::new(Duration::from_secs(5), None),
            0,
            background.clone(),
            3,
        );
        for i in 0..20 {
            sender.reset(
                &format!("http://t{i}"),
                &format!("{base}/{i}"),
                BTreeSet::new(),
            );
        }
        while done.load(Ordering::SeqCst) < 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
        background.stop();
    }
}
