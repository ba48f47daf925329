//! One registered service instance: the registration it sends, the heartbeat and update
//! routes it serves, and the task that registers it and keeps it registered.
//!
//! Registering retries with capped exponential back-off, saying so once per attempt, so
//! a service may start before the registry. Once registered, a watchdog notices when the
//! registry has forgotten the instance (a restarted registry sends no more heartbeat
//! checks, and answers a TTL renewal with 404) and registers it again, which also brings a
//! fresh full patch. Before registering again it asks the registry whether it still lists
//! the instance, so that slow heartbeats alone never cause a duplicate; with a registry
//! that cannot be asked (the original), it registers again only after a longer silence.
//!
//! Against a registry cluster every call goes to any live node (see
//! [`RegistryClient`]); once registered the instance learns every node, so the loss of the
//! node it registered through changes nothing: the cluster keeps it, its leader checks
//! and patches it, and it deregisters through another node.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use tokio_util::sync::CancellationToken;
use wire::registry::{Patch, PatchEntry, Registration};

use super::{
    providers::{PatchKind, PatchOrder, Providers},
    registry_client::{RegistryClient, Renewal},
};
use crate::http::{ApiError, RequestBody, routes::Routes};

/// Longest wait between two registration attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long deregistering at shutdown may take before the service stops anyway.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest patch accepted.
const MAX_PATCH_BYTES: usize = 1024 * 1024;

/// What an instance registers as and where its endpoints are.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub name: String,
    pub required: Vec<String>,
    /// The instance's base URL: its identity at the registry.
    pub url: String,
    /// The base URL its heartbeat and update paths hang off (usually `url`).
    pub endpoint_base: String,
    pub heartbeat_path: String,
    pub update_path: String,
    /// Register with a TTL and renew it, instead of answering heartbeats.
    pub ttl: Option<Duration>,
    /// Its tags and metadata, as the registry shows them to discovery (Consul's).
    pub tags: Vec<String>,
    pub meta: std::collections::BTreeMap<String, String>,
}

impl InstanceSpec {
    /// A service on its own, as the original ran them: `/heartbeat` and `/services`.
    pub fn standalone(name: &str, required: &[&str], url: &str) -> InstanceSpec {
        InstanceSpec {
            name: name.to_owned(),
            required: required.iter().map(|s| (*s).to_owned()).collect(),
            url: url.to_owned(),
            endpoint_base: url.to_owned(),
            heartbeat_path: "/heartbeat".into(),
            update_path: "/services".into(),
            ttl: None,
            tags: Vec::new(),
            meta: Default::default(),
        }
    }

    /// A service hosted in a process beside others (the all-in-one server): its heartbeat
    /// and update routes live under `/_instances/<name>/` so they clash with nothing.
    pub fn hosted(name: &str, required: &[&str], url: &str, endpoint_base: &str) -> InstanceSpec {
        let slug: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        InstanceSpec {
            name: name.to_owned(),
            required: required.iter().map(|s| (*s).to_owned()).collect(),
            url: url.to_owned(),
            endpoint_base: endpoint_base.to_owned(),
            heartbeat_path: format!("/_instances/{slug}/heartbeat"),
            update_path: format!("/_instances/{slug}/services"),
            ttl: None,
            tags: Vec::new(),
            meta: Default::default(),
        }
    }

    /// The registration this instance sends.
    pub fn registration(&self) -> Registration {
        let heartbeat_url = match self.ttl {
            Some(_) => String::new(),
            None => format!("{}{}", self.endpoint_base, self.heartbeat_path),
        };
        Registration {
            service_name: self.name.clone(),
            service_url: self.url.clone(),
            required_services: self.required.clone(),
            service_update_url: format!("{}{}", self.endpoint_base, self.update_path),
            heartbeat_url,
            ttl: self
                .ttl
                .map(|ttl| humantime::format_duration(ttl).to_string()),
            tags: self.tags.clone(),
            meta: self.meta.clone(),
        }
    }
}

/// When the watchdog suspects the registry has forgotten the instance.
#[derive(Debug, Clone, Copy)]
pub struct Watchdog {
    /// How often it looks.
    pub every: Duration,
    /// Silence (no heartbeat check) after which it asks the registry.
    pub silence: Duration,
    /// Silence after which it registers again when the registry cannot be asked.
    pub unverifiable_silence: Duration,
}

