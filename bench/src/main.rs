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

use axum::{Router, extract::Path, http::StatusCode, routing::post};
use procs::{Proc, free_port, temp_dir, wait_up, wrk};
use wire::registry::Patch;

/// One row of the table: what was measured, beside what.
struct Figure {
    name: &'static str,
    how: String,
    /// The baseline measured in the same run, the same way, and its figure; or why there
    /// is none.
    baseline: String,
    measured: String,
    /// Ours against the baseline, as the target reads it (`—` without a baseline).
    ratio: String,
    target: String,
    /// Whether the target holds; `None` for figures that are only reported.
    holds: Option<bool>,
}

/// A ratio as a percentage: `87%`.
fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// A ratio as a multiple: `1.4×`.
fn times_str(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// What a figure without a baseline says in its baseline column.
fn no_baseline(why: &str) -> String {
    format!("none: {why}")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bare") => return helpers::bare(&args).await,
        Some("bare-log") => return helpers::bare_log(&args).await,
        Some("stub") => return helpers::stub(&args).await,
        Some("soak") => return soak::soak(&args).await,
        _ => {}
    }
    // The temp dirs (gigabytes of log and grade files) go also when a figure panics.
    let _cleanup = procs::TempDirs;
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
        figures.extend(heartbeat_scale().await);
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
}

/// The registry's flag that lifts its cap on instances (`--max-instances`, default
/// 10,000), for the figures that register more than that: a registration rate for 5 s
/// registers tens of thousands.
pub const UNCAPPED: [&str; 2] = ["--max-instances", "100000000"];

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

