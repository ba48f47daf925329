//! The registry's state in etcd (`--etcd`), shared by any number of registry nodes.
//!
//! | module | owns |
//! | --- | --- |
//! | [`keys`] | where each part of the state lives in etcd, and how it is written |
//! | [`replica`] | this node's copy of the state, kept current by an etcd watch |
//! | [`leader`] | which node runs the checks and sends the patches, and the fence on its writes |
//! | [`rounds`] | the leader's heartbeat rounds, fetched by the other nodes over HTTP |
//! | [`compaction`] | compacting etcd's history older than `--etcd-history` |
//! | [`endpoints`] | which etcd members the client calls: the healthy ones |
//! | [`fill`] | filling this node's history from its peers' with what it missed |
//!
//! Every node answers every call. A change (register, deregister, renew) is an etcd
//! transaction, answered once etcd has committed it *and* this node's copy has caught up
//! to that revision, so a client sees its own change through the node it made it with.
//! Reads (listings, lookups, event streams) are answered from the copy, which every node
//! builds from the same ordered history, so two nodes at the same revision list the same
//! instances with the same statuses, and the live events' ids are etcd's revisions (with
//! each event's index within its revision).
//!
//! Only the leader checks heartbeats, expires instances and sends patches. It counts
//! each instance's failures itself, as each check comes back; the consequences it
//! decides (a status change, a drop) are written to etcd, fenced on its leadership and
//! conditional on the instance's keys being as it decided on them, and take effect on
//! every node, itself included, when the watch brings them. A write that fails is tried
//! again by the next round's decision, and said loudly: an error in the log, the metric
//! `registry_leader_write_failures` and a failing `/healthz` check. A passing check
//! writes nothing: the other nodes fetch each round from the leader ([`rounds`]), so with
//! nothing changing, etcd's revision stands still, and the leader compacts what history
//! there is ([`compaction`]).
//!
//! When etcd is out of reach, changes answer 503 naming etcd, reads answer from the copy
//! with `Registry-Stale`, and no node evicts anyone (the leader has lost its lease). When
//! it returns, the watch resumes where it stopped (or reloads everything, if etcd has
//! compacted that history), without a restart.

pub mod compaction;
pub mod endpoints;
pub mod fill;
pub mod keys;
pub mod leader;
pub mod replica;
pub mod rounds;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use parking_lot::Mutex;

use axum::body::Bytes;
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, PutOptions, Txn, TxnOp};
use wire::registry::{CheckResult, InstanceInfo, REGISTRY, Registration, Status};

use super::{
    config::RegistryConfig,
    journal::{EventId, Subscription},
    patches::PatchSender,
    state::{Cause, Eviction, Expiry, Stamp, State},
    store::{AtRevision, Change, CheckOutcome, HeartbeatTarget, Readiness, Store, StoreError},
    validate::ValidRegistration,
};
use crate::http::shutdown::Background;
use keys::{CRITICAL, Keys, Note, StoredInstance, millis_since_epoch};
use leader::Leadership;
use rounds::Rounds;

/// How long a change may take in etcd, and for this node's copy to catch up with it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a node asks etcd whether it answers, and how long it waits for the answer.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long without an answer from etcd before a node's reads are marked stale.
const STALE_AFTER: Duration = Duration::from_secs(3);
/// Back-off while etcd is out of reach.
const RETRY: Duration = Duration::from_secs(1);

/// Why a registry node on etcd cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// etcd's client cannot use the endpoints given (it reaches them only later).
    #[error("--etcd {endpoints}")]
    Endpoints {
        endpoints: String,
        #[source]
        source: etcd_client::Error,
    },
}

