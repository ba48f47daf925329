//! HTTP-level tests of the registry service: the original protocol, discovery and change
//! patches in order, heartbeats against real listeners, TTLs, queries, live events with
//! resumption, bad input and outbound safety.

mod common;

use std::time::{Duration, Instant};

use axum::{Router, http::StatusCode, response::Redirect, routing::get};
use common::*;
use server::registry::RegistryConfig;
use tokio::net::TcpListener;
use wire::registry::{InstanceInfo, RegistryEvent, Status};

/// How long a test waits for what must come: long enough that only a real failure
/// reaches it on a loaded machine (the time bounds themselves are `make bench`'s).
const SOON: Duration = common::PATIENCE;

async fn list(client: &reqwest::Client, registry: &TestRegistry) -> Vec<InstanceInfo> {
    client
        .get(registry.services())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn status_of(client: &reqwest::Client, registry: &TestRegistry, url: &str) -> Option<Status> {
    list(client, registry)
        .await
        .into_iter()
        .find(|i| i.registration.service_url == url)
        .map(|i| i.status)
}

#[tokio::test]
async fn the_seed_registration_answers_exactly_200_with_an_empty_body() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    // The seed README's curl: lower-case keys, no update or heartbeat URL, form content type.
    let response = client
        .post(registry.services())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{ "serviceName": "Test Service", "serviceURL": "http://localhost:5000" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "");

    let instances = list(&client, &registry).await;
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].registration.service_name, "Test Service");
    assert_eq!(
        instances[0].registration.service_url,
        "http://localhost:5000"
    );
    assert_eq!(instances[0].status, Status::Passing);
}

#[tokio::test]
async fn deregistration_and_methods_follow_the_original() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "A", "ServiceURL": "http://127.0.0.1:9"}),
    )
    .await;

    let response = client
        .delete(registry.services())
        .body("http://127.0.0.1:9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(list(&client, &registry).await.is_empty());

    let response = client
        .delete(registry.services())
        .body("http://127.0.0.1:9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let reason: serde_json::Value = response.json().await.unwrap();
    assert!(
        reason["error"]
            .as_str()
            .unwrap()
            .contains("no instance is registered")
    );

    let response = client
        .patch(registry.services())
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET,HEAD,POST,DELETE,PUT");
    let response = client
        .post(format!("{}/A", registry.services()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_reason() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let cases: Vec<(reqwest::Method, Vec<u8>, u16, &str)> = vec![
        (reqwest::Method::POST, b"".to_vec(), 400, "empty body"),
        (
            reqwest::Method::POST,
            b"{".to_vec(),
            400,
            "invalid Registration JSON",
        ),
        (
            reqwest::Method::POST,
            b"[]".to_vec(),
            400,
            "expected a JSON object",
        ),
        (
            reqwest::Method::POST,
            br#"{"ServiceName":5,"ServiceURL":"http://a"}"#.to_vec(),
            400,
            "ServiceName: invalid type",
        ),
        (
            reqwest::Method::POST,
            br#"{"ServiceName":"A","ServiceURL":"/relative"}"#.to_vec(),
            400,
            "absolute http(s) URL",
        ),
        (
            reqwest::Method::POST,
            br#"{"ServiceName":"A","ServiceURL":"file:///etc/passwd"}"#.to_vec(),
            400,
            "absolute http(s) URL",
        ),
        (
            reqwest::Method::POST,
            br#"{"ServiceName":"","ServiceURL":"http://a"}"#.to_vec(),
            400,
            "must not be empty",
        ),
        (
            reqwest::Method::POST,
            format!(
                r#"{{"ServiceName":"{}","ServiceURL":"http://a"}}"#,
                "n".repeat(300)
            )
            .into_bytes(),
            400,
            "at most",
        ),
        (
            reqwest::Method::POST,
            format!(
                r#"{{"ServiceName":{}1{}}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            400,
            "recursion limit",
        ),
        (
            reqwest::Method::POST,
            vec![b' '; 65 * 1024],
            413,
            "too large",
        ),
        (
            reqwest::Method::POST,
            br#"{"ServiceName":"A","ServiceURL":"http://a/\nINFO registered: forged"}"#.to_vec(),
            400,
            "control characters",
        ),
        (
            reqwest::Method::DELETE,
            b"http://a/\x1b[2J".to_vec(),
            400,
            "control characters",
        ),
        (
            reqwest::Method::POST,
            br#"{"ServiceName":"Registry","ServiceURL":"http://a"}"#.to_vec(),
            403,
            "only the registry's own nodes",
        ),
        (reqwest::Method::DELETE, b"".to_vec(), 400, "empty body"),
        (reqwest::Method::DELETE, vec![0xff, 0xfe], 400, "UTF-8"),
        (
            reqwest::Method::PUT,
            b"http://nobody".to_vec(),
            404,
            "no instance",
        ),
    ];
    for (method, body, status, reason) in cases {
        let response = client
            .request(method.clone(), registry.services())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {reason}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains(reason),
            "{method} expected {reason:?} in {text}"
        );
    }
    assert!(
        list(&client, &registry).await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn a_dependent_gets_its_initial_patch_then_every_change_in_order() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let log1 = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &log1.registration("LogService", &[]),
    )
    .await;

    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("GradingService", &["LogService"]),
    )
    .await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &log1.url)])
    );

    let log2 = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &log2.registration("LogService", &[]),
    )
    .await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &log2.url)])
    );

    let response = client
        .delete(registry.services())
        .body(log1.url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        dependent.next_patch(SOON).await,
        removed(vec![entry("LogService", &log1.url)])
    );

    // A service it does not require changes nothing for it.
    let other = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &other.registration("Other", &[]),
    )
    .await;
    dependent.no_patch(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_initial_patch_is_sent_even_when_empty() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("Portal", &["GradingService"]),
    )
    .await;
    assert_eq!(dependent.next_patch(SOON).await, added(vec![]));
}

