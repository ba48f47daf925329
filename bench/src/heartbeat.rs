//! Heartbeat scale (`heartbeat`): 10,000 instances checked every interval.

use std::time::{Duration, Instant};

use crate::{
    figure::{Figure, no_baseline, percent},
    procs::{self, wait_up},
    registry::{register, registry},
};

/// Heartbeat scale: 10,000 instances spread over 100 ports of one stub process. At the
/// default 1 s interval, every instance must be checked in every interval; then, with
/// rounds back to back, the checker's rate beside a plain reqwest loop GETting the same
/// 10,000 URLs with the same concurrency.
pub(crate) async fn heartbeat_scale() -> Vec<Figure> {
    eprintln!("bench: heartbeat scale (10,000 instances on 100 ports) …");
    const N: usize = 10_000;
    const PORTS: usize = 100;
    let (_stub, ports) = procs::stub(PORTS, N);
    let stub = |i: usize| format!("http://127.0.0.1:{}", ports[i % PORTS]);
    wait_up(&format!("{}/stats", stub(0))).await;
    let client = reqwest::Client::new();
    let stats = || async {
        client
            .get(format!("{}/stats", stub(0)))
            .send()
            .await
            .unwrap()
            .json::<Vec<u32>>()
            .await
            .unwrap()
    };
    // Registers every instance with the registry at `url`, then waits until the stub
    // has seen each one checked since.
    let populate = |url: String| {
        let client = client.clone();
        async move {
            use futures::StreamExt;
            let before = stats().await;
            futures::stream::iter(0..N)
                .map(|i| {
                    let (client, url) = (client.clone(), url.clone());
                    let base = stub(i);
                    async move {
                        let body = serde_json::json!({
                            "ServiceName": format!("Scale{}", i % 100),
                            "ServiceURL": format!("{base}/instance/{i}"),
                            "HeartbeatURL": format!("{base}/hb/{i}"),
                        });
                        register(&client, &url, body).await;
                    }
                })
                .buffer_unordered(32)
                .collect::<Vec<_>>()
                .await;
            loop {
                let now = stats().await;
                if now.iter().zip(&before).all(|(a, b)| a > b) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // At the default interval.
    let (registry_proc, url) = registry(&[]);
    wait_up(&format!("{url}/services")).await;
    populate(url.clone()).await;
    let window = Duration::from_secs(10);
    let before = stats().await;
    let cpu_before = registry_proc.cpu();
    let started = Instant::now();
    let mut rss_max: f64 = 0.0;
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_max = rss_max.max(registry_proc.rss_mib());
    }
    let after = stats().await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (registry_proc.cpu() - cpu_before).as_secs_f64() / elapsed;
    drop(registry_proc);
    let counts: Vec<u32> = before.iter().zip(&after).map(|(b, a)| a - b).collect();
    let (fewest, most) = (
        counts.iter().min().copied().unwrap_or(0),
        counts.iter().max().copied().unwrap_or(0),
    );
    // Checked in every interval: at least one check per whole second of the window.
    let intervals = elapsed.floor() as u32;
    let every = fewest >= intervals;
    let interval_figure = Figure {
        name: "heartbeat scale, default interval",
        how: format!(
            "10,000 instances on 100 ports of one stub process, 1 s interval, {elapsed:.1} s window"
        ),
        baseline: no_baseline("a fixed duty: each instance once a second"),
        measured: format!(
            "checks per instance in the window: fewest {fewest}, most {most} ({intervals} intervals); \
             registry CPU {:.0}% of a core, RSS {rss_max:.0} MiB",
            cpu * 100.0
        ),
        ratio: "—".into(),
        target: "every instance in every interval; < 1 core; RSS < 200 MiB".into(),
        holds: Some(every && cpu < 1.0 && rss_max < 200.0),
    };

    // As fast as the checker goes: rounds back to back.
    let (_fast, url) = registry(&["--heartbeat-interval", "1ms"]);
    wait_up(&format!("{url}/services")).await;
    populate(url.clone()).await;
    let window = Duration::from_secs(5);
    let before = stats().await;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = stats().await;
    let ours = (after.iter().sum::<u32>() - before.iter().sum::<u32>()) as f64
        / started.elapsed().as_secs_f64();
    drop(_fast);
    // The same GETs from a plain reqwest loop, as many at once as the checker's default.
    let urls: Vec<String> = (0..N).map(|i| format!("{}/hb/{i}", stub(i))).collect();
    let bare_client = reqwest::Client::new();
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < window {
        use futures::StreamExt;
        done += futures::stream::iter(&urls)
            .map(|url| {
                let client = bare_client.clone();
                async move {
                    client
                        .get(url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                }
            })
            .buffer_unordered(1024)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await as u64;
    }
    let bare = done as f64 / started.elapsed().as_secs_f64();
    let ratio = ours / bare;
    let rate_figure = Figure {
        name: "heartbeat checks/s, rounds back to back",
        how: "the same 10,000 instances, --heartbeat-interval 1ms, 5 s window (checks counted by the stub)".into(),
        baseline: format!(
            "a plain reqwest loop GETting the same 10,000 URLs, 1,024 at once (the checker's default): {bare:.0}/s"
        ),
        measured: format!("{ours:.0}/s"),
        ratio: percent(ratio),
        target: "≥ 50% of the bare loop".into(),
        holds: Some(ratio >= 0.5),
    };
    vec![interval_figure, rate_figure]
}
