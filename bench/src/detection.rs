//! Failure detection (`detection`): how long until a dependent hears that a provider died.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::Router;

use crate::{
    figure::{Figure, ms, no_baseline, percentile},
    procs::wait_up,
    propagation::Inbox,
    registry::{register, registry},
};

/// Failure detection: a provider's listener is closed; time until a dependent holds
/// `Removed`, 20 trials with the registry's default settings.
pub(crate) async fn failure_detection() -> Figure {
    eprintln!("bench: failure detection (20 trials, about a minute) …");
    let (_registry, url) = registry(&[]);
    let times = failure_detection_times(&url, &url, 20, |_| async {}).await;
    let max = *times.last().unwrap();
    Figure {
        name: "failure detection",
        how: "close an instance's listener; until a dependent holds Removed; 20 trials, defaults"
            .into(),
        baseline: no_baseline(
            "the time is set by the heartbeat interval (1 s) and the failures needed (2)",
        ),
        measured: format!(
            "min {} median {} max {}",
            ms(times[0]),
            ms(percentile(&times, 0.5)),
            ms(max)
        ),
        ratio: "—".into(),
        target: "max ≤ 3 s".into(),
        holds: Some(max <= Duration::from_secs(3)),
    }
}

/// A dependent registered through `watcher_via`, then `trials` times: an instance it
/// requires registers through `victim_via`, `before_kill(trial)` runs, the instance's
/// listener is closed; the sorted times until the dependent held `Removed`.
pub(crate) async fn failure_detection_times<F, Fut>(
    watcher_via: &str,
    victim_via: &str,
    trials: u64,
    before_kill: F,
) -> Vec<Duration>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    wait_up(&format!("{watcher_via}/services")).await;
    let client = reqwest::Client::new();
    let inbox = Inbox::default();
    let base = inbox.serve().await;
    register(
        &client,
        watcher_via,
        serde_json::json!({
            "ServiceName": "Watcher", "ServiceURL": format!("{base}/dep/0"),
            "RequiredServices": ["Victim"], "ServiceUpdateURL": format!("{base}/dep/0/services"),
        }),
    )
    .await;
    let mut times = Vec::new();
    for trial in 0..trials {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let victim = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let server = tokio::spawn(async move {
            let app = Router::new().route("/heartbeat", axum::routing::get(|| async { "ok" }));
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.notified().await })
                .await
                .unwrap();
        });
        register(&client, victim_via, serde_json::json!({
            "ServiceName": "Victim", "ServiceURL": victim, "HeartbeatURL": format!("{victim}/heartbeat"),
        }))
        .await;
        inbox
            .wait_all(1, &victim, true, Duration::from_secs(10))
            .await;
        // Kill it at a different point of the heartbeat interval each time.
        tokio::time::sleep(Duration::from_millis(1000 + (trial * 53) % 1000)).await;
        before_kill(trial).await;
        let killed = Instant::now();
        stop.notify_one();
        server.await.unwrap();
        let removed = inbox
            .wait_all(1, &victim, false, Duration::from_secs(20))
            .await;
        times.push(removed[0].duration_since(killed));
        let _ = client
            .delete(format!("{victim_via}/services"))
            .body(victim)
            .send()
            .await;
    }
    times.sort();
    times
}
