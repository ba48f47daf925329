//! Change propagation (`propagation`): how long until 100 dependents hold a patch.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::Path, http::StatusCode, routing::post};
use wire::registry::Patch;

use crate::{
    figure::{Figure, ms, percentile, times_str},
    procs::wait_up,
    registry::{register, registry},
};

/// Trials of each change-propagation run, after one uncounted. A p99 of 50 trials was
/// their maximum (one slow trial in 50 failed the figure); of 200 it is the third
/// slowest.
pub(crate) const PROPAGATION_TRIALS: usize = 200;

/// Which dependent saw which URL added (`true`) or removed.
pub(crate) type Sighting = (usize, String, bool);

/// Records when each dependent received a patch mentioning a URL.
#[derive(Clone, Default)]
pub(crate) struct Inbox {
    seen: Arc<Mutex<HashMap<Sighting, Instant>>>,
}

impl Inbox {
    /// Serves `/dep/{i}/services` for patches; returns the listener's base URL.
    pub(crate) async fn serve(&self) -> String {
        let inbox = self.clone();
        let app = Router::new().route(
            "/dep/{i}/services",
            post(move |Path(i): Path<usize>, body: String| {
                let inbox = inbox.clone();
                async move {
                    let now = Instant::now();
                    let patch: Patch = serde_json::from_str(&body).unwrap();
                    let mut seen = inbox.seen.lock().unwrap();
                    for entry in patch.added {
                        seen.entry((i, entry.url, true)).or_insert(now);
                    }
                    for entry in patch.removed {
                        seen.entry((i, entry.url, false)).or_insert(now);
                    }
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    fn at(&self, dependent: usize, url: &str, added: bool) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .get(&(dependent, url.to_owned(), added))
            .copied()
    }

    /// Waits until all `dependents` saw the patch; returns the times.
    pub(crate) async fn wait_all(
        &self,
        dependents: usize,
        url: &str,
        added: bool,
        within: Duration,
    ) -> Vec<Instant> {
        let started = Instant::now();
        loop {
            let times: Vec<Instant> = (0..dependents)
                .filter_map(|i| self.at(i, url, added))
                .collect();
            if times.len() == dependents {
                return times;
            }
            assert!(
                started.elapsed() < within,
                "only {}/{dependents} dependents got the patch for {url}",
                times.len()
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

/// Change propagation: a provider registers; time until 100 dependents hold `Added`,
/// beside a plain reqwest loop POSTing the same patch to the same 100 dependents at once.
pub(crate) async fn propagation() -> Figure {
    eprintln!("bench: change propagation …");
    let (_registry, url) = registry(&[]);
    let (all, each) = propagation_times(&url).await;
    let bare = bare_propagation_times().await;
    let (p99, bare_p99) = (percentile(&all, 0.99), percentile(&bare, 0.99));
    let ratio = p99.as_secs_f64() / bare_p99.as_secs_f64();
    Figure {
        name: "change propagation",
        how: format!(
            "a provider registers; until 100 dependents hold the Added patch; {PROPAGATION_TRIALS} trials after one uncounted (it opens the connections, as the baseline's does)"
        ),
        baseline: format!(
            "a plain reqwest loop POSTing the same patch to the same 100 dependents at once: p50 {} p99 {}",
            ms(percentile(&bare, 0.5)),
            ms(bare_p99)
        ),
        measured: format!(
            "all 100: p50 {} p99 {}; each: p50 {} p99 {}",
            ms(percentile(&all, 0.5)),
            ms(p99),
            ms(percentile(&each, 0.5)),
            ms(percentile(&each, 0.99))
        ),
        ratio: format!("p99 {}", times_str(ratio)),
        target: "p99 ≤ 2× the bare loop's p99".into(),
        holds: Some(ratio <= 2.0),
    }
}

/// The baseline of [`propagation`]: 100 dependents like its own, and
/// [`PROPAGATION_TRIALS`] trials of one
/// reqwest client POSTing an Added patch to all of them at once (after one uncounted
/// trial that opens its connections, as the registry's run has); the sorted times until
/// all 100 held it.
pub(crate) async fn bare_propagation_times() -> Vec<Duration> {
    let client = reqwest::Client::new();
    let inbox = Inbox::default();
    let base = inbox.serve().await;
    let mut all = Vec::new();
    for trial in 0..=PROPAGATION_TRIALS {
        let provider = format!("http://127.0.0.1:9/bare/{trial}");
        let patch = serde_json::json!({
            "Added": [{"Name": "Provider", "URL": provider}],
            "Removed": [],
        })
        .to_string();
        let started = Instant::now();
        let sends = (0..100).map(|i| {
            client
                .post(format!("{base}/dep/{i}/services"))
                .header("content-type", "application/json")
                .body(patch.clone())
                .send()
        });
        for answer in futures::future::join_all(sends).await {
            assert_eq!(answer.unwrap().status(), 200);
        }
        let times = inbox
            .wait_all(100, &provider, true, Duration::from_secs(5))
            .await;
        if trial > 0 {
            all.push(times.iter().max().unwrap().duration_since(started));
        }
    }
    all.sort();
    all
}

/// Through the registry at `url`: 100 dependents, then [`PROPAGATION_TRIALS`] trials of a provider
/// registering (after one uncounted trial, as in the baseline); the sorted times until
/// all 100 held the Added patch, and until each did.
pub(crate) async fn propagation_times(url: &str) -> (Vec<Duration>, Vec<Duration>) {
    wait_up(&format!("{url}/services")).await;
    let client = reqwest::Client::new();
    let inbox = Inbox::default();
    let base = inbox.serve().await;
    for i in 0..100 {
        register(
            &client,
            url,
            serde_json::json!({
                "ServiceName": "Dependent",
                "ServiceURL": format!("{base}/dep/{i}"),
                "RequiredServices": ["Provider"],
                "ServiceUpdateURL": format!("{base}/dep/{i}/services"),
            }),
        )
        .await;
    }
    let mut all = Vec::new();
    let mut each = Vec::new();
    // As in the baseline, trial 0 only opens the connections (the dependents registered
    // one at a time, so the registry holds few): it is not counted.
    for trial in 0..=PROPAGATION_TRIALS {
        let provider = format!("http://127.0.0.1:9/provider/{trial}");
        let started = Instant::now();
        register(
            &client,
            url,
            serde_json::json!({"ServiceName": "Provider", "ServiceURL": provider}),
        )
        .await;
        let times = inbox
            .wait_all(100, &provider, true, Duration::from_secs(5))
            .await;
        if trial > 0 {
            each.extend(times.iter().map(|t| t.duration_since(started)));
            all.push(times.iter().max().unwrap().duration_since(started));
        }
        client
            .delete(format!("{url}/services"))
            .body(provider.clone())
            .send()
            .await
            .unwrap();
        inbox
            .wait_all(100, &provider, false, Duration::from_secs(5))
            .await;
    }
    all.sort();
    each.sort();
    (all, each)
}
