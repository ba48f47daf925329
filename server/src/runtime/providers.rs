//! The providers cache: which instances of its required services a service knows of,
//! kept current by the registry's patches.
//!
//! Applying a patch is idempotent: the same `Added` twice keeps one entry, removing an
//! unknown URL does nothing. The registry's full view (sent after each registration)
//! replaces the cache instead of adding to it: our registry marks it, and a change from
//! before the registration that arrives after it is dropped; from the original registry,
//! the first patch after registering is taken as the full view. [`Providers::provider`]
//! picks instances round-robin, and [`Providers::call`] tries the next instance when one
//! cannot be reached.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

use parking_lot::Mutex;

use wire::registry::Patch;

use crate::http::client::ClientError;

/// What one instance knows of the services it requires: their instances' base URLs, kept
/// current by the registry's patches, picked round-robin, with failover in
/// [`Providers::call`].
#[derive(Debug, Default)]
pub struct Providers {
    /// Service name → its instances' URLs, in the order they were added.
    services: Mutex<BTreeMap<String, Vec<String>>>,
    /// The next patch is a full view (set when registering).
    full_view_next: AtomicBool,
    /// The order of the last patch applied ([`PatchOrder`]).
    last_order: Mutex<Option<PatchOrder>>,
    next: AtomicUsize,
}

/// Where a patch stands among our registry's sends, from its `registry-patch-order` header
/// (`<epoch>.<sequence>`, [`wire::registry::PATCH_ORDER_HEADER`]): a patch ordered
/// before one applied was delayed on the way, and is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PatchOrder {
    pub epoch: u64,
    pub sequence: u64,
}

impl PatchOrder {
    /// The order a header value says; none if there is none (the original registry) or
    /// it cannot be read.
    pub fn from_header(value: Option<&str>) -> Option<PatchOrder> {
        let (epoch, sequence) = value?.trim().split_once('.')?;
        Some(PatchOrder {
            epoch: epoch.parse().ok()?,
            sequence: sequence.parse().ok()?,
        })
    }
}

/// What a patch says it is, in its `registry-patch` header
/// ([`wire::registry::PATCH_KIND_HEADER`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// The registry's whole view of the required services.
    Full,
    /// Changes to the view.
    Delta,
    /// No header: the original registry.
    Unmarked,
}

impl PatchKind {
    pub fn from_header(value: Option<&str>) -> PatchKind {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case(wire::registry::PATCH_FULL) => PatchKind::Full,
            Some(v) if v.eq_ignore_ascii_case(wire::registry::PATCH_DELTA) => PatchKind::Delta,
            _ => PatchKind::Unmarked,
        }
    }
}

/// Why [`Providers::call`] could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no instance of {0} is known; is it running and registered?")]
    NoInstance(String),
    /// Every known instance was unreachable or timed out.
    #[error("no instance of {service} could be reached (tried {tried}): {last}")]
    Unreachable {
        service: String,
        tried: usize,
        last: ClientError,
    },
    /// An instance answered, but not as asked (a refusal, an unreadable answer): another
    /// instance would answer the same, so none is tried.
    #[error("{service} {err}")]
    Failed { service: String, err: ClientError },
}

impl Providers {
    /// The next patch will be the registry's full view (the instance is registering).
    pub fn expect_full_view(&self) {
        self.full_view_next.store(true, Ordering::SeqCst);
    }

    /// Applies a patch that says nothing of its kind, as the original registry's: the
    /// first after registering is taken as the full view.
    pub fn apply(&self, patch: &Patch) {
        self.apply_kind(patch, PatchKind::Unmarked, None);
    }