/// A registry node whose state is in etcd. See the module documentation.
pub struct EtcdStore {
    client: Client,
    keys: Keys,
    /// This node's copy of the state, with the patch sender (active while leading) and
    /// the event journal.
    copy: parking_lot::Mutex<State>,
    leadership: Arc<Leadership>,
    /// The revision the copy reflects.
    applied: tokio::sync::watch::Sender<u64>,
    /// When etcd last answered, if it ever did, and what failed since.
    contact: Mutex<Contact>,
    preserving: AtomicBool,
    endpoints: String,
    /// A permit for each replay from etcd's history running ([`replica::MAX_REPLAYS`]).
    replays: tokio::sync::Semaphore,
    /// The revisions of each instance's keys, as the copy has applied them.
    revisions: replica::Revisions,
    /// The leader's latest heartbeat round, for the other nodes.
    rounds: Rounds,
    /// This node's public URL: the leader's name in its rounds.
    public_url: String,
    /// Why a write of this node as leader failed, until a round makes none that fails.
    leader_write_problem: Mutex<Option<String>>,
    /// A write as leader failed since the current round began.
    failed_this_round: AtomicBool,
    election: String,
    /// The registry's token, for the peers' histories this node fills its own from.
    token: Option<String>,
}

#[derive(Debug, Default)]
struct Contact {
    /// The copy has been loaded once.
    loaded: bool,
    last: Option<Instant>,
    problem: Option<String>,
}

impl EtcdStore {
    /// A node on the etcd cluster at `config.etcd`, listed in it as an instance of
    /// `Registry` at `public_url`. Its tasks (following etcd, campaigning, probing,
    /// staying listed) run in `background`; until etcd is reached it answers 503 and
    /// says so on stderr, trying again every second.
    ///
    /// # Errors
    /// An endpoint etcd's client cannot use; the error names the flag.
    pub async fn start(
        config: &RegistryConfig,
        history: Option<Arc<crate::registry::history::History>>,
        patches: PatchSender,
        rounds: Rounds,
        token: Option<&str>,
        public_url: &str,
        background: &Background,
    ) -> Result<Arc<EtcdStore>, StartError> {
        if config.etcd_history < Duration::from_secs(60) {
            tracing::warn!(
                history = ?config.etcd_history,
                "--etcd-history under a minute: etcd is compacted almost to its present, so a \
                 stream resumed on another node gets a snapshot and a watch that breaks \
                 reloads the whole state"
            );
        }
        // A dead member's connection is given up within 2 s of silence, a call to a member
        // cut off from its cluster's leader fails at once rather than waiting, and only
        // healthy members are called ([`endpoints`]).
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_keep_alive(Duration::from_secs(1), Duration::from_secs(1))
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        // The client connects lazily: this fails only for an endpoint it cannot use.
        let client = Client::connect(&config.etcd, Some(options))
            .await
            .map_err(|source| StartError::Endpoints {
                endpoints: config.etcd.join(","),
                source,
            })?;
        patches.set_active(false);
        // Every copy counts status changes; only the leader decides flapping, and every
        // copy applies its decision from etcd (see `settle`), so nodes never disagree.
        let mut copy = State::starting_at(patches.clone(), Eviction::of(config), 0);
        if let Some(history) = history {
            copy.follow_history(history);
        }
        let store = Arc::new(EtcdStore {
            client: client.clone(),
            keys: Keys::new(&config.etcd_prefix),
            copy: parking_lot::Mutex::new(copy),
            leadership: Arc::default(),
            applied: tokio::sync::watch::Sender::new(0),
            contact: Mutex::default(),
            preserving: AtomicBool::new(false),
            endpoints: config.etcd.join(","),
            replays: tokio::sync::Semaphore::new(replica::MAX_REPLAYS),
            revisions: Mutex::default(),
            rounds,
            public_url: public_url.to_owned(),
            leader_write_problem: Mutex::default(),
            failed_this_round: AtomicBool::new(false),
            election: Keys::new(&config.etcd_prefix).election(),
            token: token.map(str::to_owned),
        });
        background.spawn(endpoints::keep_healthy(
            client.clone(),
            config.etcd.clone(),
            background.stopping(),
        ));
        background.spawn(replica::follow(store.clone(), background.stopping()));
        background.spawn(store.clone().probe(background.stopping()));
        store.rounds.attach(store.leadership.clone());
        background.spawn(rounds::follow_leader(
            store.clone(),
            public_url.to_owned(),
            token.map(str::to_owned),
            config.max_instances,
            background.stopping(),
        ));
        background.spawn(compaction::run(
            store.clone(),
            config.etcd_history,
            background.stopping(),
        ));
        background.spawn(leader::run(
            client,
            store.keys.election(),
            public_url.to_owned(),
            config.leader_lease,
            store.leadership.clone(),
            patches,
            background.stopping(),
        ));
        background.spawn(store.clone().stay_listed(
            public_url.to_owned(),
            config.leader_lease,
            background.stopping(),
        ));
        Ok(store)
    }

