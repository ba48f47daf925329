//! `make bench`: measures the registry, the log service and the portal on this machine.
//!
//! It starts the release binaries as separate processes on 127.0.0.1, drives them with
//! its own load generator (and Debian's `wrk` where the issue names it), prints one table
//! and writes it to `BENCHMARKS.md` with the core count and the date. Each figure is
//! measured in the same run as its baseline, since these machines are noisy. Nothing
//! here asserts: a missed target is reported as missed.
//!
//! `bench soak` is `make soak`, which does assert: see [`soak`].

mod cluster;
mod grading;
mod helpers;
mod procs;
mod soak;

use std::{
    collections::HashMap,
    io::Write as _,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::wire::registry::Patch;
use axum::{Router, extract::Path, http::StatusCode, routing::post};
use procs::{Proc, free_port, temp_dir, wait_up, wrk};

/// One row of the table.
struct Figure {
    name: &'static str,
    how: String,
    measured: String,
    target: &'static str,
    /// Whether the target holds; `None` for figures that are only reported.
    holds: Option<bool>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bare") => return helpers::bare(&args).await,
        Some("stub") => return helpers::stub(&args).await,
        Some("soak") => return soak::soak(&args).await,
        _ => {}
    }
    let only = args.first().cloned();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let mut figures = Vec::new();
    if wanted("lookups") {
        figures.push(lookups().await);
    }
    if wanted("registrations") {
        figures.push(registrations().await);
    }
    if wanted("propagation") {
        figures.push(propagation().await);
    }
    if wanted("detection") {
        figures.push(failure_detection().await);
    }
    if wanted("heartbeat") {
        figures.push(heartbeat_scale().await);
    }
    if wanted("log") {
        figures.extend(log_ingest().await);
    }
    if wanted("grade") {
        figures.extend(grading::figures().await);
    }
    if wanted("portal") {
        figures.extend(portal().await);
    }
    if wanted("etcd") {
        figures.extend(cluster::figures().await);
    }
    report(&figures, only.is_none());
    procs::remove_temp_dirs();
}

fn registry(extra: &[&str]) -> (Proc, String) {
    let port = free_port();
    let mut args = vec!["--addr".to_owned(), format!("127.0.0.1:{port}")];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    (
        Proc::start("registryservice", &args),
        format!("http://127.0.0.1:{port}"),
    )
}