/// Trials of each change-propagation run, after one uncounted. A p99 of 50 trials was
/// their maximum (one slow trial in 50 failed the figure); of 200 it is the third
/// slowest.
pub const PROPAGATION_TRIALS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A bare handler answering every GET with the bytes `url` answers now, as `mime`: the
/// process, its base URL (once it answers) and the bytes.
async fn bare_copy(url: &str, mime: &str) -> (Proc, String, axum::body::Bytes) {
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let file = temp_dir("bare").join(format!("body-{}", free_port()));
    std::fs::write(&file, &body).unwrap();
    let port = free_port();
    let process = Proc::start(
        "bench",
        &[
            "bare".into(),
            "--addr".into(),
            format!("127.0.0.1:{port}"),
            "--body".into(),
            file.display().to_string(),
            "--type".into(),
            mime.into(),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    (process, base, body)
}

/// Registry lookups/s (GET /services/{name}, 8 instances, wrk -t2 -c16) beside a bare
/// axum handler returning the same bytes, interleaved twice.
async fn lookups() -> Figure {
    eprintln!("bench: registry lookups …");
    let (_registry, url) = registry(&[]);
    wait_up(&format!("{url}/services")).await;
    let (_stub, stub_ports) = procs::stub(1, 8).await;
    let stub_port = stub_ports[0];
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
    let (_bare, bare, body) = bare_copy(&lookup, "application/json").await;
    let bare = format!("{bare}/services/LookupService");
    let (mut bare_rps, mut registry_rps) = (Vec::new(), Vec::new());
    let mut errors = 0;
    for _ in 0..2 {
        let (rps, e) = wrk(&["-t2", "-c16", "-d5s", &bare]);
        bare_rps.push(rps);
        errors += e;
        let (rps, e) = wrk(&["-t2", "-c16", "-d5s", &lookup]);
        registry_rps.push(rps);
        errors += e;
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
        baseline: format!("a bare axum handler answering the same bytes: {bare:.0}/s"),
        measured: format!("{ours:.0}/s ({errors} errors)"),
        ratio: percent(ratio),
        target: "≥ 85% of the bare handler, no errors".into(),
        holds: Some(ratio >= 0.85 && errors == 0),
    }
}

/// Registrations/s: distinct URLs, no dependents, 16 concurrent clients for 5 s.
async fn registrations() -> Figure {
    eprintln!("bench: registrations …");
    let (_registry, url) = registry(&UNCAPPED);
    wait_up(&format!("{url}/services")).await;
    let (rate, total) = registration_rate(&url).await;
    Figure {
        name: "registrations/s",
        how: "POST /services, distinct URLs, no dependents, 16 clients, 5 s".into(),
        baseline: no_baseline(
            "a registration is validated, stored and journaled; no bare handler does that",
        ),
        measured: format!("{rate:.0}/s ({total} registered)"),
        ratio: "—".into(),
        target: "report".into(),
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

/// Change propagation: a provider registers; time until 100 dependents hold `Added`,
/// beside a plain reqwest loop POSTing the same patch to the same 100 dependents at once.
async fn propagation() -> Figure {
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
async fn bare_propagation_times() -> Vec<Duration> {
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

/// Heartbeat scale: 10,000 instances spread over 100 ports of one stub process. At the
/// default 1 s interval, every instance must be checked in every interval; then, with
/// rounds back to back, the checker's rate beside a plain reqwest loop GETting the same
/// 10,000 URLs with the same concurrency.
async fn heartbeat_scale() -> Vec<Figure> {
    eprintln!("bench: heartbeat scale (10,000 instances on 100 ports) …");
    const N: usize = 10_000;
    const PORTS: usize = 100;
    let (_stub, ports) = procs::stub(PORTS, N).await;
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

/// A log service at a free port writing into `dir`, with `--fsync fsync`: the process and
/// its `/log` URL, once it answers.
async fn log_service(dir: &std::path::Path, fsync: &str) -> (Proc, String) {
    let port = free_port();
    let process = Proc::start(
        "logservice",
        &[
            "--addr".into(),
            format!("127.0.0.1:{port}"),
            "--registry-url".into(),
            "http://127.0.0.1:9".into(),
            "--log-file".into(),
            dir.join(format!("ours-{fsync}.log")).display().to_string(),
            "--max-file-size".into(),
            "1GiB".into(),
            "--keep-files".into(),
            "1".into(),
            "--fsync".into(),
            fsync.into(),
        ],
    );
    let url = format!("http://127.0.0.1:{port}/log");
    wait_up(&url).await;
    (process, url)
}

/// The baseline of the log figures: a bare axum handler appending each body to a file
/// in `dir` (and fsyncing each time if `fsync`): the process and its `/log` URL.
async fn bare_log(dir: &std::path::Path, fsync: bool) -> (Proc, String) {
    let port = free_port();
    let mut args = vec![
        "bare-log".into(),
        "--addr".into(),
        format!("127.0.0.1:{port}"),
        "--file".into(),
        dir.join(format!("bare-{fsync}.log")).display().to_string(),
    ];
    if fsync {
        args.push("--fsync".into());
    }
    let process = Proc::start("bench", &args);
    let url = format!("http://127.0.0.1:{port}/log");
    wait_up(&url).await;
    (process, url)
}

/// wrk POSTing the original call's one message to `ours` and to `bare`, 2×5 s
/// interleaved: each one's mean rate, and the errors of both.
fn wrk_pair(script: &std::path::Path, ours: &str, bare: &str) -> (f64, f64, u64) {
    let script = script.display().to_string();
    let (mut ours_rps, mut bare_rps, mut errors) = (0.0, 0.0, 0);
    for _ in 0..2 {
        let (rps, e) = wrk(&["-t2", "-c16", "-d5s", "-s", &script, bare]);
        bare_rps += rps / 2.0;
        errors += e;
        let (rps, e) = wrk(&["-t2", "-c16", "-d5s", "-s", &script, ours]);
        ours_rps += rps / 2.0;
        errors += e;
    }
    (ours_rps, bare_rps, errors)
}

/// Log ingest: the original call (wrk, one message a request) with the log service's
/// default `--fsync never` and with `always`, each beside a bare handler appending the
/// same bytes (fsyncing each time for `always`); and lines/s through the batch form
/// beside the bare handler appending the same batches.
async fn log_ingest() -> Vec<Figure> {
    eprintln!("bench: log ingest …");
    let dir = temp_dir("log");
    let message = "[BenchService] - a log message of a typical length, about sixty bytes";
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"text/plain\"\nwrk.body = \"{message}\"\n"
        ),
    )
    .unwrap();
    let mut figures = Vec::new();
    for (fsync, target, needed) in [
        ("never", "≥ 90% of the bare handler, no errors", Some(0.9)),
        ("always", "report (what an fsync a write costs)", None),
    ] {
        let (_ours, ours_url) = log_service(&dir, fsync).await;
        let (_bare, bare_url) = bare_log(&dir, fsync == "always").await;
        let (ours, bare, errors) = wrk_pair(&script, &ours_url, &bare_url);
        let ratio = ours / bare;
        figures.push(Figure {
            name: if fsync == "never" {
                "log ingest, original call"
            } else {
                "log ingest, original call, --fsync always"
            },
            how: format!(
                "POST /log, one message each, wrk -t2 -c16, 2×5 s interleaved; the log service with --fsync {fsync}{}",
                if fsync == "never" { " (the default)" } else { "" }
            ),
            baseline: format!(
                "a bare axum handler appending the same bytes to a file{}: {bare:.0} req/s",
                if fsync == "always" { ", fsync each" } else { "" }
            ),
            measured: format!("{ours:.0} req/s ({errors} errors)"),
            ratio: percent(ratio),
            target: target.into(),
            holds: needed.map(|needed| ratio >= needed && errors == 0),
        });
    }

    let line = serde_json::to_string(message).unwrap();
    let batch: String = std::iter::repeat_n(format!("{line}\n"), 1000).collect();
    let (_ours, ours_url) = log_service(&dir, "never").await;
    let (_bare, bare_url) = bare_log(&dir, false).await;
    let lines_per_second = |url: String| {
        let client = reqwest::Client::new();
        let batch = batch.clone();
        async move {
            let (requests, _) = closed_loop(4, Duration::from_secs(5), move |_, _| {
                let request = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(batch.clone())
                    .send();
                async move {
                    assert_eq!(request.await.unwrap().status(), 200);
                }
            })
            .await;
            requests * 1000.0
        }
    };
    // Interleaved like the single-message figure, so both meet the same writeback.
    let (mut ours, mut bare) = (0.0, 0.0);
    for _ in 0..2 {
        bare += lines_per_second(bare_url.clone()).await / 2.0;
        ours += lines_per_second(ours_url.clone()).await / 2.0;
    }
    let ratio = ours / bare;
    figures.push(Figure {
        name: "log ingest, batch form",
        how:
            "POST /log, application/x-ndjson, 1,000 lines a request, 4 clients, 2×5 s interleaved, --fsync never"
                .into(),
        baseline: format!(
            "the bare handler appending the same 1,000-line bodies: {bare:.0} lines/s"
        ),
        measured: format!("{ours:.0} lines/s"),
        ratio: percent(ratio),
        target: "≥ 50% of the bare handler (each line is parsed, stamped and framed)".into(),
        holds: Some(ratio >= 0.5),
    });
    figures
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
        // The Grade Book shows 50 a page and says how many there are.
        if html.contains("Students 1–50 of 1000") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the portal never listed the students"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same bytes as a static file, from a bare handler.
    let (_static, static_url, _) =
        bare_copy(&format!("{base}/students"), "text/html; charset=utf-8").await;
    let static_url = format!("{static_url}/students");
    let (mut times, mut static_times) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..2 {
        timed_gets(&client, &static_url, 100, &mut static_times).await;
        bytes = timed_gets(&client, &format!("{base}/students"), 100, &mut times).await;
    }
    times.sort();
    static_times.sort();
    let (p99, static_p99) = (percentile(&times, 0.99), percentile(&static_times, 0.99));
    let ratio = p99.as_secs_f64() / static_p99.as_secs_f64();
    let render = Figure {
        name: "portal, GET /students",
        how: format!(
            "1,000 students (the first 50 shown), server render ({bytes} bytes) through the grading service, 2×100 sequential requests interleaved"
        ),
        baseline: format!(
            "the same bytes as a static file from a bare handler: p50 {} p99 {}",
            ms(percentile(&static_times, 0.5)),
            ms(static_p99)
        ),
        measured: format!("p50 {} p99 {}", ms(percentile(&times, 0.5)), ms(p99)),
        ratio: format!("p99 {}", times_str(ratio)),
        target: "report (the page asks the grading service for all 1,000 students and renders 50)"
            .into(),
        holds: None,
    };
    let wasm_path = std::path::Path::new("target/site/pkg/distributed.wasm");
    let wasm = std::fs::read(wasm_path).unwrap_or_default();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&wasm).unwrap();
    let gzipped = encoder.finish().unwrap().len();
    let size = Figure {
        name: "portal, release WASM",
        how: "target/site/pkg/distributed.wasm, gzip -9, client-side navigation kept".into(),
        baseline: no_baseline("a size; the target is the budget"),
        measured: format!(
            "{:.0} KB raw, {:.0} KB gzipped",
            wasm.len() as f64 / 1000.0,
            gzipped as f64 / 1000.0
        ),
        ratio: "—".into(),
        target: "≤ 300 KB gzipped".into(),
        holds: Some(!wasm.is_empty() && gzipped <= 300_000),
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
        "| figure | how | baseline (same run) | measured | ratio | target | holds |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for figure in figures {
        let holds = match figure.holds {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "(report)",
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            figure.name,
            figure.how,
            figure.baseline,
            figure.measured,
            figure.ratio,
            figure.target,
            holds
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
            "# Benchmarks\n\nMeasured by `make bench` on {} with {cores} cores. Only ratios travel between \
             machines: each figure stands beside a baseline measured in the same run, the same way, and its \
             target is a ratio to that baseline where one exists (a figure without one says why). The \
             services ran as separate release processes on 127.0.0.1, logging as a user's do by default \
             (`RUST_LOG` unset); wrk's socket errors and timeouts count as errors.\n\n\
             {table}\n{summary}\n",
            &date[..10]
        );
        std::fs::write("BENCHMARKS.md", text).unwrap();
        println!("(written to BENCHMARKS.md)");
    }
}