    /// The `/healthz` checks of a node: etcd answers; and, on the leader, etcd takes its
    /// decisions (a quota alarm refuses them, holding failure detection).
    pub fn health(self: &Arc<Self>) -> crate::ops::health::Health {
        let store = self.clone();
        let leader = self.clone();
        crate::ops::health::Health::new()
            .with(
                "etcd",
                Arc::new(move || {
                    let store = store.clone();
                    Box::pin(async move {
                        match store.readiness() {
                            Readiness::Ready => Ok(()),
                            Readiness::Stale { reason, .. } | Readiness::Unavailable(reason) => {
                                Err(reason)
                            }
                        }
                    })
                }),
            )
            .with(
                "leader writes",
                Arc::new(move || {
                    let problem = leader
                        .leadership
                        .is_leading()
                        .then(|| leader.leader_write_problem.lock().clone())
                        .flatten();
                    Box::pin(std::future::ready(problem.map_or(Ok(()), Err)))
                }),
            )
    }

    /// The URL of the node that leads now, as etcd's election says; `None` if none does
    /// or etcd does not answer.
    async fn leader_url(&self) -> Option<String> {
        let mut elections = self.client.election_client();
        let answer = tokio::time::timeout(PROBE_EVERY, elections.leader(self.election.as_str()))
            .await
            .ok()?
            .ok()?;
        let kv = answer.kv()?;
        String::from_utf8(kv.value().to_vec()).ok()
    }

    /// Etcd answered: reads are current again.
    fn touch(&self) {
        let mut contact = self.contact.lock();
        contact.last = Some(Instant::now());
        contact.problem = None;
    }

    /// Etcd did not answer, for `problem` (what a client is told). Its `cause`, the
    /// driver's own text, goes to the log when the problem is new, never to a client.
    fn trouble(&self, problem: String, cause: Option<&etcd_client::Error>) {
        let mut contact = self.contact.lock();
        if contact.problem.as_ref() != Some(&problem) {
            match cause {
                Some(cause) => tracing::warn!(%cause, "{problem}"),
                None => tracing::warn!("{problem}"),
            }
        }
        contact.problem = Some(problem);
    }

