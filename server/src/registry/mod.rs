//! The registry service: the hub that services register with, that tells each of them
//! where the services it requires are, and that health-checks them all.
//!
//! | module | owns |
//! | --- | --- |
//! | [`http`] | the HTTP API on `/services` |
//! | [`cluster`] | `GET /cluster`: the node, its leadership and revision, its etcd members |
//! | [`consul`] | the read side of a Consul-compatible catalog (`/v1/…`), with blocking queries |
//! | [`dns`] | DNS on `--dns-addr`: `<service>.service.consul` A, AAAA and SRV, over UDP and TCP |
//! | [`prometheus`] | `GET /prometheus/targets`: every instance as Prometheus' HTTP service discovery reads it |
//! | [`validate`] | what a registration must look like |
//! | [`store`] | the narrow interface in front of the state |
//! | [`state`] | the state machine: instances, statuses, dependents, the decisions |
//! | [`memory`] | the in-memory store: the state behind one lock |
//! | [`patches`] | the patch sender: keeps each dependent's view in step |
//! | [`heartbeat`] | the heartbeat checker |
//! | [`journal`] | revisions and the live event stream's backlog |
//! | [`history`] | every change kept on disk: `GET /history`, `?at=`, availability |
//! | [`metrics`] | the metrics read from the registry's state at each scrape |
//! | [`outbound`] | the guarded HTTP client for registrants' URLs |
//! | [`etcd`] | the state in etcd, shared by several registry nodes: their copies, the leader |
//! | [`config`] | flags and their defaults |

pub mod cluster;
pub mod config;
pub mod consul;
pub mod dns;
pub mod etcd;
pub mod heartbeat;
pub mod history;
pub mod http;
pub mod journal;
pub mod memory;
pub mod metrics;
pub mod outbound;
pub mod patches;
pub mod prometheus;
pub mod state;
pub mod store;
pub mod validate;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{http::shutdown::Background, ops::health::Health};

pub use config::{HistoryDir, RegistryConfig};
pub use http::router;

use etcd::EtcdStore;
use history::{History, HistoryConfig};
use memory::MemoryStore;
use outbound::Outbound;
use patches::PatchSender;
use state::Eviction;
use store::Store;

/// A running registry: its state, and the signal that ends its event streams. One `Arc`:
/// every request's handler gets a clone, and cloning the parts one by one (a cancellation
/// token's clone takes a lock) showed in the lookup profile.
#[derive(Clone)]
pub struct Registry(Arc<Parts>);

/// What a [`Registry`] holds.
pub struct Parts {
    pub store: Arc<dyn Store>,
    shutdown: CancellationToken,
    /// What it says of itself at `/cluster`.
    node: Arc<cluster::Node>,
    /// Whether its writes need the token: only then may a registration name itself
    /// `Registry` (a client sends its token to every node listed there).
    writes_need_token: bool,
    /// `--max-instances`.
    max_instances: usize,
    /// A cluster leader's latest heartbeat round, for the other nodes (`GET
    /// /cluster/heartbeats`).
    rounds: etcd::rounds::Rounds,
    /// Room for Consul-style blocking queries held at once ([`consul::MAX_HELD`]).
    held_queries: tokio::sync::Semaphore,
    /// The Consul catalog's answers as of its current index.
    consul_answers: consul::Answers,
    /// Every change it made, on disk, if it keeps them (`--history-dir`).
    pub history: Option<Arc<History>>,
}

/// Why a registry cannot start; each says which flag to change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Etcd(#[from] etcd::StartError),
    #[error(transparent)]
    History(#[from] history::files::OpenError),
}

impl std::ops::Deref for Registry {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Registry {
    /// Starts a registry, its heartbeat checker and its patch workers, as tasks of
    /// `background` that end when it stops: in memory, or a node of the registry whose
    /// state is in etcd (`--etcd`), reached at `public_url`. Its patches carry `token`, if
    /// any; its router must be guarded with the same `token` (see
    /// [`crate::http::token::Access::guard`]). Returns the registry and its `/healthz`
    /// checks.
    ///
    /// It keeps its history in `--history-dir` (unless `off`); a node on etcd in a folder
    /// of its own inside it, named after its address ([`open_history`]).
    ///
    /// # Errors
    /// An `--etcd` endpoint etcd's client cannot use, or a history folder it cannot use;
    /// the error names the flag.
    pub async fn start(
        config: &RegistryConfig,
        token: Option<&str>,
        public_url: &str,
        background: &Background,
    ) -> Result<(Registry, Health), StartError> {
        let patches = PatchSender::new(
            Outbound::new(config.patch_timeout, token),
            config.patch_retries,
            background.clone(),
        );
        let rounds = etcd::rounds::Rounds::default();
        let history = open_history(config, public_url)?;
        let mut health = Health::new();
        if let Some(history) = &history {
            let checked = Arc::downgrade(history);
            health = health.with(
                "registry history",
                Arc::new(move || {
                    let failing = checked.upgrade().and_then(|h| h.failing());
                    Box::pin(std::future::ready(failing.map_or(Ok(()), Err)))
                }),
            );
        }
        let store: Arc<dyn Store> = if config.etcd.is_empty() {
            // The store begins the history (its `started`), then its upkeep starts.
            let store = MemoryStore::new(patches, Eviction::of(config), history.clone());
            Arc::new(store)
        } else {
            let store = EtcdStore::start(
                config,
                history.clone(),
                patches,
                rounds.clone(),
                token,
                public_url,
                background,
            )
            .await?;
            health = health.and(store.health());
            store
        };
        if let Some(history) = &history {
            background.spawn(history.clone().maintain(background.stopping()));
        }
        crate::ops::metrics::global()
            .register_collector(metrics::InstanceCounts(Arc::downgrade(&store)));
        background.spawn(heartbeat::run(
            store.clone(),
            config.clone(),
            background.stopping(),
        ));
        let first_revision = store.instances().revision;
        Ok((
            Registry(Arc::new(Parts {
                store,
                shutdown: background.stopping(),
                node: cluster::Node::new(public_url, &config.etcd, first_revision),
                writes_need_token: token.is_some(),
                max_instances: usize::try_from(config.max_instances).unwrap_or(usize::MAX),
                rounds,
                held_queries: tokio::sync::Semaphore::new(consul::MAX_HELD),
                consul_answers: consul::Answers::default(),
                history,
            })),
            health,
        ))
    }
}

/// Opens the history `--history-dir` names, if any. A node of a cluster keeps its files in
/// a folder of its own inside it, named after its address (`127.0.0.1-3100`), so the
/// nodes of `make cluster` share one `--history-dir` and a node restarted on its address
/// finds its files again; it goes on from where they end ([`History::open_following`]).
fn open_history(
    config: &RegistryConfig,
    public_url: &str,
) -> Result<Option<Arc<History>>, history::files::OpenError> {
    let HistoryDir::At(dir) = &config.history_dir else {
        return Ok(None);
    };
    let mut history = HistoryConfig {
        dir: dir.clone(),
        retention: config.history_retention,
        max_bytes: config.history_max_size,
    };
    let opened = if config.etcd.is_empty() {
        History::open(history)?
    } else {
        let node: String = public_url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        history.dir = dir.join(node.trim_matches('-'));
        History::open_following(history)?
    };
    Ok(Some(Arc::new(opened)))
}

impl Registry {
    /// Whether this registry is a node of a cluster on etcd.
    pub fn clustered(&self) -> bool {
        self.node.clustered()
    }
}
