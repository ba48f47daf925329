//! The registry's own figures (`lookups`, `registrations`), and starting a registry and
//! registering with it, for every registry figure.

use std::time::Duration;

use crate::{
    figure::{Figure, percent},
    load::{bare_copy, closed_loop},
    procs::{self, ANY_PORT, wait_up, wrk},
};
use testkit::Child;

/// The registry's flag that lifts its cap on instances (`--max-instances`, default
/// 10,000), for the figures that register more than that: a registration rate for 5 s
/// registers tens of thousands.
pub(crate) const UNCAPPED: [&str; 2] = ["--max-instances", "100000000"];

/// A `registryservice` with `extra` flags, on a port it picks: the process and its base
/// URL (it may not answer yet: one on etcd loads first). It keeps its history in a folder
/// of its own, as a user's does, unless `extra` says where.
pub(crate) fn registry(extra: &[&str]) -> (Child, String) {
    let mut args: Vec<String> = ANY_PORT
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect();
    if !extra.contains(&"--history-dir") {
        args.push("--history-dir".into());
        args.push(history_dir());
    }
    let process = procs::start("registryservice", &args);
    let url = process.url();
    (process, url)
}

/// A fresh folder for one registry's history, deleted at the end of the run.
pub(crate) fn history_dir() -> String {
    crate::procs::temp_dir("registry-history")
        .display()
        .to_string()
}

pub(crate) async fn register(client: &reqwest::Client, registry: &str, body: serde_json::Value) {
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

/// Registry lookups/s (GET /services/{name}, 8 instances, wrk -t2 -c16) beside a bare
/// axum handler returning the same bytes, interleaved twice.
pub(crate) async fn lookups() -> Figure {
    eprintln!("bench: registry lookups …");
    let (_registry, url) = registry(&[]);
    wait_up(&format!("{url}/services")).await;
    let (_stub, stub_ports) = procs::stub(1, 8);
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

/// Registrations/s with the history on (as a user runs it) beside the same registry with
/// `--history-dir off`: distinct URLs, no dependents, 16 concurrent clients, in
/// [`ROUNDS`](crate::log_ingest::ROUNDS) pairs of 5 s runs, each pair back to back in
/// alternating order, and the median of the pairs' ratios (as the log ingest figures:
/// two pairs' means ranged from 73% to 99% for one build on this machine).
pub(crate) async fn registrations() -> Figure {
    eprintln!("bench: registrations …");
    let (_on, on) = registry(&UNCAPPED);
    let (_off, off) = registry(&[UNCAPPED[0], UNCAPPED[1], "--history-dir", "off"]);
    wait_up(&format!("{on}/services")).await;
    wait_up(&format!("{off}/services")).await;
    let rounds = crate::log_ingest::ROUNDS;
    let (mut with, mut without, mut total) = (0.0, 0.0, 0);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let ((rate_off, n), (rate_on, m)) = if round % 2 == 0 {
            let off = registration_rate(&off).await;
            (off, registration_rate(&on).await)
        } else {
            let on = registration_rate(&on).await;
            (registration_rate(&off).await, on)
        };
        without += rate_off / rounds as f64;
        with += rate_on / rounds as f64;
        total += n + m;
        ratios.push(rate_on / rate_off);
    }
    // The pairs' ratios vary more than the median's distance to the target (from 69% to
    // 88% on the same code, from one hour to the next, as the machine's speed moved): the
    // table shows their range.
    let (lowest, highest) = ratios.iter().fold((f64::MAX, f64::MIN), |(low, high), r| {
        (low.min(*r), high.max(*r))
    });
    let ratio = crate::log_ingest::median(ratios);
    Figure {
        name: "registrations/s",
        how: format!(
            "POST /services, distinct URLs, no dependents, 16 clients, {rounds} pairs of 5 s \
             runs (the median pair's ratio), each recorded in the history"
        ),
        baseline: format!("the same registry with --history-dir off: {without:.0}/s"),
        measured: format!("{with:.0}/s ({total} registered in all)"),
        ratio: format!(
            "{} (pairs {}–{})",
            percent(ratio),
            percent(lowest),
            percent(highest)
        ),
        target: "≥ 90% of the same without the history".into(),
        holds: Some(ratio >= 0.9),
    }
}

/// Registrations through the registry at `url`, distinct URLs, 16 clients for 5 s: the
/// rate per second and how many there were.
pub(crate) async fn registration_rate(url: &str) -> (f64, u64) {
    // Each run its own URLs: a registry measured twice registers new instances again.
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let client = reqwest::Client::new();
    let url = url.to_owned();
    closed_loop(16, Duration::from_secs(5), move |task, done| {
        let body = serde_json::json!({
            "ServiceName": "Registered",
            "ServiceURL": format!("http://127.0.0.1:9/{run}/{task}/{done}"),
        });
        let request = client.post(format!("{url}/services")).json(&body).send();
        async move {
            assert_eq!(request.await.unwrap().status(), 200);
        }
    })
    .await
}