    /// Asks etcd every second whether it answers (a linearizable read, which needs its
    /// quorum), so reads are marked stale when it does not.
    async fn probe(self: Arc<Self>, stopping: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(PROBE_EVERY) => {}
                () = stopping.cancelled() => return,
            }
            let mut client = self.client.clone();
            match tokio::time::timeout(PROBE_EVERY, client.get(self.keys.probe(), None)).await {
                Ok(Ok(_)) => self.touch(),
                Ok(Err(err)) => self.trouble(failure(&self.endpoints, &err), Some(&err)),
                Err(_) => self.trouble(
                    format!(
                        "etcd at {} did not answer within {PROBE_EVERY:?}",
                        self.endpoints
                    ),
                    None,
                ),
            }
        }
    }

    /// Lists this node as an instance of `Registry` at `url`, on a lease it keeps alive,
    /// so the list names every live node; listed again after etcd comes back.
    async fn stay_listed(
        self: Arc<Self>,
        url: String,
        lease: Duration,
        stopping: tokio_util::sync::CancellationToken,
    ) {
        let stored = StoredInstance {
            registration: Registration {
                service_name: REGISTRY.into(),
                service_url: url.clone(),
                ..Registration::default()
            },
            registered_at_ms: millis_since_epoch(SystemTime::now()),
        };
        let value = serde_json::to_string(&stored).expect("instances serialise");
        let key = self.keys.instance(&url);
        loop {
            let listed = async {
                let mut client = self.client.clone();
                let granted = client.lease_grant(lease.as_secs() as i64, None).await?;
                client
                    .put(
                        key.as_str(),
                        value.as_str(),
                        Some(PutOptions::new().with_lease(granted.id())),
                    )
                    .await?;
                let (mut keeper, mut answers) = client.lease_keep_alive(granted.id()).await?;
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let alive = tokio::time::timeout(lease / 3, async {
                        keeper.keep_alive().await?;
                        answers.message().await
                    })
                    .await;
                    match alive {
                        Ok(Ok(Some(answer))) if answer.ttl() > 0 => {}
                        _ => return Ok::<(), etcd_client::Error>(()),
                    }
                }
            };
            tokio::select! {
                _ = listed => {}
                () = stopping.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = stopping.cancelled() => return,
            }
        }
    }

    /// Commits `txn`; returns its revision and whether its conditions held.
    async fn commit(&self, txn: Txn) -> Result<(u64, bool), StoreError> {
        let mut client = self.client.clone();
        match tokio::time::timeout(WRITE_TIMEOUT, client.txn(txn)).await {
            Ok(Ok(answer)) => {
                self.touch();
                let revision = answer.header().map_or(0, |header| header.revision());
                Ok((revision.max(0) as u64, answer.succeeded()))
            }
            Ok(Err(err)) => {
                let problem = failure(&self.endpoints, &err);
                self.trouble(problem.clone(), Some(&err));
                Err(StoreError::Unavailable(problem))
            }
            Err(_) => {
                let problem = format!(
                    "etcd at {} did not answer within {WRITE_TIMEOUT:?}",
                    self.endpoints
                );
                self.trouble(problem.clone(), None);
                Err(StoreError::Unavailable(problem))
            }
        }
    }

    /// Waits until this node's copy reflects `revision`, and its history has recorded
    /// the change (as a node in memory acknowledges nothing its history has not written).
    async fn caught_up(&self, revision: u64) -> Result<(), StoreError> {
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(WRITE_TIMEOUT, applied.wait_for(|at| *at >= revision)).await {
            Ok(Ok(_)) => {}
            _ => {
                return Err(StoreError::Unavailable(format!(
                    "etcd committed the change (revision {revision}), but this node has not \
                     seen it within {WRITE_TIMEOUT:?}; it will show once the node catches up"
                )));
            }
        }
        let history = self.copy.lock().history();
        match history {
            Some(history) => history
                .recorded(EventId { revision, index: 0 })
                .await
                .map_err(StoreError::Unavailable),
            None => Ok(()),
        }
    }

    /// Why no change is taken now, if this node's history cannot record it (a full disk).
    fn history_ready(&self) -> Result<(), StoreError> {
        self.copy
            .lock()
            .history_ready()
            .map_err(StoreError::Unavailable)
    }

    /// Commits `ops` as the leader: only if this node still holds its election key and
    /// `also` holds (what the decision was made on). Returns whether they held. A failure
    /// is said loudly (see [`EtcdStore::leader_wrote`]).
    async fn as_leader(&self, also: Vec<Compare>, ops: Vec<TxnOp>) -> Result<bool, StoreError> {
        let fence = self
            .leadership
            .fence()
            .ok_or_else(|| StoreError::Unavailable("this node no longer leads".into()))?;
        let compares: Vec<Compare> = std::iter::once(fence).chain(also).collect();
        let committed = self.commit(Txn::new().when(compares).and_then(ops)).await;
        self.leader_wrote(committed.as_ref().err());
        Ok(committed?.1)
    }

    /// Records how a write as leader went. A failure (etcd's quota alarm, a request too
    /// large, etcd out of reach) holds every status change and drop until etcd takes them,
    /// so it is never silent: an error in the log when the problem is new, the metric
    /// `registry_leader_write_failures`, and the `/healthz` check "leader writes", which
    /// fails until a round (expiries, checks) makes no write that fails
    /// ([`EtcdStore::round_ended`]).
    fn leader_wrote(&self, failure: Option<&StoreError>) {
        let Some(failure) = failure else {
            return;
        };
        self.failed_this_round.store(true, Ordering::SeqCst);
        let mut problem = self.leader_write_problem.lock();
        crate::ops::metrics::global().leader_write_failures.inc();
        let now = format!(
            "etcd refused the leader's decision, so no instance changes status until it \
             takes one ({failure}); if etcd's space is exhausted, compact and defragment it \
             and disarm its alarm (etcdctl alarm list)"
        );
        if problem.as_ref() != Some(&now) {
            tracing::error!("{now}");
        }
        *problem = Some(now);
    }

    /// The operations that remove the instance at `url` and what etcd holds about it.
    fn removal(&self, url: &str) -> Vec<TxnOp> {
        vec![
            TxnOp::delete(self.keys.instance(url), None),
            TxnOp::delete(self.keys.status(url), None),
            TxnOp::delete(self.keys.renewed(url), None),
            // Deregistering ends flapping.
            TxnOp::delete(self.keys.flapping(url), None),
        ]
    }

    /// A round of checks ended: if none of its writes failed, etcd takes the leader's
    /// decisions (or none were needed), and the problem is over.
    fn round_ended(&self) {
        if !self.failed_this_round.swap(false, Ordering::SeqCst)
            && self.leader_write_problem.lock().take().is_some()
        {
            tracing::info!("etcd takes the leader's decisions again");
        }
    }

    /// A condition: the instance at `url` is registered.
    fn registered(&self, url: &str) -> Compare {
        Compare::version(self.keys.instance(url), CompareOp::Greater, 0)
    }
}