async fn register(client: &reqwest::Client, registry: &str, body: serde_json::Value) {
    let response = client
        .post(format!("{registry}/services"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// `count` sequential `GET url`s, each one's time (to the last byte of the answer) added
/// to `times`; the size of the last answer.
async fn timed_gets(
    client: &reqwest::Client,
    url: &str,
    count: usize,
    times: &mut Vec<Duration>,
) -> usize {
    let mut bytes = 0;
    for _ in 0..count {
        let started = Instant::now();
        let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
        times.push(started.elapsed());
        bytes = body.len();
    }
    bytes
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Registry lookups/s (GET /services/{name}, 8 instances, wrk -t2 -c16) beside a bare
/// axum handler returning the same bytes, interleaved twice.
async fn lookups() -> Figure {
    eprintln!("bench: registry lookups …");
    let (_registry, url) = registry(&[]);
    wait_up(&format!("{url}/services")).await;
    let stub_port = free_port();
    let _stub = Proc::start(
        "bench",
        &[
            "stub".into(),
            "--addr".into(),
            format!("127.0.0.1:{stub_port}"),
            "--count".into(),
            "8".into(),
        ],
    );
    wait_up(&format!("http://127.0.0.1:{stub_port}/stats")).await;
    let client = reqwest::Client::new();
    for i in 0..8 {
        register(
            &client,
            &url,
            serde_json::json!({
                "ServiceName": "LookupService",
                "ServiceURL": format!("http://127.0.0.1:{stub_port}/instance/{i}"),
                "HeartbeatURL": format!("http://127.0.0.1:{stub_port}/hb/{i}"),
            }),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let lookup = format!("{url}/services/LookupService");
    let body = client
        .get(&lookup)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let dir = temp_dir("lookups");
    std::fs::write(dir.join("body.json"), &body).unwrap();
    let bare_port = free_port();
    let _bare = Proc::start(
        "bench",
        &[
            "bare".into(),
            "--addr".into(),
            format!("127.0.0.1:{bare_port}"),
            "--body".into(),
            dir.join("body.json").display().to_string(),
        ],
    );
    let bare = format!("http://127.0.0.1:{bare_port}/services/LookupService");
    wait_up(&bare).await;
    let (mut bare_rps, mut registry_rps) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        bare_rps.push(wrk(&["-t2", "-c16", "-d5s", &bare]).0);
        registry_rps.push(wrk(&["-t2", "-c16", "-d5s", &lookup]).0);
    }
    let bare = bare_rps.iter().sum::<f64>() / 2.0;
    let ours = registry_rps.iter().sum::<f64>() / 2.0;
    let ratio = ours / bare;
    Figure {
        name: "registry lookups/s",
        how: format!(
            "GET /services/{{name}}, 8 instances ({} bytes), wrk -t2 -c16, 2×5 s interleaved",
            body.len()
        ),
        measured: format!("{ours:.0}/s vs bare {bare:.0}/s = {:.0}%", ratio * 100.0),
        target: "≥ 60% of the bare handler",
        holds: Some(ratio >= 0.6),
    }
}

/// Registrations/s: distinct URLs, no dependents, 16 concurrent clients for 5 s.
async fn registrations() -> Figure {
    eprintln!("bench: registrations …");
    let (_registry, url) = registry(&[]);
    wait_up(&format!("{url}/services")).await;
    let (rate, total) = registration_rate(&url).await;
    Figure {
        name: "registrations/s",
        how: "POST /services, distinct URLs, no dependents, 16 clients, 5 s".into(),
        measured: format!("{rate:.0}/s ({total} registered)"),
        target: "report",
        holds: None,
    }
}

/// Registrations through the registry at `url`, distinct URLs, 16 clients for 5 s: the
/// rate per second and how many there were.
async fn registration_rate(url: &str) -> (f64, u64) {
    let client = reqwest::Client::new();
    let url = url.to_owned();
    closed_loop(16, Duration::from_secs(5), move |task, done| {
        let body = serde_json::json!({
            "ServiceName": "Registered",
            "ServiceURL": format!("http://127.0.0.1:9/{task}/{done}"),
        });
        let request = client.post(format!("{url}/services")).json(&body).send();
        async move {
            assert_eq!(request.await.unwrap().status(), 200);
        }
    })
    .await
}

/// `clients` clients at once, each sending `request(client, n)` for its n-th request and
/// waiting for the answer, again and again for `length`: requests answered per second,
/// and how many.
async fn closed_loop<F, Fut>(clients: usize, length: Duration, request: F) -> (f64, u64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    request(client, done).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    (total as f64 / started.elapsed().as_secs_f64(), total)
}

/// Which dependent saw which URL added (`true`) or removed.
type Sighting = (usize, String, bool);

/// Records when each dependent received a patch mentioning a URL.
#[derive(Clone, Default)]
struct Inbox {
    seen: Arc<Mutex<HashMap<Sighting, Instant>>>,
}

impl Inbox {
    /// Serves `/dep/{i}/services` for patches; returns the listener's base URL.
    async fn serve(&self) -> String {
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
    async fn wait_all(
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

/// Change propagation: a provider registers; time until 100 dependents hold `Added`.
async fn propagation() -> Figure {
    eprintln!("bench: change propagation …");
    let (_registry, url) = registry(&[]);
    let (all, each) = propagation_times(&url).await;
    let p99 = percentile(&all, 0.99);
    Figure {
        name: "change propagation",
        how: "a provider registers; until 100 dependents hold the Added patch; 50 trials".into(),
        measured: format!(
            "all 100: p50 {} p99 {}; each: p50 {} p99 {}",
            ms(percentile(&all, 0.5)),
            ms(p99),
            ms(percentile(&each, 0.5)),
            ms(percentile(&each, 0.99))
        ),
        target: "p99 ≤ 10 ms",
        holds: Some(p99 <= Duration::from_millis(10)),
    }
}

/// Through the registry at `url`: 100 dependents, then 50 trials of a provider
/// registering; the sorted times until all 100 held the Added patch, and until each did.
async fn propagation_times(url: &str) -> (Vec<Duration>, Vec<Duration>) {
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut all = Vec::new();
    let mut each = Vec::new();
    for trial in 0..50 {
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
        each.extend(times.iter().map(|t| t.duration_since(started)));
        all.push(times.iter().max().unwrap().duration_since(started));
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

/// Failure detection: a provider's listener is closed; time until a dependent holds
/// `Removed`, 20 trials with the registry's default settings.
async fn failure_detection() -> Figure {
    eprintln!("bench: failure detection (20 trials, about a minute) …");
    let (_registry, url) = registry(&[]);
    let times = failure_detection_times(&url, &url, 20, |_| async {}).await;
    let max = *times.last().unwrap();
    Figure {
        name: "failure detection",
        how: "close an instance's listener; until a dependent holds Removed; 20 trials, defaults"
            .into(),
        measured: format!(
            "min {} median {} max {}",
            ms(times[0]),
            ms(percentile(&times, 0.5)),
            ms(max)
        ),
        target: "max ≤ 3 s",
        holds: Some(max <= Duration::from_secs(3)),
    }
}

/// A dependent registered through `watcher_via`, then `trials` times: an instance it
/// requires registers through `victim_via`, `before_kill(trial)` runs, the instance's
/// listener is closed; the sorted times until the dependent held `Removed`.
async fn failure_detection_times<F, Fut>(
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

/// Heartbeat scale: 10,000 instances served by one stub process, checked every second.
async fn heartbeat_scale() -> Figure {
    eprintln!("bench: heartbeat scale (10,000 instances) …");
    const N: usize = 10_000;
    let (registry_proc, url) = registry(&[]);
    wait_up(&format!("{url}/services")).await;
    let stub_port = free_port();
    let _stub = Proc::start(
        "bench",
        &[
            "stub".into(),
            "--addr".into(),
            format!("127.0.0.1:{stub_port}"),
            "--count".into(),
            N.to_string(),
        ],
    );
    let stub = format!("http://127.0.0.1:{stub_port}");
    wait_up(&format!("{stub}/stats")).await;
    let client = reqwest::Client::new();
    let stream = futures::stream::iter(0..N).map(|i| {
        let client = client.clone();
        let url = url.clone();
        let stub = stub.clone();
        async move {
            register(
                &client,
                &url,
                serde_json::json!({
                    "ServiceName": format!("Scale{}", i % 100),
                    "ServiceURL": format!("{stub}/instance/{i}"),
                    "HeartbeatURL": format!("{stub}/hb/{i}"),
                }),
            )
            .await;
        }
    });
    use futures::StreamExt;
    stream.buffer_unordered(32).collect::<Vec<_>>().await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let stats = |client: reqwest::Client, stub: String| async move {
        client
            .get(format!("{stub}/stats"))
            .send()
            .await
            .unwrap()
            .json::<Vec<u32>>()
            .await
            .unwrap()
    };
    let window = Duration::from_secs(10);
    let before = stats(client.clone(), stub.clone()).await;
    let cpu_before = registry_proc.cpu();
    let started = Instant::now();
    let mut rss_max: f64 = 0.0;
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_max = rss_max.max(registry_proc.rss_mib());
    }
    let after = stats(client.clone(), stub.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (registry_proc.cpu() - cpu_before).as_secs_f64() / elapsed;
    let per_second: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b) as f64 / elapsed)
        .collect();
    let min = per_second.iter().cloned().fold(f64::INFINITY, f64::min);
    let mean = per_second.iter().sum::<f64>() / per_second.len() as f64;
    // A check every second means at least ⌊window⌋ - 1 checks in the window for each.
    let every_second = before
        .iter()
        .zip(&after)
        .all(|(b, a)| (a - b) as f64 >= window.as_secs_f64() - 1.0);
    Figure {
        name: "heartbeat scale",
        how: "10,000 instances on one stub process, default 1 s interval, 10 s window".into(),
        measured: format!(
            "checks/instance/s min {min:.2} mean {mean:.2}; registry CPU {:.0}% of a core, RSS {rss_max:.0} MiB",
            cpu * 100.0
        ),
        target: "every instance every 1 s; < 1 core; RSS < 200 MiB",
        holds: Some(every_second && cpu < 1.0 && rss_max < 200.0),
    }
}

/// Log ingest: wrk on the original call, and lines/s through the batch form.
async fn log_ingest() -> Vec<Figure> {
    eprintln!("bench: log ingest …");
    let dir = temp_dir("log");
    let port = free_port();
    let _log = Proc::start(
        "logservice",
        &[
            "--addr".into(),
            format!("127.0.0.1:{port}"),
            "--registry-url".into(),
            "http://127.0.0.1:9".into(),
            "--log-file".into(),
            dir.join("bench.log").display().to_string(),
            "--max-file-size".into(),
            "1GiB".into(),
        ],
    );
    let url = format!("http://127.0.0.1:{port}/log");
    wait_up(&url).await;
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"text/plain\"\nwrk.body = \"[BenchService] - a log message of a typical length, about sixty bytes\"\n",
    )
    .unwrap();
    let (rps, errors) = wrk(&[
        "-t2",
        "-c16",
        "-d10s",
        "-s",
        &script.display().to_string(),
        &url,
    ]);
    let single = Figure {
        name: "log ingest, original call",
        how: "POST /log, one message each, wrk -t2 -c16 -d10s (the issue cites about 41,000/s for the Go original)"
            .into(),
        measured: format!("{rps:.0} req/s ({errors} errors)"),
        target: "≥ 60,000 req/s",
        holds: Some(rps >= 60_000.0 && errors == 0),
    };

    let line = serde_json::to_string(
        "[BenchService] - a log message of a typical length, about sixty bytes",
    )
    .unwrap();
    let batch: String = std::iter::repeat_n(format!("{line}\n"), 1000).collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(5);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            let batch = batch.clone();
            tokio::spawn(async move {
                let mut lines = 0u64;
                while Instant::now() < deadline {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/x-ndjson")
                        .body(batch.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    lines += 1000;
                }
                lines
            })
        })
        .collect();
    let mut lines = 0;
    for task in tasks {
        lines += task.await.unwrap();
    }
    let rate = lines as f64 / started.elapsed().as_secs_f64();
    let batched = Figure {
        name: "log ingest, batch form",
        how: "POST /log, application/x-ndjson, 1,000 lines a request, 4 clients, 5 s".into(),
        measured: format!("{rate:.0} lines/s"),
        target: "≥ 200,000 lines/s",
        holds: Some(rate >= 200_000.0),
    };
    vec![single, batched]
}

/// The portal: server render of /students with 1,000 students; the release WASM size.
async fn portal() -> Vec<Figure> {
    eprintln!("bench: portal …");
    let dir = temp_dir("portal");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Proc::start(
        "server",
        &[
            "--addr".into(),
            format!("127.0.0.1:{port}"),
            "--log-file".into(),
            dir.join("p.log").display().to_string(),
            "--database".into(),
            dir.join("p.db").display().to_string(),
        ],
    );
    wait_up(&format!("{base}/services")).await;
    let client = reqwest::Client::new();
    grading::populate(&client, &format!("{base}/grading"), 1000).await;
    // The portal finds the grading service through the registry: wait until it has.
    let started = Instant::now();
    loop {
        let html = client
            .get(format!("{base}/students"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if html.contains("Last994, First994") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the portal never listed the students"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut times = Vec::new();
    let bytes = timed_gets(&client, &format!("{base}/students"), 200, &mut times).await;
    times.sort();
    let p99 = percentile(&times, 0.99);
    let render = Figure {
        name: "portal, GET /students",
        how: format!("1,000 students, server render ({bytes} bytes), 200 sequential requests"),
        measured: format!("p50 {} p99 {}", ms(percentile(&times, 0.5)), ms(p99)),
        target: "p99 ≤ 20 ms",
        holds: Some(p99 <= Duration::from_millis(20)),
    };
    let wasm_path = std::path::Path::new("target/site/pkg/distributed.wasm");
    let wasm = std::fs::read(wasm_path).unwrap_or_default();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&wasm).unwrap();
    let gzipped = encoder.finish().unwrap().len();
    let size = Figure {
        name: "portal, release WASM",
        how: "target/site/pkg/distributed.wasm, gzip -9".into(),
        measured: format!(
            "{:.0} KB raw, {:.0} KB gzipped",
            wasm.len() as f64 / 1000.0,
            gzipped as f64 / 1000.0
        ),
        target: "≤ 400 KB gzipped",
        holds: Some(!wasm.is_empty() && gzipped <= 400_000),
    };
    vec![render, size]
}

fn report(figures: &[Figure], write_file: bool) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let date = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let mut table = String::new();
    table.push_str(
        "| figure | how | measured | target | holds |\n| --- | --- | --- | --- | --- |\n",
    );
    for figure in figures {
        let holds = match figure.holds {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "(report)",
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            figure.name, figure.how, figure.measured, figure.target, holds
        ));
    }
    let missed: Vec<&str> = figures
        .iter()
        .filter(|f| f.holds == Some(false))
        .map(|f| f.name)
        .collect();
    let summary = if missed.is_empty() {
        "Every target holds.".to_owned()
    } else {
        format!("Targets missed: {}.", missed.join(", "))
    };
    println!("\n{table}\n{summary}");
    if write_file {
        let text = format!(
            "# Benchmarks\n\nMeasured by `make bench` on {} with {cores} cores. Each figure was measured in \
             the same run as its baseline; the services ran as separate release processes on 127.0.0.1.\n\n\
             {table}\n{summary}\n",
            &date[..10]
        );
        std::fs::write("BENCHMARKS.md", text).unwrap();
        println!("(written to BENCHMARKS.md)");
    }
}