    /// Applies a patch of `kind` sent in `order`; returns whether it was applied. A change
    /// that arrives while the full view is awaited was sent before this registration
    /// (still in flight when it did): the full view supersedes it, so it is dropped. A
    /// patch ordered before the last one applied was delayed on the way: dropped too,
    /// unless it is the full view awaited (the registry may have restarted in another
    /// epoch, or be another one).
    pub fn apply_kind(&self, patch: &Patch, kind: PatchKind, order: Option<PatchOrder>) -> bool {
        let mut services = self.services.lock();
        let mut last = self.last_order.lock();
        let awaited = kind == PatchKind::Full && self.full_view_next.load(Ordering::SeqCst);
        if let (Some(order), Some(last)) = (order, *last)
            && order <= last
            && !awaited
        {
            return false;
        }
        match kind {
            PatchKind::Full => {
                self.full_view_next.store(false, Ordering::SeqCst);
                services.clear();
            }
            PatchKind::Delta if self.full_view_next.load(Ordering::SeqCst) => return false,
            PatchKind::Delta => {}
            PatchKind::Unmarked => {
                if self.full_view_next.swap(false, Ordering::SeqCst) {
                    services.clear();
                }
            }
        }
        if order.is_some() {
            *last = order;
        }
        for entry in &patch.removed {
            if let Some(urls) = services.get_mut(&entry.name) {
                urls.retain(|url| *url != entry.url);
                if urls.is_empty() {
                    services.remove(&entry.name);
                }
            }
        }
        for entry in &patch.added {
            let urls = services.entry(entry.name.clone()).or_default();
            if !urls.contains(&entry.url) {
                urls.push(entry.url.clone());
            }
        }
        true
    }

