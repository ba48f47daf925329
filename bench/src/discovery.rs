//! The registry read as other tools read it (`discovery`): DNS questions answered per
//! second beside a bare responder from the same crate, a Consul blocking query's wake-up
//! beside the live stream's delivery of the same change, and Consul's
//! `/v1/health/service/{name}` beside our own lookup.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;

use crate::{
    figure::{Figure, ms, percent, percentile, times_str},
    procs::{self, wait_up, wrk},
    registry::{register, registry},
};

/// Instances of the service every figure asks for, as the lookup figure has.
const INSTANCES: u8 = 8;
/// Clients asking at once, each waiting for its answer before asking again.
const DNS_CLIENTS: usize = 16;
/// Trials of the wake-up figure, after one uncounted: its p99 is the third slowest.
const WAKE_TRIALS: usize = 200;

pub(crate) async fn figures() -> Vec<Figure> {
    vec![dns().await, blocking_wake_up().await, consul_health().await]
}

/// A registry answering DNS on a reserved port (UDP and TCP both want it) with
/// `LookupService`'s instances registered: the process, its base URL and its DNS address.
async fn registry_with_instances(extra: &[&str]) -> (testkit::Child, String, SocketAddr) {
    let dns: SocketAddr = format!("127.0.0.1:{}", testkit::ports::reserve())
        .parse()
        .expect("an address");
    let dns_arg = dns.to_string();
    let mut args = vec!["--dns-addr", dns_arg.as_str()];
    args.extend_from_slice(extra);
    let (process, url) = registry(&args);
    wait_up(&format!("{url}/services")).await;
    let client = reqwest::Client::new();
    for i in 1..=INSTANCES {
        register(
            &client,
            &url,
            serde_json::json!({
                "ServiceName": "LookupService",
                "ServiceURL": format!("http://127.0.0.{i}:8{i:03}"),
            }),
        )
        .await;
    }
    (process, url, dns)
}

/// `DNS_CLIENTS` UDP clients asking `server` for `lookupservice.service.consul A` for
/// `length`: answers per second, and the errors (no answer within a second, or not
/// `INSTANCES` records).
async fn dns_load(server: SocketAddr, length: Duration) -> (f64, u64) {
    use hickory_server::proto::{
        op::{Message, MessageType, OpCode, Query},
        rr::{Name, RecordType},
    };
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = (0..DNS_CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                socket.connect(server).await.unwrap();
                let mut question =
                    Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
                question.add_query(Query::query(
                    Name::from_ascii("lookupservice.service.consul.").unwrap(),
                    RecordType::A,
                ));
                let question = question.to_vec().unwrap();
                let mut answer = vec![0u8; 4096];
                let (mut done, mut errors) = (0u64, 0u64);
                while Instant::now() < deadline {
                    socket.send(&question).await.unwrap();
                    match tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut answer))
                        .await
                    {
                        // The header: the answer count in bytes 6 and 7, the code in byte 3.
                        Ok(Ok(len))
                            if len >= 12
                                && answer[3] & 0x0f == 0
                                && u16::from_be_bytes([answer[6], answer[7]])
                                    == u16::from(INSTANCES) =>
                        {
                            done += 1
                        }
                        _ => errors += 1,
                    }
                }
                (done, errors)
            })
        })
        .collect();
    let (mut total, mut errors) = (0, 0);
    for task in tasks {
        let (done, failed) = task.await.unwrap();
        total += done;
        errors += failed;
    }
    (total as f64 / started.elapsed().as_secs_f64(), errors)
}

/// DNS questions answered per second by the registry beside a bare hickory responder
/// answering the same records, interleaved twice.
async fn dns() -> Figure {
    eprintln!("bench: DNS queries …");
    let (_registry, _url, ours) = registry_with_instances(&[]).await;
    let responder = procs::start(
        "bench",
        &["bare-dns".into(), "--answers".into(), INSTANCES.to_string()],
    );
    // The address it answers DNS on, said as the others say where they listen.
    let bare = responder.addr();
    let length = Duration::from_secs(5);
    let (mut bare_qps, mut our_qps, mut errors) = (0.0, 0.0, 0);
    for _ in 0..2 {
        let (qps, failed) = dns_load(bare, length).await;
        bare_qps += qps / 2.0;
        errors += failed;
        let (qps, failed) = dns_load(ours, length).await;
        our_qps += qps / 2.0;
        errors += failed;
    }
    let ratio = our_qps / bare_qps;
    Figure {
        name: "DNS queries/s",
        how: format!(
            "`<service>.service.consul A`, {INSTANCES} instances, over UDP, {DNS_CLIENTS} clients each waiting for its answer, 2×5 s interleaved"
        ),
        baseline: format!(
            "a bare hickory-server responder answering the same {INSTANCES} records: {bare_qps:.0}/s"
        ),
        measured: format!("{our_qps:.0}/s ({errors} errors)"),
        ratio: percent(ratio),
        target: "≥ 70% of the bare responder, no errors".into(),
        holds: Some(ratio >= 0.70 && errors == 0),
    }
}

/// When each `/wake/{n}` URL first showed in the live stream.
type Seen = Arc<Mutex<HashMap<u64, Instant>>>;

