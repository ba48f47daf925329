//! The registry on etcd (`--etcd`), each figure beside the in-memory registry's measured
//! in the same run: lookups, registrations, change propagation, leader failover and
//! failure detection.
//! etcd is Debian's `etcd-server`, started through [`testkit::Etcd`] with a temp data dir.

use std::time::{Duration, Instant};

use testkit::{Child, Etcd};

use crate::{
    detection::failure_detection_times,
    figure::{Figure, ms, no_baseline, percent, percentile, times_str},
    procs::{self, wait_up, wrk},
    propagation::{PROPAGATION_TRIALS, propagation_times},
    registry::{UNCAPPED, register, registration_rate, registry},
};

/// A single-member etcd of the bench's own: it and its client URL.
async fn etcd(name: &str) -> (Etcd, String) {
    let etcd = procs::etcd(name, 1).await;
    let url = etcd.url().to_owned();
    (etcd, url)
}

pub async fn figures() -> Vec<Figure> {
    vec![
        lookups().await,
        registrations().await,
        propagation().await,
        failover().await,
        failover_with_a_member().await,
        failure_detection().await,
        etcd_growth().await,
    ]
}

/// Leader failover when an etcd member dies with the leading node: three nodes on a
/// three-member etcd, both killed at once (kill -9); each trial on a fresh cluster,
/// three killing one of etcd's followers, two killing etcd's own leader.
async fn failover_with_a_member() -> Figure {
    eprintln!("bench: leader failover with an etcd member killed too …");
    let lease = Duration::from_secs(3);
    let (mut follower_times, mut leader_times) = (Vec::new(), Vec::new());
    for trial in 0..5 {
        let kill_etcd_leader = trial >= 3;
        let mut etcd = procs::etcd(&format!("member-{trial}"), 3).await;
        let endpoints = etcd.endpoints();
        let mut nodes: Vec<(Child, String)> =
            (0..3).map(|_| registry(&["--etcd", &endpoints])).collect();
        for (_, url) in &nodes {
            until_ok(&format!("{url}/services")).await;
        }
        let leader = leading(&nodes).await;
        let etcd_leader = etcd.leader().await.expect("a healthy etcd has a leader");
        let victim = if kill_etcd_leader {
            etcd_leader
        } else {
            (etcd_leader + 1) % 3
        };
        let killed_at = Instant::now();
        nodes.remove(leader);
        etcd.member(victim).kill();
        let took = loop {
            let mut led = false;
            for (_, url) in &nodes {
                led |= leads(url).await;
            }
            if led {
                break killed_at.elapsed();
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(30),
                "no new leader"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if kill_etcd_leader {
            leader_times.push(took);
        } else {
            follower_times.push(took);
        }
    }
    let max = |times: &[Duration]| times.iter().copied().max().unwrap();
    Figure {
        name: "leader failover with an etcd member",
        how: "3 nodes on a 3-member etcd, --leader-lease 3s; kill -9 the leading node and an etcd member at once; until another leads; 3 trials killing an etcd follower, 2 killing etcd's leader".into(),
        baseline: no_baseline("the wait is the lease, by design"),
        measured: format!(
            "etcd follower killed: max {}; etcd's leader killed: max {}",
            ms(max(&follower_times)),
            ms(max(&leader_times))
        ),
        ratio: "—".into(),
        target: "an etcd follower killed: max ≤ lease + 1 s (4 s); etcd's leader: report (etcd renews every lease for its election timeout when it elects a new leader)".into(),
        holds: Some(max(&follower_times) <= lease + Duration::from_secs(1)),
    }
}

/// A gauge or counter of etcd's `/metrics`.
async fn etcd_metric(endpoint: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{endpoint}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("etcd shows no {name}"))
}

/// What etcd's history grows by in a day, from its own count of the bytes put, over a
/// window of `window`.
async fn etcd_bytes_a_day(endpoint: &str, window: Duration) -> f64 {
    const PUT: &str = "etcd_debugging_mvcc_total_put_size_in_bytes";
    let before = etcd_metric(endpoint, PUT).await;
    tokio::time::sleep(window).await;
    let after = etcd_metric(endpoint, PUT).await;
    (after - before) * 86_400.0 / window.as_secs_f64()
}

/// etcd's growth in steady state: 1,000 passing instances checked every second and
/// nothing else changing, beside the same with one instance changing status every second.
async fn etcd_growth() -> Figure {
    eprintln!("bench: etcd growth at 1,000 passing instances …");
    const N: usize = 1_000;
    let (_etcd, endpoint) = etcd("growth").await;
    let (_stub, ports) = crate::procs::stub(10, N);
    // An instance that passes in even seconds and fails in odd ones: with one failure
    // needed, it changes status about every round.
    let flip = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flip_url = format!("http://{}", flip.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/heartbeat",
        axum::routing::get(|| async {
            let second = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            if second.is_multiple_of(2) {
                axum::http::StatusCode::OK
            } else {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }
        }),
    );
    let flipper = tokio::spawn(async move { axum::serve(flip, app).await });
    let (_node, node) = registry(&["--etcd", &endpoint, "--heartbeat-failures", "1"]);
    until_ok(&format!("{node}/services")).await;
    let client = reqwest::Client::new();
    for i in 0..N {
        let base = format!("http://127.0.0.1:{}", ports[i % ports.len()]);
        register(
            &client,
            &node,
            serde_json::json!({
                "ServiceName": format!("Steady{}", i % 10),
                "ServiceURL": format!("{base}/instance/{i}"),
                "HeartbeatURL": format!("{base}/hb/{i}"),
            }),
        )
        .await;
    }
    // Every instance checked at least once.
    let started = Instant::now();
    loop {
        let listed: Vec<serde_json::Value> = client
            .get(format!("{node}/services"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let checked = listed
            .iter()
            .filter(|i| i["LastCheckAt"].is_string())
            .count();
        if checked >= N {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{checked} of {N} checked"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let window = Duration::from_secs(20);
    let steady = etcd_bytes_a_day(&endpoint, window).await;
    register(
        &client,
        &node,
        serde_json::json!({
            "ServiceName": "Flipping",
            "ServiceURL": flip_url,
            "HeartbeatURL": format!("{flip_url}/heartbeat"),
        }),
    )
    .await;
    let changing = etcd_bytes_a_day(&endpoint, window).await;
    flipper.abort();
    let mib = |bytes: f64| format!("{:.1} MiB/day", bytes / 1024.0 / 1024.0);
    Figure {
        name: "etcd growth, steady state",
        how: format!(
            "{N} passing instances checked every 1 s, nothing changing; etcd's own count of bytes put ({}s window), a day's worth",
            window.as_secs()
        ),
        baseline: format!("{} with one status change a second", mib(changing)),
        measured: mib(steady),
        ratio: "—".into(),
        target: "flat within noise: under 1 MiB/day".into(),
        holds: Some(steady < 1024.0 * 1024.0 && changing > steady),
    }
}

/// Lookups/s of an etcd-backed node beside the in-memory registry, 8 instances each,
/// wrk -t2 -c16, interleaved twice.
async fn lookups() -> Figure {
    eprintln!("bench: lookups on etcd …");
    let (_etcd, endpoint) = etcd("lookups").await;
    let (_memory, memory) = registry(&[]);
    let (_node, node) = registry(&["--etcd", &endpoint]);
    let client = reqwest::Client::new();
    for url in [&memory, &node] {
        wait_up(&format!("{url}/services")).await;
        until_ok(&format!("{url}/services")).await;
        for i in 0..8 {
            register(
                &client,
                url,
                serde_json::json!({
                    "ServiceName": "LookupService",
                    "ServiceURL": format!("http://127.0.0.1:9/instance/{i}"),
                }),
            )
            .await;
        }
    }
    let (mut memory_rps, mut node_rps) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        memory_rps.push(
            wrk(&[
                "-t2",
                "-c16",
                "-d5s",
                &format!("{memory}/services/LookupService"),
            ])
            .0,
        );
        node_rps.push(
            wrk(&[
                "-t2",
                "-c16",
                "-d5s",
                &format!("{node}/services/LookupService"),
            ])
            .0,
        );
    }
    let memory = memory_rps.iter().sum::<f64>() / 2.0;
    let node = node_rps.iter().sum::<f64>() / 2.0;
    let ratio = node / memory;
    Figure {
        name: "lookups/s on etcd",
        how: "GET /services/{name}, 8 instances, wrk -t2 -c16, 2×5 s interleaved with the in-memory registry".into(),
        baseline: format!("the in-memory registry: {memory:.0}/s"),
        measured: format!("{node:.0}/s"),
        ratio: percent(ratio),
        target: "≥ 90% of the in-memory registry".into(),
        holds: Some(ratio >= 0.9),
    }
}

/// Waits until `url` answers 200 (an etcd node answers 503 until it has loaded).
async fn until_ok(url: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|answer| answer.status().is_success())
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{url} never answered 200"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registrations/s through etcd beside the in-memory registry, 16 clients, 5 s each.
async fn registrations() -> Figure {
    eprintln!("bench: registrations on etcd …");
    let (_etcd, endpoint) = etcd("registrations").await;
    let (_memory, memory) = registry(&UNCAPPED);
    let (_node, node) = registry(&["--etcd", &endpoint, UNCAPPED[0], UNCAPPED[1]]);
    until_ok(&format!("{memory}/services")).await;
    until_ok(&format!("{node}/services")).await;
    let (in_memory, _) = registration_rate(&memory).await;
    let (on_etcd, _) = registration_rate(&node).await;
    Figure {
        name: "registrations/s on etcd",
        how: "POST /services, distinct URLs, 16 clients, 5 s, beside the in-memory registry".into(),
        baseline: format!("the in-memory registry: {in_memory:.0}/s"),
        measured: format!("{on_etcd:.0}/s"),
        ratio: percent(on_etcd / in_memory),
        target: "report (a registration on etcd is a transaction, made durable by a quorum)".into(),
        holds: None,
    }
}

/// Change propagation to 100 dependents through etcd beside the in-memory registry.
async fn propagation() -> Figure {
    eprintln!("bench: change propagation on etcd …");
    let (_memory, memory) = registry(&[]);
    let (memory_all, _) = propagation_times(&memory).await;
    let (_etcd, endpoint) = etcd("propagation").await;
    let (_node, node) = registry(&["--etcd", &endpoint]);
    until_ok(&format!("{node}/services")).await;
    // Patches come from the leader: wait until this (only) node leads.
    until_leader(&node).await;
    let (node_all, _) = propagation_times(&node).await;
    let (memory_p99, node_p99) = (percentile(&memory_all, 0.99), percentile(&node_all, 0.99));
    Figure {
        name: "change propagation on etcd",
        how: format!(
            "a provider registers; until 100 dependents hold the Added patch; {} trials each, in memory then on etcd",
            PROPAGATION_TRIALS
        ),
        baseline: format!(
            "the in-memory registry: all 100: p50 {} p99 {}",
            ms(percentile(&memory_all, 0.5)),
            ms(memory_p99)
        ),
        measured: format!(
            "all 100: p50 {} p99 {}",
            ms(percentile(&node_all, 0.5)),
            ms(node_p99)
        ),
        ratio: format!(
            "p99 {}",
            times_str(node_p99.as_secs_f64() / memory_p99.as_secs_f64())
        ),
        target: "p99 ≤ 3× the in-memory p99".into(),
        holds: Some(node_p99 <= memory_p99 * 3),
    }
}

/// The index of the node among `nodes` that leads, once one does.
async fn leading(nodes: &[(Child, String)]) -> usize {
    loop {
        for (index, (_, url)) in nodes.iter().enumerate() {
            if leads(url).await {
                return index;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn leads(url: &str) -> bool {
    let Ok(answer) = reqwest::get(format!("{url}/metrics")).await else {
        return false;
    };
    answer
        .text()
        .await
        .is_ok_and(|text| text.lines().any(|line| line == "registry_leader 1"))
}

async fn until_leader(url: &str) {
    let started = Instant::now();
    while !leads(url).await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{url} never led"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Leader failover: three nodes; the leader killed (kill -9); time until another leads.
/// Five trials, the killed node started again after each.
async fn failover() -> Figure {
    eprintln!("bench: leader failover on etcd …");
    let (_etcd, endpoint) = etcd("failover").await;
    let mut nodes: Vec<(Child, String)> =
        (0..3).map(|_| registry(&["--etcd", &endpoint])).collect();
    for (_, url) in &nodes {
        until_ok(&format!("{url}/services")).await;
    }
    let lease = Duration::from_secs(3);
    let mut times = Vec::new();
    for _ in 0..5 {
        let leader = leading(&nodes).await;
        let killed_at = Instant::now();
        nodes.remove(leader);
        let took = loop {
            let mut led = false;
            for (_, url) in &nodes {
                led |= leads(url).await;
            }
            if led {
                break killed_at.elapsed();
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(30),
                "no new leader"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        times.push(took);
        let (proc, url) = registry(&["--etcd", &endpoint]);
        until_ok(&format!("{url}/services")).await;
        nodes.push((proc, url));
    }
    times.sort();
    let max = *times.last().unwrap();
    Figure {
        name: "leader failover on etcd",
        how: "3 nodes, --leader-lease 3s; kill -9 the leader; until another leads; 5 trials".into(),
        baseline: no_baseline("the wait is the lease, by design"),
        measured: format!(
            "min {} median {} max {}",
            ms(times[0]),
            ms(percentile(&times, 0.5)),
            ms(max)
        ),
        ratio: "—".into(),
        target: "max ≤ lease + 1 s (4 s)".into(),
        holds: Some(max <= lease + Duration::from_secs(1)),
    }
}

/// Failure detection on a three-node cluster: the dependent registered through one node,
/// the failing instance through another; 10 trials with the leader up, then 3 where the
/// leader is killed (kill -9) right before the instance.
async fn failure_detection() -> Figure {
    eprintln!("bench: failure detection on etcd (about a minute) …");
    let (_etcd, endpoint) = etcd("detection").await;
    let nodes: std::sync::Arc<std::sync::Mutex<Vec<(Child, String)>>> = std::sync::Arc::new(
        std::sync::Mutex::new((0..3).map(|_| registry(&["--etcd", &endpoint])).collect()),
    );
    let urls: Vec<String> = nodes
        .lock()
        .unwrap()
        .iter()
        .map(|(_, url)| url.clone())
        .collect();
    for url in &urls {
        until_ok(&format!("{url}/services")).await;
    }
    let steady = failure_detection_times(&urls[0], &urls[1], 10, |_| async {}).await;
    // The leader killed right before the instance, three times. The dependent and the
    // instances register through a fourth node that is never killed: started after the
    // first three, it is younger in the election than each of them, so one of them leads
    // (and is killed) each time; their replacements are younger still.
    let (_survivor_proc, survivor) = registry(&["--etcd", &endpoint]);
    until_ok(&format!("{survivor}/services")).await;
    let after_leader = failure_detection_times(&survivor, &survivor, 3, |_| {
        let nodes = nodes.clone();
        let endpoint = endpoint.clone();
        async move {
            let listed: Vec<String> = nodes
                .lock()
                .unwrap()
                .iter()
                .map(|(_, url)| url.clone())
                .collect();
            let mut leader = None;
            for (index, url) in listed.iter().enumerate() {
                if leads(url).await {
                    leader = Some(index);
                }
            }
            if let Some(index) = leader {
                let replacement = registry(&["--etcd", &endpoint]);
                let mut nodes = nodes.lock().unwrap();
                nodes.remove(index);
                nodes.push(replacement);
            }
        }
    })
    .await;
    let (steady_max, after_max) = (*steady.last().unwrap(), *after_leader.last().unwrap());
    let lease = Duration::from_secs(3);
    Figure {
        name: "failure detection on etcd",
        how: "close an instance's listener; until a dependent holds Removed; 10 trials, then 3 with the leader killed just before".into(),
        baseline: no_baseline("set by the heartbeat interval, the failures needed and the lease"),
        measured: format!(
            "median {} max {}; after the leader's death: max {}",
            ms(percentile(&steady, 0.5)),
            ms(steady_max),
            ms(after_max)
        ),
        ratio: "—".into(),
        target: "max ≤ 3 s; after the leader's death ≤ 3 s + the lease".into(),
        holds: Some(steady_max <= Duration::from_secs(3) && after_max <= Duration::from_secs(3) + lease),
    }
}