impl Store for EtcdStore {
    fn register(&self, reg: ValidRegistration) -> Change<'_, ()> {
        Box::pin(async move {
            self.history_ready()?;
            let stored = StoredInstance {
                registration: reg.to_wire(),
                registered_at_ms: millis_since_epoch(SystemTime::now()),
            };
            let value = serde_json::to_string(&stored).expect("instances serialise");
            // A registration starts passing: whatever etcd held of an earlier one goes
            // (its flapping too, unless it is the same instance checked alike).
            let mut ops = vec![
                TxnOp::put(self.keys.instance(&reg.url), value, None),
                TxnOp::delete(self.keys.status(&reg.url), None),
                TxnOp::delete(self.keys.renewed(&reg.url), None),
            ];
            // Decided on this node's copy; every copy follows the key, so they agree.
            let (keeps, known) = {
                let copy = self.copy.lock();
                (
                    copy.keeps_flapping(&reg),
                    copy.registered_at(&reg.url).is_some(),
                )
            };
            let mut reason = None;
            if !keeps {
                ops.push(TxnOp::delete(self.keys.flapping(&reg.url), None));
                if known {
                    reason = Some(
                        "registered again, checked differently: not the same instance's history"
                            .into(),
                    );
                }
            }
            ops.push(Note::at(stored.registered_at(), reason).put(&self.keys));
            let (revision, _) = self.commit(Txn::new().and_then(ops)).await?;
            self.caught_up(revision).await
        })
    }

    fn holds(&self, url: &str) -> (usize, bool) {
        self.copy.lock().holds(url)
    }

    fn deregister<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        Box::pin(async move {
            self.history_ready()?;
            let mut ops = self.removal(url);
            ops.push(Note::now(None).put(&self.keys));
            let txn = Txn::new().when([self.registered(url)]).and_then(ops);
            match self.commit(txn).await? {
                (revision, true) => self.caught_up(revision).await,
                (_, false) => Err(StoreError::UnknownInstance(url.to_owned())),
            }
        })
    }

    fn renew<'a>(&'a self, url: &'a str) -> Change<'a, ()> {
        Box::pin(async move {
            let now = SystemTime::now();
            let renewed = millis_since_epoch(now).to_string();
            let txn = Txn::new().when([self.registered(url)]).and_then([
                TxnOp::put(self.keys.renewed(url), renewed, None),
                TxnOp::delete(self.keys.status(url), None),
                Note::at(now, Some("renewed".into())).put(&self.keys),
            ]);
            match self.commit(txn).await? {
                (revision, true) => self.caught_up(revision).await,
                (_, false) => Err(StoreError::UnknownInstance(url.to_owned())),
            }
        })
    }

    fn instances(&self) -> AtRevision<Vec<InstanceInfo>> {
        self.copy.lock().instances()
    }

    fn passing_json(&self, name: &str) -> AtRevision<Bytes> {
        self.copy.lock().passing_json(name)
    }

    fn heartbeat_targets(&self) -> Vec<HeartbeatTarget> {
        self.copy.lock().heartbeat_targets()
    }

    fn record_check<'a>(
        &'a self,
        target: &'a HeartbeatTarget,
        outcome: CheckOutcome,
    ) -> Change<'a, Option<CheckResult>> {
        Box::pin(async move {
            // The revisions first: a decision is never newer than what it is written on.
            let revisions = self.revisions.lock().get(&target.url).copied();
            let (decision, reason) = {
                let mut copy = self.copy.lock();
                let Some(decision) = copy.decide_check(target, outcome) else {
                    return Ok(None);
                };
                // Counted here and now: the next round decides again if the write fails.
                copy.apply_check(target, &decision.result);
                let error = decision.result.error.as_deref();
                let reason = decision.change.and_then(|status| {
                    copy.status_reason(&target.url, status, Cause::Check(error))
                });
                (decision, reason)
            };
            if let (Some(status), Some(revisions)) = (decision.change, revisions) {
                let key = self.keys.status(&target.url);
                let op = match status {
                    Status::Critical => TxnOp::put(key, CRITICAL, None),
                    Status::Passing => TxnOp::delete(key, None),
                };
                let note = Note::now(reason).put(&self.keys);
                // A failed write is said by `as_leader`; the result still counts.
                let _ = self
                    .as_leader(self.keys.unchanged(&target.url, revisions), vec![op, note])
                    .await;
            }
            Ok(Some(decision.result))
        })
    }

    fn self_preservation(&self) -> bool {
        self.preserving.load(Ordering::SeqCst)
    }

    fn applied_revision(&self) -> u64 {
        *self.applied.borrow()
    }

    fn set_self_preservation(&self, active: bool) {
        self.preserving.store(active, Ordering::SeqCst);
    }

    fn publish_heartbeats(&self, results: Vec<CheckResult>) -> Change<'_, ()> {
        self.round_ended();
        // Recorded as each check came back; shown here, and to the other nodes.
        if !results.is_empty() && self.leadership.is_leading() {
            self.copy.lock().publish_round(results.clone(), Stamp::Live);
            self.rounds.publish(&self.public_url, results);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn expire(&self) -> Change<'_, ()> {
        Box::pin(async move {
            // Decided under the revisions' lock: they are never newer than what the
            // decision saw (the watch updates them after the copy; see [`replica`]).
            let decided: Vec<(Expiry, keys::KeyRevisions, Option<String>)> = {
                // The copy's lock first, as the watch takes them (see `lib.rs`).
                let copy = self.copy.lock();
                let revisions = self.revisions.lock();
                copy.decide_expiry()
                    .into_iter()
                    .filter_map(|expiry| {
                        let reason = match &expiry {
                            Expiry::Critical(url) => {
                                copy.status_reason(url, Status::Critical, Cause::Overdue)
                            }
                            Expiry::Drop(_) => None,
                        };
                        let (Expiry::Critical(url) | Expiry::Drop(url)) = &expiry;
                        Some((expiry.clone(), *revisions.get(url)?, reason))
                    })
                    .collect()
            };
            for (expiry, revisions, reason) in decided {
                let (Expiry::Critical(url) | Expiry::Drop(url)) = &expiry;
                // Each only if the instance is still as decided on: not renewed,
                // registered again or changed in status since.
                let mut ops = match &expiry {
                    Expiry::Critical(url) => {
                        vec![TxnOp::put(self.keys.status(url), CRITICAL, None)]
                    }
                    Expiry::Drop(url) => self.removal(url),
                };
                ops.push(Note::now(reason).put(&self.keys));
                self.as_leader(self.keys.unchanged(url, revisions), ops)
                    .await?;
            }
            Ok(())
        })
    }

    fn settle(&self) -> Change<'_, ()> {
        Box::pin(async move {
            if !self.leadership.is_leading() {
                return Ok(());
            }
            // The leader decides which instances flap and which are steady again, on what
            // its copy counted; each write holds only if the instance is still as decided
            // on, and every copy applies it when it comes back.
            let decided: Vec<(String, bool, keys::KeyRevisions, String)> = {
                let copy = self.copy.lock();
                let revisions = self.revisions.lock();
                let now = Instant::now();
                let flapping = copy.decide_flapping(now).into_iter().map(|url| (url, true));
                let steady = copy.decide_steady(now).into_iter().map(|url| (url, false));
                flapping
                    .chain(steady)
                    .filter_map(|(url, flaps)| {
                        let revisions = *revisions.get(&url)?;
                        Some((url, flaps, revisions, copy.flapping_note(flaps)))
                    })
                    .collect()
            };
            for (url, flaps, revisions, reason) in decided {
                let key = self.keys.flapping(&url);
                let op = if flaps {
                    TxnOp::put(key, keys::FLAPPING, None)
                } else {
                    TxnOp::delete(key, None)
                };
                let note = Note::now(Some(reason)).put(&self.keys);
                self.as_leader(self.keys.unchanged(&url, revisions), vec![op, note])
                    .await?;
            }
            Ok(())
        })
    }

    fn catalog(&self) -> tokio::sync::watch::Receiver<u64> {
        self.copy.lock().catalog()
    }

    fn subscribe(
        &self,
        last_seen: Option<EventId>,
    ) -> futures::future::BoxFuture<'_, Subscription> {
        Box::pin(async move {
            // A client that last saw an event from before this node's copy began (it
            // followed another node): replayed from etcd's history, if etcd still has it.
            if let Some(seen) = last_seen
                && seen.revision > 0
                && !self.copy.lock().replays(seen)
            {
                match replica::history(self, seen).await {
                    Ok(subscription) => return subscription,
                    Err(err) => {
                        let reason = crate::errors::report(&err);
                        tracing::info!(%seen, %reason, "sending a snapshot instead of a replay")
                    }
                }
            }
            self.copy.lock().subscribe(last_seen)
        })
    }

    fn checks_here(&self) -> bool {
        self.leadership.is_leading()
    }

    fn readiness(&self) -> Readiness {
        let contact = self.contact.lock();
        let reason = || {
            contact
                .problem
                .clone()
                .unwrap_or_else(|| format!("etcd at {} has not answered", self.endpoints))
        };
        if !contact.loaded {
            return Readiness::Unavailable(format!("{}; this node has no state yet", reason()));
        }
        match contact.last {
            Some(last) if last.elapsed() < STALE_AFTER => Readiness::Ready,
            last => Readiness::Stale {
                seconds: last.map_or(0, |last| last.elapsed().as_secs()),
                reason: reason(),
            },
        }
    }
}