    /// Every known instance of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.services.lock().get(name).cloned().unwrap_or_default()
    }

    /// Every known service and its instances.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<String>> {
        self.services.lock().clone()
    }

    /// One instance of `name`, round-robin.
    pub fn provider(&self, name: &str) -> Option<String> {
        let services = self.services.lock();
        let urls = services.get(name)?;
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        urls.get(turn % urls.len()).cloned()
    }

    /// Calls `request` with an instance of `name` (its base URL), trying the next
    /// instance whenever one cannot be connected to or times out. Any other outcome,
    /// an HTTP error status included, is the answer.
    ///
    /// # Errors
    /// No instance is known, none could be reached, or one failed the call otherwise.
    pub async fn call<T, E, F, Fut>(&self, name: &str, request: F) -> Result<T, CallError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<ClientError>,
    {
        let urls = self.all(name);
        if urls.is_empty() {
            return Err(CallError::NoInstance(name.to_owned()));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for i in 0..urls.len() {
            match request(urls[(start + i) % urls.len()].clone())
                .await
                .map_err(Into::into)
            {
                Ok(answer) => return Ok(answer),
                Err(err) if err.is_unreachable() => last = Some(err),
                Err(err) => {
                    return Err(CallError::Failed {
                        service: name.to_owned(),
                        err,
                    });
                }
            }
        }
        Err(CallError::Unreachable {
            service: name.to_owned(),
            tried: urls.len(),
            last: last.expect("at least one instance was tried"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::registry::PatchEntry;

    fn entry(name: &str, url: &str) -> PatchEntry {
        PatchEntry {
            name: name.into(),
            url: url.into(),
        }
    }

    #[test]
    fn applying_a_patch_is_idempotent() {
        let providers = Providers::default();
        let patch = Patch {
            added: vec![entry("Log", "http://a"), entry("Log", "http://b")],
            removed: vec![],
        };
        providers.apply(&patch);
        providers.apply(&patch);
        assert_eq!(providers.all("Log"), vec!["http://a", "http://b"]);
        let remove = Patch {
            added: vec![],
            removed: vec![
                entry("Log", "http://a"),
                entry("Log", "http://zzz"),
                entry("Nope", "http://a"),
            ],
        };
        providers.apply(&remove);
        providers.apply(&remove);
        assert_eq!(providers.all("Log"), vec!["http://b"]);
    }

    #[test]
    fn the_first_patch_after_registering_replaces_the_cache() {
        let providers = Providers::default();
        providers.apply(&Patch {
            added: vec![entry("Log", "http://old")],
            removed: vec![],
        });
        providers.expect_full_view();
        providers.apply(&Patch {
            added: vec![entry("Log", "http://new")],
            removed: vec![],
        });
        assert_eq!(providers.all("Log"), vec!["http://new"]);
        providers.apply(&Patch {
            added: vec![entry("Log", "http://other")],
            removed: vec![],
        });
        assert_eq!(providers.all("Log"), vec!["http://new", "http://other"]);
    }

    #[test]
    fn a_change_from_before_registering_is_dropped_and_the_full_view_replaces() {
        let providers = Providers::default();
        let one = |url: &str| Patch {
            added: vec![entry("Log", url)],
            removed: vec![],
        };
        assert!(providers.apply_kind(&one("http://old"), PatchKind::Delta, None));
        providers.expect_full_view();
        // Sent before the registration, arriving after it: dropped.
        assert!(!providers.apply_kind(&one("http://stale"), PatchKind::Delta, None));
        assert_eq!(providers.all("Log"), vec!["http://old"]);
        assert!(providers.apply_kind(&one("http://a"), PatchKind::Full, None));
        assert_eq!(providers.all("Log"), vec!["http://a"]);
        assert!(providers.apply_kind(&one("http://b"), PatchKind::Delta, None));
        assert_eq!(providers.all("Log"), vec!["http://a", "http://b"]);
        // A full view replaces whatever came before, awaited or not.
        assert!(providers.apply_kind(&one("http://c"), PatchKind::Full, None));
        assert_eq!(providers.all("Log"), vec!["http://c"]);
        assert_eq!(PatchKind::from_header(Some(" FULL ")), PatchKind::Full);
        assert_eq!(PatchKind::from_header(Some("delta")), PatchKind::Delta);
        assert_eq!(PatchKind::from_header(Some("other")), PatchKind::Unmarked);
        assert_eq!(PatchKind::from_header(None), PatchKind::Unmarked);
    }

    #[test]
    fn a_patch_ordered_before_one_applied_is_dropped_unless_it_is_the_awaited_full_view() {
        let providers = Providers::default();
        let one = |url: &str| Patch {
            added: vec![entry("Log", url)],
            removed: vec![],
        };
        let order = |header: &str| PatchOrder::from_header(Some(header));
        providers.expect_full_view();
        assert!(providers.apply_kind(&one("http://a"), PatchKind::Full, order("7.2")));
        // Sent before the last one applied, delayed on the way: dropped, full or not.
        assert!(!providers.apply_kind(&one("http://late"), PatchKind::Delta, order("7.1")));
        assert!(!providers.apply_kind(&one("http://late"), PatchKind::Full, order("7.2")));
        // A later epoch (a new leader) comes after any sequence of an earlier one.
        assert!(providers.apply_kind(&one("http://b"), PatchKind::Delta, order("9.1")));
        assert!(!providers.apply_kind(&one("http://old"), PatchKind::Delta, order("7.30")));
        assert_eq!(providers.all("Log"), vec!["http://a", "http://b"]);
        // Registering again (with a registry in another epoch): its full view is taken.
        providers.expect_full_view();
        assert!(providers.apply_kind(&one("http://c"), PatchKind::Full, order("1.1")));
        assert_eq!(providers.all("Log"), vec!["http://c"]);
        assert_eq!(
            order(" 12.34 "),
            Some(PatchOrder {
                epoch: 12,
                sequence: 34
            })
        );
        assert_eq!(order("12"), None);
        assert_eq!(PatchOrder::from_header(None), None);
    }

    #[test]
    fn providers_are_picked_round_robin() {
        let providers = Providers::default();
        assert_eq!(providers.provider("Log"), None);
        providers.apply(&Patch {
            added: vec![entry("Log", "http://a"), entry("Log", "http://b")],
            removed: vec![],
        });
        let picks: Vec<String> = (0..4).map(|_| providers.provider("Log").unwrap()).collect();
        assert_eq!(picks.iter().filter(|u| *u == "http://a").count(), 2);
        assert_eq!(picks.iter().filter(|u| *u == "http://b").count(), 2);
    }

    #[tokio::test]
    async fn call_fails_over_and_says_when_no_instance_is_known() {
        let providers = Providers::default();
        let err = providers
            .call("Log", |url| async move { Ok::<_, reqwest::Error>(url) })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no instance of Log is known; is it running and registered?"
        );

        // Port 9 on loopback: nothing listens there, so the connection is refused.
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_url = format!("http://{}", live.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                live,
                axum::Router::new().route("/", axum::routing::get(|| async { "ok" })),
            )
            .await
            .unwrap();
        });
        providers.apply(&Patch {
            added: vec![entry("Log", "http://127.0.0.1:9"), entry("Log", &live_url)],
            removed: vec![],
        });
        let client = reqwest::Client::new();
        for _ in 0..4 {
            let answer = providers
                .call("Log", |url| {
                    let client = client.clone();
                    async move { client.get(format!("{url}/")).send().await?.text().await }
                })
                .await
                .unwrap();
            assert_eq!(answer, "ok");
        }

        providers.apply(&Patch {
            added: vec![],
            removed: vec![entry("Log", &live_url)],
        });
        let err = providers
            .call("Log", |url| {
                let client = client.clone();
                async move { client.get(format!("{url}/")).send().await?.text().await }
            })
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no instance of Log could be reached (tried 1)"),
            "{err}"
        );
    }
}