#[tokio::test]
async fn registering_again_replaces_the_entry_and_tells_dependents_only_what_changed() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("Portal", &["LogService", "Renamed"]),
    )
    .await;
    assert_eq!(dependent.next_patch(SOON).await, added(vec![]));

    let log = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &log.registration("LogService", &[]),
    )
    .await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &log.url)])
    );

    register(
        &client,
        &registry.services(),
        &log.registration("LogService", &[]),
    )
    .await;
    dependent.no_patch(Duration::from_millis(300)).await;
    assert_eq!(
        list(&client, &registry).await.len(),
        2,
        "no duplicate entry"
    );

    // Same URL under another name: it leaves one service and joins the other.
    register(
        &client,
        &registry.services(),
        &log.registration("Renamed", &[]),
    )
    .await;
    let patch = dependent.next_patch(SOON).await;
    let mut seen = patch.clone();
    if seen.added.is_empty() {
        let next = dependent.next_patch(SOON).await;
        seen.added = next.added;
    }
    assert_eq!(seen.removed, vec![entry("LogService", &log.url)]);
    assert_eq!(seen.added, vec![entry("Renamed", &log.url)]);
    assert_eq!(list(&client, &registry).await.len(), 2);
}

#[tokio::test]
async fn a_dependent_that_registers_again_gets_a_full_patch() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let log = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &log.registration("LogService", &[]),
    )
    .await;
    let mut dependent = FakeService::start().await;
    let registration = dependent.registration("GradingService", &["LogService"]);
    register(&client, &registry.services(), &registration).await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &log.url)])
    );
    // A restarted instance has lost its cache: it is sent everything again.
    register(&client, &registry.services(), &registration).await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &log.url)])
    );
}

#[tokio::test]
async fn a_closed_listener_is_removed_and_comes_back_when_it_reopens() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let mut provider = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &provider.registration("LogService", &[]),
    )
    .await;
    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("GradingService", &["LogService"]),
    )
    .await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &provider.url)])
    );

    provider.close().await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        removed(vec![entry("LogService", &provider.url)])
    );
    assert_eq!(
        status_of(&client, &registry, &provider.url).await,
        Some(Status::Critical)
    );
    let lookup: Vec<InstanceInfo> = client
        .get(format!("{}/LogService", registry.services()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(lookup.is_empty(), "critical instances leave discovery");

    provider.reopen().await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &provider.url)])
    );
    assert_eq!(
        status_of(&client, &registry, &provider.url).await,
        Some(Status::Passing)
    );
}

