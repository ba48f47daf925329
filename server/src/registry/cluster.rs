//! `GET /cluster`: how a registry node sees its cluster, for the portal's cluster panel
//! and for an operator with curl: the node's URL, whether it leads, the revision it has
//! reached, whether its copy is current, and each etcd member it was given, probed now.
//!
//! A registry on its own (in memory) answers too: it leads, and has no etcd.

use std::{sync::Arc, time::Duration};

use axum::{Json, extract::State};
use wire::registry::{EtcdMember, NodeStatus};

use super::{Registry, store::Readiness};

/// How long the probe of one etcd member may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a node knows of itself to say at `/cluster`.
pub struct Node {
    public_url: String,
    etcd: Vec<String>,
    probe: reqwest::Client,
    /// When this node started (RFC 3339) and its state's revision then: a person reads
    /// "12 changes since 09:30" where a memory store's revision is a 16-digit number.
    started: String,
    first_revision: u64,
}

impl Node {
    pub fn new(public_url: &str, etcd: &[String], first_revision: u64) -> Arc<Node> {
        Arc::new(Node {
            public_url: public_url.to_owned(),
            etcd: etcd.to_vec(),
            probe: crate::http::client::with_timeout(PROBE_TIMEOUT, None),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            first_revision,
        })
    }

    /// The URL clients reach this node at.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Whether the node is one of a cluster on etcd.
    pub fn clustered(&self) -> bool {
        !self.etcd.is_empty()
    }

    /// Asks `endpoint`'s `/health` (which etcd serves on its client URL): healthy when it
    /// says `"health":"true"` (a member without quorum says false).
    async fn probe(&self, endpoint: &str) -> EtcdMember {
        let answer = async {
            let response = self
                .probe
                .get(format!("{}/health", endpoint.trim_end_matches('/')))
                .send()
                .await
                .map_err(|err| crate::http::client::ClientError::from(err).to_string())?;
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|err| format!("an unreadable answer: {err}"))?;
            match body["health"].as_str() {
                Some("true") => Ok(()),
                _ => Err(format!(
                    "not healthy{}",
                    body["reason"]
                        .as_str()
                        .filter(|reason| !reason.is_empty())
                        .map(|reason| format!(": {reason}"))
                        .unwrap_or_default()
                )),
            }
        };
        let problem = answer.await.err();
        EtcdMember {
            endpoint: endpoint.to_owned(),
            healthy: problem.is_none(),
            problem,
        }
    }
}

/// `GET /cluster`.
pub async fn status(State(registry): State<Registry>) -> Json<NodeStatus> {
    let node = &registry.node;
    let etcd =
        futures::future::join_all(node.etcd.iter().map(|endpoint| node.probe(endpoint))).await;
    let stale = match registry.store.readiness() {
        Readiness::Ready => None,
        Readiness::Stale { seconds, reason } => Some(format!(
            "answering from its copy of {seconds} s ago: {reason}"
        )),
        Readiness::Unavailable(reason) => Some(reason),
    };
    let revision = registry.store.instances().revision;
    Json(NodeStatus {
        node: node.public_url.clone(),
        store: if node.etcd.is_empty() {
            "memory"
        } else {
            "etcd"
        }
        .into(),
        leader: registry.store.checks_here(),
        revision,
        started: Some(node.started.clone()),
        changes: Some(revision.saturating_sub(node.first_revision)),
        stale,
        etcd,
    })
}