/// What a client is told when a call to etcd fails: which etcd, and what kind of failure.
/// The driver's own text (transport internals, the addresses it tried) is for this
/// node's log ([`EtcdStore::trouble`]), never an answer.
fn failure(endpoints: &str, err: &etcd_client::Error) -> String {
    match err {
        etcd_client::Error::GRpcStatus(status) => format!(
            "etcd at {endpoints} failed: {}",
            status.code().description().to_lowercase()
        ),
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
            format!("etcd at {endpoints} cannot be reached")
        }
        _ => format!("etcd at {endpoints} failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An etcd of the test's own (Debian's `etcd-server`), in a dir of its own, and a
    /// client of it. The etcd goes first, then its dir.
    struct Etcd {
        _etcd: testkit::Etcd,
        _dir: testkit::TestDir,
    }

    impl Etcd {
        async fn start(tag: &str) -> (Etcd, Client) {
            let dir = testkit::TestDir::new(&format!("etcd-{tag}"));
            let etcd = testkit::Etcd::start(&dir).await;
            let client = Client::connect([etcd.url()], None).await.unwrap();
            let etcd = Etcd {
                _etcd: etcd,
                _dir: dir,
            };
            (etcd, client)
        }
    }

    /// The revisions of `url`'s keys in etcd now.
    async fn revisions_of(client: &mut Client, keys: &Keys, url: &str) -> keys::KeyRevisions {
        let revision = |key: String| {
            let mut client = client.clone();
            async move {
                let answer = client.get(key, None).await.unwrap();
                answer.kvs().first().map_or(0, |kv| kv.mod_revision())
            }
        };
        keys::KeyRevisions {
            instance: revision(keys.instance(url)).await,
            status: revision(keys.status(url)).await,
            renewed: revision(keys.renewed(url)).await,
        }
    }

    #[tokio::test]
    async fn a_decision_is_not_written_over_a_renewal_or_registration_made_since() {
        let (_etcd, mut client) = Etcd::start("decisions").await;
        let keys = Keys::new("/distributed/");
        let url = "http://127.0.0.1:9/ttl";
        client.put(keys.instance(url), "{}", None).await.unwrap();
        let critical = |revisions| {
            Txn::new()
                .when(keys.unchanged(url, revisions))
                .and_then([TxnOp::put(keys.status(url), CRITICAL, None)])
        };

        // Decided on a state a renewal has since replaced: not written.
        let decided_on = revisions_of(&mut client, &keys, url).await;
        client.put(keys.renewed(url), "1", None).await.unwrap();
        assert!(!client.txn(critical(decided_on)).await.unwrap().succeeded());
        // Decided on a state a registration has since replaced: not written.
        let decided_on = revisions_of(&mut client, &keys, url).await;
        client.put(keys.instance(url), "{}", None).await.unwrap();
        assert!(!client.txn(critical(decided_on)).await.unwrap().succeeded());
        assert!(
            client
                .get(keys.status(url), None)
                .await
                .unwrap()
                .kvs()
                .is_empty()
        );

        // Decided on the state as it is: written, once (a second decision on the same
        // state finds the status changed).
        let decided_on = revisions_of(&mut client, &keys, url).await;
        assert!(client.txn(critical(decided_on)).await.unwrap().succeeded());
        assert!(!client.txn(critical(decided_on)).await.unwrap().succeeded());
    }

    #[test]
    fn a_client_is_told_which_etcd_failed_and_how_but_not_the_drivers_text() {
        let endpoints = "http://127.0.0.1:2379";
        let unreachable = etcd_client::Error::IoError(std::io::Error::other(
            "tcp connect error: 127.0.0.1:2379: Connection refused (os error 111)",
        ));
        assert_eq!(
            failure(endpoints, &unreachable),
            "etcd at http://127.0.0.1:2379 cannot be reached"
        );
        let other = etcd_client::Error::InvalidArgs("internal detail".into());
        assert_eq!(
            failure(endpoints, &other),
            "etcd at http://127.0.0.1:2379 failed"
        );
    }
}