/// The 3 s bound itself is measured by `make bench` ("failure detection"); here, that the
/// default settings do remove a killed instance, well within a generous limit.
#[tokio::test]
async fn with_the_default_settings_a_killed_instance_is_removed() {
    let registry = TestRegistry::start(RegistryConfig::default()).await;
    let client = client();
    let mut provider = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &provider.registration("LogService", &[]),
    )
    .await;
    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("GradingService", &["LogService"]),
    )
    .await;
    dependent.next_patch(SOON).await;
    // Let a check pass first, so the worst case (killed right after a check) is covered.
    common::until("a heartbeat check to pass", || async {
        list(&client, &registry)
            .await
            .iter()
            .any(|i| i.registration.service_url == provider.url && !i.recent_checks.is_empty())
    })
    .await;

    provider.close().await;
    let closed = Instant::now();
    let patch = dependent.next_patch(SOON).await;
    assert_eq!(patch, removed(vec![entry("LogService", &provider.url)]));
    assert!(
        closed.elapsed() < Duration::from_secs(15),
        "took {:?}",
        closed.elapsed()
    );
}

#[tokio::test]
async fn an_unhealthy_answer_counts_as_a_failure_and_critical_instances_are_dropped_later() {
    let config = RegistryConfig {
        deregister_after: Duration::from_millis(500),
        ..fast_config()
    };
    let registry = TestRegistry::start(config).await;
    let client = client();
    let provider = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &provider.registration("LogService", &[]),
    )
    .await;
    let mut events = SseReader::open(&client, &registry.services(), None).await;
    assert_eq!(events.next(SOON).await.name, "snapshot");

    provider
        .healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let event = events.next_change(SOON).await;
    assert_eq!(event.name, "status_changed");
    assert!(
        event.data.contains(r#""Status":"critical""#),
        "{}",
        event.data
    );

    let event = events.next_change(SOON).await;
    assert_eq!(event.name, "deregistered");
    assert!(
        event.data.contains(r#""Reason":"expired""#),
        "{}",
        event.data
    );
    assert!(list(&client, &registry).await.is_empty());
}

#[tokio::test]
async fn ttl_instances_renew_expire_and_recover() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let url = "http://127.0.0.1:9/ttl";
    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "Batch", "ServiceURL": url, "TTL": "2s"}),
    )
    .await;
    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("Watcher", &["Batch"]),
    )
    .await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("Batch", url)])
    );

    // Renewing every 400 ms keeps it passing past its TTL (2 s: a wide margin for a
    // loaded machine).
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            client
                .put(registry.services())
                .body(url)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        status_of(&client, &registry, url).await,
        Some(Status::Passing)
    );
    dependent.no_patch(Duration::from_millis(10)).await;

    // Silence: it expires, and its dependent is told.
    assert_eq!(
        dependent.next_patch(SOON).await,
        removed(vec![entry("Batch", url)])
    );
    assert_eq!(
        status_of(&client, &registry, url).await,
        Some(Status::Critical)
    );

    // A late renewal brings it back.
    assert_eq!(
        client
            .put(registry.services())
            .body(url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("Batch", url)])
    );
}

#[tokio::test]
async fn an_instance_with_neither_heartbeat_nor_ttl_stays() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "Static", "ServiceURL": "http://127.0.0.1:9"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status_of(&client, &registry, "http://127.0.0.1:9").await,
        Some(Status::Passing)
    );
}