/// Follows the registry's live stream, noting when each `/wake/{n}` URL first shows.
async fn follow_stream(url: &str, seen: Seen) {
    let response = reqwest::Client::new()
        .get(format!("{url}/services"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    tokio::spawn(async move {
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            let now = Instant::now();
            text.push_str(&String::from_utf8_lossy(&chunk));
            // Only whole events: up to the last blank line.
            let Some(end) = text.rfind("\n\n") else {
                continue;
            };
            let events: String = text.drain(..end + 2).collect();
            let mut seen = seen.lock().unwrap();
            for part in events.split("/wake/").skip(1) {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(n) = digits.parse() {
                    seen.entry(n).or_insert(now);
                }
            }
        }
    });
}

/// A Consul blocking query's wake-up after a registration beside the live stream's
/// delivery of the same registration: both asked before it, both timed from it.
async fn blocking_wake_up() -> Figure {
    eprintln!("bench: blocking query wake-up …");
    let (_registry, url) = registry(&[]);
    wait_up(&format!("{url}/services")).await;
    let client = reqwest::Client::new();
    let seen: Seen = Arc::default();
    follow_stream(&url, seen.clone()).await;
    let (mut woken, mut streamed) = (Vec::new(), Vec::new());
    for trial in 0..=WAKE_TRIALS as u64 {
        // A service of its own each trial, so every answer holds one instance.
        let health = format!("{url}/v1/health/service/Wake{trial}");
        let index = client.get(&health).send().await.unwrap().headers()["x-consul-index"]
            .to_str()
            .unwrap()
            .to_owned();
        let held = client
            .get(format!("{health}?index={index}&wait=30s"))
            .send();
        let held = tokio::spawn(async move {
            let answer = held.await.unwrap();
            let at = Instant::now();
            assert_eq!(answer.status(), 200);
            at
        });
        // Until the registry holds the question: one that arrived after the change
        // would be answered at once, and look faster than it is.
        let metrics = format!("{url}/metrics");
        loop {
            let text = client
                .get(&metrics)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if text.contains("registry_consul_queries_held 1\n") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let registered = Instant::now();
        register(
            &client,
            &url,
            serde_json::json!({
                "ServiceName": format!("Wake{trial}"),
                "ServiceURL": format!("http://127.0.0.1:9/wake/{trial}"),
            }),
        )
        .await;
        let woke = held.await.unwrap();
        let delivered = loop {
            if let Some(at) = seen.lock().unwrap().get(&trial) {
                break *at;
            }
            assert!(
                registered.elapsed() < Duration::from_secs(10),
                "the live stream never showed trial {trial}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if trial > 0 {
            woken.push(woke.saturating_duration_since(registered));
            streamed.push(delivered.saturating_duration_since(registered));
        }
    }
    woken.sort();
    streamed.sort();
    let (woken_p99, streamed_p99) = (percentile(&woken, 0.99), percentile(&streamed, 0.99));
    let ratio = woken_p99.as_secs_f64() / streamed_p99.as_secs_f64();
    Figure {
        name: "blocking query wake-up",
        how: format!(
            "`/v1/health/service/{{name}}?index=&wait=30s` held, then that service registered; p99 of {WAKE_TRIALS}"
        ),
        baseline: format!(
            "the live stream (`GET /services`, SSE) delivering the same registration: p99 {}",
            ms(streamed_p99)
        ),
        measured: format!(
            "p99 {} (p50 {})",
            ms(woken_p99),
            ms(percentile(&woken, 0.5))
        ),
        ratio: times_str(ratio),
        target: "≤ 2× the live stream".into(),
        holds: Some(ratio <= 2.0),
    }
}

/// Consul's health call per second beside our own lookup of the same service, wrk
/// interleaved twice.
async fn consul_health() -> Figure {
    eprintln!("bench: Consul health calls …");
    let (_registry, url, _dns) = registry_with_instances(&[]).await;
    let lookup = format!("{url}/services/LookupService");
    let health = format!("{url}/v1/health/service/LookupService?passing");
    let body = reqwest::get(&health).await.unwrap().bytes().await.unwrap();
    let (mut lookup_rps, mut health_rps, mut errors) = (0.0, 0.0, 0);
    for _ in 0..2 {
        let (rps, e) = wrk(&["-t2", "-c16", "-d5s", &lookup]);
        lookup_rps += rps / 2.0;
        errors += e;
        let (rps, e) = wrk(&["-t2", "-c16", "-d5s", &health]);
        health_rps += rps / 2.0;
        errors += e;
    }
    let ratio = health_rps / lookup_rps;
    Figure {
        name: "Consul health calls/s",
        how: format!(
            "`GET /v1/health/service/{{name}}?passing`, {INSTANCES} instances ({} bytes), wrk -t2 -c16, 2×5 s interleaved",
            body.len()
        ),
        baseline: format!(
            "our own lookup, `GET /services/{{name}}`, of the same service: {lookup_rps:.0}/s"
        ),
        measured: format!("{health_rps:.0}/s ({errors} errors)"),
        ratio: percent(ratio),
        target: "≥ 80% of our lookup, no errors".into(),
        holds: Some(ratio >= 0.80 && errors == 0),
    }
}