impl Default for Watchdog {
    fn default() -> Self {
        Watchdog {
            every: Duration::from_secs(1),
            silence: Duration::from_secs(3),
            unverifiable_silence: Duration::from_secs(30),
        }
    }
}

/// One instance of a service, as the registry knows it: it registers (retrying until the
/// registry answers), serves its heartbeat and patch routes, keeps its [`Providers`]
/// current, stays registered, and deregisters when its process stops.
pub struct Instance {
    spec: InstanceSpec,
    registry: RegistryClient,
    providers: Arc<Providers>,
    watchdog: Watchdog,
    last_heartbeat: Mutex<Instant>,
    registered: AtomicBool,
    /// Set once it deregisters: from then on patches are not applied, so a service that is
    /// stopping keeps the providers it had (its log shipper's last delivery needs the log
    /// service, whose own deregistration the registry may be patching out meanwhile).
    leaving: AtomicBool,
}

impl Instance {
    pub fn new(spec: InstanceSpec, registry: RegistryClient, watchdog: Watchdog) -> Arc<Instance> {
        Arc::new(Instance {
            spec,
            registry,
            providers: Arc::new(Providers::default()),
            watchdog,
            last_heartbeat: Mutex::new(Instant::now()),
            registered: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
        })
    }

    pub fn spec(&self) -> &InstanceSpec {
        &self.spec
    }

    /// The registry it registers with (clones share the registry nodes it knows).
    pub fn registry(&self) -> &RegistryClient {
        &self.registry
    }

    /// The instances of the required services this instance knows of.
    pub fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    /// The heartbeat route (unless TTL) and the update route, at the registered paths.
    /// With a token, patches must carry it (the registry sends the same one).
    pub fn routes(self: &Arc<Self>) -> Routes {
        let updates = Routes::new().route(&self.spec.update_path, post(receive_patch));
        let mut router = crate::http::token::Access::new(self.registry.token(), false)
            .guard(updates, "service's providers");
        if self.spec.ttl.is_none() {
            router = router.route(&self.spec.heartbeat_path, get(heartbeat));
        }
        router.with_state(self.clone())
    }

    /// Registers, then keeps the instance registered until `shutdown` is cancelled.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        tokio::select! {
            () = self.keep_registered() => {}
            () = shutdown.cancelled() => {}
        }
    }

    /// From now on, patches are not applied: the instance is leaving, and keeps the
    /// providers it has (see [`Instance::deregister`]).
    pub fn leave(&self) {
        self.leaving.store(true, Ordering::SeqCst);
    }

    /// Deregisters, if registered; gives up after a few seconds so shutdown is never
    /// held by an absent registry. It [leaves](Instance::leave) first.
    pub async fn deregister(&self) {
        self.leave();
        if !self.registered.swap(false, Ordering::SeqCst) {
            return;
        }
        let url = &self.spec.url;
        match tokio::time::timeout(DEREGISTER_TIMEOUT, self.registry.deregister(url)).await {
            Ok(Ok(())) => tracing::info!(service = %self.spec.name, %url, "deregistered"),
            Ok(Err(err)) => {
                tracing::warn!(name = %self.spec.name, %url, %err, "could not deregister")
            }
            Err(_) => tracing::warn!(name = %self.spec.name, %url, "deregistering timed out"),
        }
    }

    async fn keep_registered(&self) {
        self.register_until_done().await;
        match self.spec.ttl {
            Some(ttl) => self.renew_forever(ttl).await,
            None => self.watch_heartbeats().await,
        }
    }

    /// Registers, retrying with capped exponential back-off.
    async fn register_until_done(&self) {
        let registration = self.spec.registration();
        let mut backoff = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            self.providers.expect_full_view();
            self.touch();
            match self.registry.register(&registration).await {
                Ok(()) => {
                    self.registered.store(true, Ordering::SeqCst);
                    tracing::info!(
                        service = %self.spec.name, url = %self.spec.url,
                        registry = %self.registry.services_url(), "registered"
                    );
                    // The other nodes of a registry cluster, so that losing this one
                    // costs nothing.
                    self.registry.learn_nodes().await;
                    return;
                }
                Err(err) => {
                    tracing::warn!(
                        name = %self.spec.name, registry = %self.registry.services_url(), attempt,
                        "not registered yet ({err}); trying again in {}",
                        humantime::format_duration(backoff)
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
            }
        }
    }

    async fn watch_heartbeats(&self) {
        let mut unreachable_said = false;
        loop {
            tokio::time::sleep(self.watchdog.every).await;
            let silent = self.last_heartbeat.lock().elapsed();
            if silent < self.watchdog.silence {
                continue;
            }
            let forgotten = match self
                .registry
                .is_listed(&self.spec.name, &self.spec.url)
                .await
            {
                Ok(Some(listed)) => !listed,
                Ok(None) => silent >= self.watchdog.unverifiable_silence,
                Err(err) => {
                    if !unreachable_said {
                        tracing::warn!(name = %self.spec.name, "no heartbeat check for {}s, and the registry cannot be asked ({err})", silent.as_secs());
                        unreachable_said = true;
                    }
                    continue;
                }
            };
            unreachable_said = false;
            if forgotten {
                tracing::warn!(
                    name = %self.spec.name, url = %self.spec.url,
                    "the registry no longer lists this instance; registering again"
                );
                self.register_until_done().await;
            } else {
                // It knows us; its checks are just slow. Look again after another silence.
                self.touch();
            }
        }
    }

    async fn renew_forever(&self, ttl: Duration) {
        let every = (ttl / 3).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            match self.registry.renew(&self.spec.url).await {
                Ok(Renewal::Renewed) => {}
                Ok(Renewal::Unknown) => {
                    tracing::warn!(name = %self.spec.name, "the registry does not know this instance; registering again");
                    self.register_until_done().await;
                }
                Err(err) => tracing::warn!(name = %self.spec.name, "TTL renewal failed ({err})"),
            }
        }
    }

    fn touch(&self) {
        *self.last_heartbeat.lock() = Instant::now();
    }
}