#[tokio::test]
async fn queries_list_every_instance_and_the_passing_ones_by_name() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let mut a = FakeService::start().await;
    let b = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &a.registration("Test Service", &[]),
    )
    .await;
    register(
        &client,
        &registry.services(),
        &b.registration("Test Service", &[]),
    )
    .await;
    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "Other", "ServiceURL": "http://127.0.0.1:9"}),
    )
    .await;

    let lookup = |name: &'static str| {
        let client = client.clone();
        let url = format!("{}/{name}", registry.services());
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Vec<InstanceInfo>>()
                .await
                .unwrap()
        }
    };
    let mut urls: Vec<String> = lookup("Test%20Service")
        .await
        .into_iter()
        .map(|i| i.registration.service_url)
        .collect();
    urls.sort();
    let mut expected = vec![a.url.clone(), b.url.clone()];
    expected.sort();
    assert_eq!(urls, expected);
    assert!(lookup("Nobody").await.is_empty());

    // Once heartbeats have run, check the health fields.
    let all = common::eventually("a heartbeat check of every instance", || async {
        let all = list(&client, &registry).await;
        all.iter()
            .filter(|i| i.registration.service_name == "Test Service")
            .all(|i| !i.recent_checks.is_empty())
            .then_some(all)
    })
    .await;
    assert_eq!(all.len(), 3);
    let info = all
        .iter()
        .find(|i| i.registration.service_url == a.url)
        .unwrap();
    assert!(info.last_check_at.is_some() && info.last_latency_ms.is_some());
    assert!(!info.recent_checks.is_empty() && info.recent_checks.iter().all(|c| c.ok));
    assert_eq!(info.consecutive_failures, 0);
    assert!(info.registered_at.ends_with('Z'));

    a.close().await;
    common::until("the closed instance to leave discovery", || async {
        let urls: Vec<String> = lookup("Test%20Service")
            .await
            .into_iter()
            .map(|i| i.registration.service_url)
            .collect();
        urls == vec![b.url.clone()]
    })
    .await;
    let info = list(&client, &registry)
        .await
        .into_iter()
        .find(|i| i.registration.service_url == a.url)
        .unwrap();
    assert!(info.consecutive_failures >= 2);
    assert!(
        info.recent_checks
            .iter()
            .any(|c| !c.ok && c.error.is_some())
    );

    // A lookup answer is cached, and dropped as soon as an instance of it changes.
    let cached = lookup("Test%20Service").await;
    assert!(
        cached.iter().all(|i| i.recent_checks.is_empty()),
        "lookups leave out check history"
    );
    register(
        &client,
        &registry.services(),
        &a.registration("Test Service", &[]),
    )
    .await;
    let mut urls: Vec<String> = lookup("Test%20Service")
        .await
        .into_iter()
        .map(|i| i.registration.service_url)
        .collect();
    urls.sort();
    assert_eq!(urls, expected);
}

#[tokio::test]
async fn the_event_stream_starts_with_a_snapshot_and_resumes_without_gaps() {
    let registry = TestRegistry::start(RegistryConfig {
        heartbeat_interval: Duration::from_secs(3600),
        ..fast_config()
    })
    .await;
    let client = client();
    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "A", "ServiceURL": "http://127.0.0.1:9/a"}),
    )
    .await;

    let mut stream = SseReader::open(&client, &registry.services(), None).await;
    let snapshot = stream.next(SOON).await;
    assert_eq!(snapshot.name, "snapshot");
    let parsed: RegistryEvent = serde_json::from_str(&snapshot.data).unwrap();
    let RegistryEvent::Snapshot {
        revision,
        instances,
    } = parsed
    else {
        panic!("{parsed:?}")
    };
    assert_eq!(snapshot.id, Some(format!("{revision}.0")));
    assert_eq!(instances.len(), 1);

    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "B", "ServiceURL": "http://127.0.0.1:9/b"}),
    )
    .await;
    let event = stream.next(SOON).await;
    assert_eq!(event.name, "registered");
    assert_eq!(event.id, Some(format!("{}.0", revision + 1)));
    drop(stream);

    // While disconnected: three more changes.
    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "C", "ServiceURL": "http://127.0.0.1:9/c"}),
    )
    .await;
    client
        .delete(registry.services())
        .body("http://127.0.0.1:9/a")
        .send()
        .await
        .unwrap();
    register(
        &client,
        &registry.services(),
        &serde_json::json!({"ServiceName": "D", "ServiceURL": "http://127.0.0.1:9/d"}),
    )
    .await;

    let seen = format!("{}.0", revision + 1);
    let mut resumed = SseReader::open(&client, &registry.services(), Some(&seen)).await;
    let mut names = Vec::new();
    for expected_id in revision + 2..=revision + 4 {
        let event = resumed.next(SOON).await;
        assert_eq!(
            event.id,
            Some(format!("{expected_id}.0")),
            "no gap, no repeat"
        );
        names.push(event.name);
    }
    assert_eq!(names, ["registered", "deregistered", "registered"]);

    // A revision the registry never issued gets a fresh snapshot.
    let mut fresh = SseReader::open(&client, &registry.services(), Some("7.0")).await;
    let event = fresh.next(SOON).await;
    assert_eq!(event.name, "snapshot");
    assert_eq!(event.id, Some(format!("{}.0", revision + 4)));
    // A plain revision, as earlier versions sent, still resumes: after all of it.
    let plain = (revision + 3).to_string();
    let mut resumed = SseReader::open(&client, &registry.services(), Some(&plain)).await;
    assert_eq!(
        resumed.next(SOON).await.id,
        Some(format!("{}.0", revision + 4))
    );
}

