//! Leadership: which registry node runs the heartbeat checks, expires instances and
//! sends patches. Exactly one at a time, elected through etcd's election API on a lease
//! (`--leader-lease`), as etcd's own `clientv3/concurrency` does it.
//!
//! A node campaigns with a lease it keeps alive. Once elected it leads until its lease
//! is lost: a keep-alive that fails or is answered with no time left, etcd out of reach,
//! or simply the lease running out (a node paused past its lease learns it the moment it
//! resumes, from its own clock, before it sends anything). Two guards keep a stale leader
//! from undoing the new one's decisions, as Kubernetes' leader election does:
//!
//! - every write it makes as leader is an etcd transaction conditional on its election
//!   key still being the one it was elected with ([`Leadership::fence`]); a lost lease
//!   deletes that key, so the write fails;
//! - it considers itself leader only until its lease would end if no keep-alive
//!   succeeded since ([`Leadership::is_leading`]); past that it sends no patch and starts
//!   no check round.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use etcd_client::{Client, Compare, CompareOp};
use tokio_util::sync::CancellationToken;

use crate::registry::patches::PatchSender;

/// How long to wait before campaigning again after a failure (a campaign cut off with
/// the etcd member it was made on is made again on another at once: the sooner a
/// candidate is back in line, the sooner one leads).
const RETRY: Duration = Duration::from_millis(300);

/// This node's leadership, as the checker, the store and the patch sender see it.
#[derive(Debug, Default)]
pub struct Leadership {
    held: Mutex<Option<Held>>,
}

#[derive(Debug, Clone)]
struct Held {
    /// The election key this node was elected with, and its creation revision.
    key: Vec<u8>,
    revision: i64,
    /// When the lease ends unless renewed.
    until: Instant,
}

impl Leadership {
    /// Whether this node leads now.
    pub fn is_leading(&self) -> bool {
        self.held
            .lock()
            .as_ref()
            .is_some_and(|held| Instant::now() < held.until)
    }

    /// This node's term while it leads: the revision its election key was made at,
    /// higher for every later term.
    pub fn term(&self) -> Option<i64> {
        let held = self.held.lock();
        held.as_ref()
            .filter(|held| Instant::now() < held.until)
            .map(|held| held.revision)
    }

    /// The condition every leader's write carries: its election key is still the one it
    /// was elected with. `None` when it does not lead.
    pub fn fence(&self) -> Option<Compare> {
        let held = self.held.lock();
        let held = held.as_ref().filter(|held| Instant::now() < held.until)?;
        Some(Compare::create_revision(
            held.key.clone(),
            CompareOp::Equal,
            held.revision,
        ))
    }

    fn set(&self, held: Option<Held>) {
        *self.held.lock() = held;
    }

    fn renewed(&self, until: Instant) {
        if let Some(held) = self.held.lock().as_mut() {
            held.until = until;
        }
    }
}

/// Campaigns for leadership as `candidate` (the node's URL) until `stopping`, leading
/// whenever elected: `patches` (the patch sender) sends only then. Elected or not, a lost
/// lease starts a new campaign with a new lease.
pub async fn run(
    client: Client,
    election: String,
    candidate: String,
    lease: Duration,
    leadership: Arc<Leadership>,
    patches: PatchSender,
    stopping: CancellationToken,
) {
    let mut said_unreachable = false;
    loop {
        let term = campaign_and_lead(&client, &election, &candidate, lease, &leadership, &patches);
        let ended = tokio::select! {
            ended = term => ended,
            () = stopping.cancelled() => Ok(()),
        };
        if leadership.held.lock().take().is_some() {
            tracing::warn!(node = %candidate, "leadership lost; the checks stop here");
        }
        patches.set_active(false);
        if stopping.is_cancelled() {
            return;
        }
        match ended {
            Ok(()) => said_unreachable = false,
            Err(err) if !said_unreachable => {
                tracing::warn!(%err, "cannot campaign for leadership through etcd; trying again");
                said_unreachable = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = stopping.cancelled() => return,
        }
    }
}

/// One term: a lease, a campaign on it, and leadership until the lease is lost. Returns
/// when the lease is lost (`Ok`) or etcd failed (`Err`).
async fn campaign_and_lead(
    client: &Client,
    election: &str,
    candidate: &str,
    lease: Duration,
    leadership: &Leadership,
    patches: &PatchSender,
) -> Result<(), etcd_client::Error> {
    let mut client = client.clone();
    let ttl = lease.as_secs() as i64;
    // The lease runs from before it was asked for: its end is never later than etcd's.
    let granted_at = Instant::now();
    let granted = client.lease_grant(ttl, None).await?;
    let id = granted.id();
    let (mut keeper, mut answers) = client.lease_keep_alive(id).await?;
    let every = lease / 3;
    // When the lease ends unless renewed again.
    let lease_until = Mutex::new(granted_at + lease);
    // Keeps the lease alive, renewing the leadership's deadline; ends when the lease is
    // lost.
    let keep_alive = async {
        loop {
            tokio::time::sleep(every).await;
            let sent = Instant::now();
            let answer = tokio::time::timeout(every, async {
                keeper.keep_alive().await?;
                answers.message().await
            })
            .await;
            match answer {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => {
                    let until = sent + Duration::from_secs(answer.ttl() as u64);
                    *lease_until.lock() = until;
                    leadership.renewed(until);
                    patches.active_until(until);
                }
                _ => return,
            }
        }
    };
    let campaign = async {
        let mut elections = client.election_client();
        let elected = elections.campaign(election, candidate, id).await?;
        let Some(key) = elected.leader() else {
            return Err(etcd_client::Error::ElectError(
                "the campaign answered without a leader key".into(),
            ));
        };
        let until = *lease_until.lock();
        leadership.set(Some(Held {
            key: key.key().to_vec(),
            revision: key.rev(),
            until,
        }));
        patches.active_until(until);
        // This term's patches come after every earlier term's: their election key was
        // made at an earlier revision.
        patches.set_epoch(key.rev().max(0) as u64);
        patches.set_active(true);
        tracing::info!(node = %candidate, "leading: this node now runs the checks and sends the patches");
        std::future::pending::<Result<(), etcd_client::Error>>().await
    };
    tokio::select! {
        () = keep_alive => Ok(()),
        failed = campaign => failed,
    }
}