async fn heartbeat(State(instance): State<Arc<Instance>>) -> &'static str {
    instance.touch();
    "ok"
}

async fn receive_patch(
    State(instance): State<Arc<Instance>>,
    headers: axum::http::HeaderMap,
    RequestBody(body): RequestBody<MAX_PATCH_BYTES>,
) -> Result<StatusCode, ApiError> {
    let patch: Patch = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid patch JSON: {err}")))?;
    let patch = instance.relevant(patch)?;
    if instance.leaving.load(Ordering::SeqCst) {
        tracing::debug!(name = %instance.spec.name, ?patch, "patch after deregistering ignored");
        return Ok(StatusCode::OK);
    }
    let kind = PatchKind::from_header(
        headers
            .get(wire::registry::PATCH_KIND_HEADER)
            .and_then(|value| value.to_str().ok()),
    );
    let order = PatchOrder::from_header(
        headers
            .get(wire::registry::PATCH_ORDER_HEADER)
            .and_then(|value| value.to_str().ok()),
    );
    if instance.providers.apply_kind(&patch, kind, order) {
        tracing::debug!(name = %instance.spec.name, ?kind, ?patch, "patch applied");
        for (entries, what) in [(&patch.added, "added"), (&patch.removed, "removed")] {
            for entry in entries {
                tracing::info!(
                    service = %instance.spec.name,
                    "told of a provider {what}: {} at {}", entry.name, entry.url
                );
            }
        }
    } else {
        tracing::debug!(name = %instance.spec.name, ?patch, ?order, "patch from before registering, or older than one applied: dropped");
    }
    Ok(StatusCode::OK)
}

impl Instance {
    /// The entries of `patch` for services this instance requires (the only ones a
    /// registry sends; others are dropped rather than kept forever), each one with an
    /// absolute http(s) URL, or a 400 naming the first that is not.
    fn relevant(&self, patch: Patch) -> Result<Patch, ApiError> {
        for (index, entry) in patch.added.iter().enumerate() {
            crate::registry::validate::instance_url(&entry.url).map_err(|err| {
                let reason = crate::errors::report(&err);
                ApiError::bad_request(format!("Added[{index}]: {reason}"))
            })?;
        }
        // A removal is taken whatever the URL (one the registry took before its rules
        // changed must still go), but it is logged, so it may hold no control character.
        for (index, entry) in patch.removed.iter().enumerate() {
            if entry.url.chars().any(char::is_control) {
                return Err(ApiError::bad_request(format!(
                    "Removed[{index}]: the URL must not contain control characters"
                )));
            }
        }
        let required = |entry: &PatchEntry| self.spec.required.contains(&entry.name);
        Ok(Patch {
            added: patch.added.into_iter().filter(required).collect(),
            removed: patch.removed.into_iter().filter(required).collect(),
        })
    }
}