#[tokio::test]
async fn heartbeat_rounds_appear_in_the_event_stream() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let provider = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &provider.registration("LogService", &[]),
    )
    .await;
    let mut stream = SseReader::open(&client, &registry.services(), None).await;
    assert_eq!(stream.next(SOON).await.name, "snapshot");
    let event = stream.next(SOON).await;
    assert_eq!(event.name, "heartbeats");
    assert!(
        event.data.contains(&provider.url) && event.data.contains(r#""Ok":true"#),
        "{}",
        event.data
    );
}

/// A listener whose heartbeat answers redirect, stall or send a large body.
async fn misbehaving_service() -> String {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/redirect", get(|| async { Redirect::temporary("/ok") }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/big", get(|| async { "x".repeat(10 * 1024 * 1024) }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn heartbeats_never_follow_redirects_and_always_time_out() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let base = misbehaving_service().await;
    for path in ["redirect", "slow", "big"] {
        register(
            &client,
            &registry.services(),
            &serde_json::json!({
                "ServiceName": path, "ServiceURL": format!("{base}/{path}-instance"),
                "HeartbeatURL": format!("{base}/{path}"),
            }),
        )
        .await;
    }
    // Each check of the three has failed, passed, or timed out (at 300 ms) by now.
    let all = common::eventually("the redirect and the stall to turn critical", || async {
        let all = list(&client, &registry).await;
        all.iter()
            .filter(|i| ["redirect", "slow"].contains(&i.registration.service_name.as_str()))
            .all(|i| i.status == Status::Critical)
            .then_some(all)
    })
    .await;
    let status = |name: &str| {
        all.iter()
            .find(|i| i.registration.service_name == name)
            .unwrap()
    };
    assert_eq!(
        status("redirect").status,
        Status::Critical,
        "a redirect is not followed"
    );
    assert!(
        status("redirect")
            .recent_checks
            .iter()
            .any(|c| c.error.as_deref() == Some("answered 307 Temporary Redirect"))
    );
    assert_eq!(
        status("slow").status,
        Status::Critical,
        "a stalled check times out"
    );
    assert!(
        status("slow")
            .recent_checks
            .iter()
            .any(|c| c.error.as_deref() == Some("timed out"))
    );
    // A 200 with a large body is alive; only its first bytes are read.
    assert_eq!(status("big").status, Status::Passing);
}

#[tokio::test]
async fn an_unreachable_dependent_does_not_delay_the_others() {
    let registry = TestRegistry::start(RegistryConfig {
        patch_timeout: Duration::from_secs(10),
        patch_retries: 3,
        ..fast_config()
    })
    .await;
    let client = client();
    // A dependent whose update URL stalls every delivery (its server waits 30 s).
    let base = misbehaving_service().await;
    register(
        &client,
        &registry.services(),
        &serde_json::json!({
            "ServiceName": "Stuck", "ServiceURL": format!("{base}/stuck"),
            "RequiredServices": ["LogService"], "ServiceUpdateURL": format!("{base}/slow"),
        }),
    )
    .await;
    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("GradingService", &["LogService"]),
    )
    .await;
    assert_eq!(dependent.next_patch(SOON).await, added(vec![]));

    let log = FakeService::start().await;
    let started = Instant::now();
    register(
        &client,
        &registry.services(),
        &log.registration("LogService", &[]),
    )
    .await;
    assert_eq!(
        dependent.next_patch(SOON).await,
        added(vec![entry("LogService", &log.url)])
    );
    // The stuck dependent holds each delivery for its 10 s timeout: a healthy dependent's
    // patch queued behind it would take that long at least.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// Instances `0..n`, each with a switch for its health: on one listener at 127.0.0.1, or,
/// `spread`, instance `i` on a listener of its own at 127.0.0.`i + 2` (a host of its
/// own, as self-preservation counts them). Gives each instance's base URL.
async fn fleet(
    n: usize,
    spread: bool,
) -> (
    Vec<String>,
    std::sync::Arc<Vec<std::sync::atomic::AtomicBool>>,
) {
    use std::sync::{Arc, atomic::AtomicBool};
    let healthy: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(true)).collect());
    let state = healthy.clone();
    let app = Router::new().route(
        "/hb/{i}",
        get(move |axum::extract::Path(i): axum::extract::Path<usize>| {
            let state = state.clone();
            async move {
                if state[i].load(std::sync::atomic::Ordering::SeqCst) {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let mut bases = Vec::new();
    for i in 0..if spread { n } else { 1 } {
        let host = if spread {
            format!("127.0.0.{}", i + 2)
        } else {
            "127.0.0.1".into()
        };
        let listener = TcpListener::bind(format!("{host}:0")).await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        let app = app.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    let bases = (0..n)
        .map(|i| bases[i.min(bases.len() - 1)].clone())
        .collect();
    (bases, healthy)
}

async fn register_fleet(
    client: &reqwest::Client,
    registry: &TestRegistry,
    name: &str,
    bases: &[String],
) {
    for (i, base) in bases.iter().enumerate() {
        register(
            client,
            &registry.services(),
            &serde_json::json!({
                "ServiceName": name, "ServiceURL": format!("{base}/instance/{i}"),
                "HeartbeatURL": format!("{base}/hb/{i}"),
            }),
        )
        .await;
    }
}

async fn self_preservation(client: &reqwest::Client, registry: &TestRegistry) -> String {
    let response = client.get(registry.services()).send().await.unwrap();
    response.headers()["self-preservation"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn when_most_hosts_fail_at_once_the_registry_holds_evictions() {
    use std::sync::atomic::Ordering;
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let (bases, healthy) = fleet(12, true).await;
    register_fleet(&client, &registry, "Fleet", &bases).await;
    let mut dependent = FakeService::start().await;
    register(
        &client,
        &registry.services(),
        &dependent.registration("Watcher", &["Fleet"]),
    )
    .await;
    assert_eq!(dependent.next_patch(SOON).await.added.len(), 12);
    assert_eq!(self_preservation(&client, &registry).await, "inactive");

    // The registry's own network, say: every host fails at once.
    for switch in healthy.iter() {
        switch.store(false, Ordering::SeqCst);
    }
    common::until("self-preservation after five failed rounds", || async {
        self_preservation(&client, &registry).await == "active"
            && list(&client, &registry)
                .await
                .iter()
                .filter(|i| i.registration.service_name == "Fleet")
                .all(|i| i.consecutive_failures >= 5)
    })
    .await;
    let fleet: Vec<InstanceInfo> = list(&client, &registry)
        .await
        .into_iter()
        .filter(|i| i.registration.service_name == "Fleet")
        .collect();
    assert!(
        fleet.iter().all(|i| i.status == Status::Passing),
        "no one evicted"
    );
    assert!(
        fleet.iter().all(|i| i.consecutive_failures >= 5),
        "failures still counted"
    );
    dependent.no_patch(Duration::from_millis(100)).await;

    // The failure rate falls: one instance stays down and is evicted as usual.
    for switch in healthy.iter().skip(1) {
        switch.store(true, Ordering::SeqCst);
    }
    assert_eq!(
        dependent.next_patch(SOON).await,
        removed(vec![entry("Fleet", &format!("{}/instance/0", bases[0]))])
    );
    assert_eq!(self_preservation(&client, &registry).await, "inactive");
    dependent.no_patch(Duration::from_millis(300)).await;
}

/// Many dead instances registered from one machine (a student's, say) are one failing
/// host among healthy ones: self-preservation stays off, so they cannot hold the
/// eviction of anything else, and they are evicted themselves.
#[tokio::test]
async fn dead_instances_on_one_host_cannot_switch_self_preservation_on() {
    use std::sync::atomic::Ordering;
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let (healthy_bases, _healthy) = fleet(4, true).await;
    register_fleet(&client, &registry, "Fleet", &healthy_bases).await;
    let (junk, junk_health) = fleet(20, false).await;
    register_fleet(&client, &registry, "Junk", &junk).await;
    for switch in junk_health.iter() {
        switch.store(false, Ordering::SeqCst);
    }
    // 20 of 24 instances fail (83%), but one host of five.
    common::until("the dead instances evicted", || async {
        list(&client, &registry)
            .await
            .iter()
            .filter(|i| i.registration.service_name == "Junk")
            .all(|i| i.status == Status::Critical)
    })
    .await;
    assert_eq!(self_preservation(&client, &registry).await, "inactive");
}

/// `Registry-Revision` on a listing or lookup: the revision of the state it reflects.
async fn revision_of(client: &reqwest::Client, url: &str) -> u64 {
    let answer = client.get(url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.headers()[wire::registry::REVISION_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn listings_and_lookups_carry_the_revision_of_the_event_that_made_them() {
    let registry = TestRegistry::start(fast_config()).await;
    let client = client();
    let mut events = SseReader::open(&client, &registry.services(), None).await;
    let snapshot = events.next(SOON).await;
    assert_eq!(snapshot.name, "snapshot");
    let lookup = format!("{}/Static", registry.services());
    // Nothing registered yet: both answers reflect the snapshot's revision.
    let snapshot_revision = common::event_order(&snapshot.id.unwrap()).0;
    assert_eq!(
        revision_of(&client, &registry.services()).await,
        snapshot_revision
    );
    assert_eq!(revision_of(&client, &lookup).await, snapshot_revision);

    // Static instances (no heartbeat, no TTL): only registrations move the revision.
    for (n, url) in ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
        .into_iter()
        .enumerate()
    {
        register(
            &client,
            &registry.services(),
            &serde_json::json!({"ServiceName": "Static", "ServiceURL": url}),
        )
        .await;
        let registered = events.next_change(SOON).await;
        assert_eq!(registered.name, "registered", "registration {n}");
        let revision = common::event_order(&registered.id.unwrap()).0;
        assert_eq!(revision_of(&client, &registry.services()).await, revision);
        assert_eq!(revision_of(&client, &lookup).await, revision);
    }
}

/// A flood of registrations stops at `--max-instances`: one more is refused with 503 and
/// the reason, an instance registering again is still taken, and once one leaves another
/// may register.
#[tokio::test]
async fn registrations_past_the_most_instances_are_refused_with_a_reason() {
    let registry = TestRegistry::start(RegistryConfig {
        max_instances: 3,
        ..fast_config()
    })
    .await;
    let client = client();
    let register_at = |i: usize| {
        client
            .post(registry.services())
            .json(&serde_json::json!({
                "ServiceName": "Flood", "ServiceURL": format!("http://127.0.0.1:9/{i}"),
            }))
            .send()
    };
    for i in 0..3 {
        assert_eq!(register_at(i).await.unwrap().status(), 200);
    }
    let refused = register_at(3).await.unwrap();
    assert_eq!(refused.status(), 503);
    let reason = refused.text().await.unwrap();
    assert!(reason.contains("--max-instances"), "{reason}");
    assert_eq!(
        register_at(1).await.unwrap().status(),
        200,
        "registering again"
    );
    assert_eq!(list(&client, &registry).await.len(), 3);
    let left = client
        .delete(registry.services())
        .body("http://127.0.0.1:9/0")
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    assert_eq!(register_at(3).await.unwrap().status(), 200);
}
