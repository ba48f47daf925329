//! Process-level tests of the service runtime with the real binaries: `registryservice`
//! and `logservice` started as processes, killed and restarted.

mod common;

use std::{sync::Arc, time::Duration};

use common::{FakeService, Process, client, entry, register, removed, until};
use server::runtime::{Instance, InstanceSpec, RegistryClient, Watchdog};
use tokio_util::sync::CancellationToken;
use wire::{logs::LogRecord, registry::InstanceInfo};

impl Process {
    /// A registry whose heartbeats come only every 30 s: within a test, only a
    /// deregistration or a failed call can reveal that an instance is gone.
    fn slow_registry(dir: &std::path::Path) -> Process {
        Process::registry_with(dir, &["--heartbeat-interval", "30s"])
    }

    /// `logservice` on `addr` (a restart on the address it had), registering with
    /// `registry`. Each log service of a test keeps its own file, named by its address.
    fn log_service_on(addr: &str, registry: &str, dir: &std::path::Path) -> Process {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let file = match addr {
            "127.0.0.1:0" => format!(
                "log-new-{}.log",
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            _ => format!("log-{}.log", addr.replace([':', '.'], "-")),
        };
        Process::start(
            env!("CARGO_BIN_EXE_logservice"),
            &[
                "--addr",
                addr,
                "--registry-url",
                registry,
                "--log-file",
                &file,
            ],
            dir,
        )
    }

    /// `logservice` on a free port, registering with `registry`.
    fn log_service(registry: &str, dir: &std::path::Path) -> Process {
        Process::log_service_on("127.0.0.1:0", registry, dir)
    }
}

/// A service of our own, built on the runtime, that requires `LogService`: it serves its
/// endpoints on an ephemeral port and stays registered until `stop`.
async fn own_instance(name: &str, registry: &str, stop: &CancellationToken) -> Arc<Instance> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let instance = Instance::new(
        InstanceSpec::standalone(name, &["LogService"], &url),
        RegistryClient::new(registry),
        Watchdog::default(),
    );
    let routes = axum::Router::from(instance.routes());
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    tokio::spawn(instance.clone().run(stop.clone()));
    instance
}

fn temp_dir() -> std::path::PathBuf {
    common::temp_dir("runtime")
}

async fn instances(registry: &str) -> Option<Vec<InstanceInfo>> {
    let response = client()
        .get(format!("{registry}/services"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// Waits until the registry lists `url`.
async fn wait_listed(registry: &str, url: &str) {
    until(&format!("{registry} to list {url}"), || async {
        instances(registry)
            .await
            .is_some_and(|list| list.iter().any(|i| i.registration.service_url == url))
    })
    .await;
}

#[tokio::test]
async fn a_service_started_before_the_registry_ends_up_registered() {
    let dir = temp_dir();
    // The log service starts while nothing answers at the registry's port.
    let port = testkit::ports::reserve();
    let registry = format!("http://127.0.0.1:{port}");
    let log = Process::log_service(&registry, &dir);
    let _registry = Process::registry_on(port, &dir, &[]);
    wait_listed(&registry, &log.url).await;
}

#[tokio::test]
async fn a_restarted_registry_gets_every_live_service_back() {
    let dir = temp_dir();
    // On a port it comes back to (see testkit::ports).
    let mut registry = Process::registry_on(testkit::ports::reserve(), &dir, &[]);
    let base = registry.url.clone();
    let a = Process::log_service(&base, &dir);
    let b = Process::log_service(&base, &dir);
    for log in [&a, &b] {
        wait_listed(&base, &log.url).await;
    }

    registry.kill();
    let _registry = Process::registry_on(registry.port, &dir, &[]);
    for log in [&a, &b] {
        wait_listed(&base, &log.url).await;
    }
    assert_eq!(instances(&base).await.unwrap().len(), 2, "no duplicates");
}

#[tokio::test]
async fn sigterm_deregisters_at_once() {
    let dir = temp_dir();
    let registry = Process::slow_registry(&dir);
    let mut log = Process::log_service(&registry.url, &dir);
    let log_url = log.url.clone();
    wait_listed(&registry.url, &log_url).await;

    let mut dependent = FakeService::start().await;
    let registry_url = format!("{}/services", registry.url);
    register(
        &client(),
        &registry_url,
        &dependent.registration("GradingService", &["LogService"]),
    )
    .await;
    let initial = dependent.next_patch(common::PATIENCE).await;
    assert_eq!(initial.added, vec![entry("LogService", &log_url)]);

    let status = log.terminate();
    assert!(status.success(), "exits 0 on SIGTERM: {status:?}");
    // Heartbeats are 30 s apart: only the deregistration can bring this patch before then.
    assert_eq!(
        dependent.next_patch(Duration::from_secs(20)).await,
        removed(vec![entry("LogService", &log_url)])
    );
}

#[tokio::test]
async fn calls_fail_over_to_a_second_instance_when_the_first_is_killed() {
    let dir = temp_dir();
    let registry = Process::slow_registry(&dir);
    let mut first = Process::log_service(&registry.url, &dir);
    let second = Process::log_service(&registry.url, &dir);
    for log in [&first, &second] {
        wait_listed(&registry.url, &log.url).await;
    }

    // A service of our own, built on the runtime, that requires LogService.
    let stop = CancellationToken::new();
    let instance = own_instance("Caller", &registry.url, &stop).await;
    until("both log services in the caller's providers", || async {
        instance.providers().all("LogService").len() == 2
    })
    .await;

    first.kill();
    // Heartbeats are 30 s apart: the registry has not noticed; the call helper must.
    let client = client();
    for n in 0..6 {
        let status = instance
            .providers()
            .call("LogService", |base| {
                let request = client
                    .post(format!("{base}/log"))
                    .body(format!("[Caller] - call {n}"));
                async move { request.send().await?.error_for_status() }
            })
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let records: Vec<LogRecord> = client
        .get(format!("{}/log?service=Caller", second.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(records.len(), 6, "every call reached the second instance");
    stop.cancel();
}

/// The passing instances of `name`, as the registry lists them.
async fn listed(registry: &str, name: &str) -> Vec<String> {
    let mut urls: Vec<String> = instances(registry)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|i| {
            i.registration.service_name == name && i.status == wire::registry::Status::Passing
        })
        .map(|i| i.registration.service_url)
        .collect();
    urls.sort();
    urls
}

#[tokio::test]
async fn after_a_registry_restart_every_dependent_sees_what_the_registry_lists() {
    let dir = temp_dir();
    // On a port it comes back to (see testkit::ports).
    let mut registry = Process::registry_on(testkit::ports::reserve(), &dir, &[]);
    let base = registry.url.clone();
    let a = Process::log_service(&base, &dir);
    let b = Process::log_service(&base, &dir);

    // Two dependents of our own, built on the runtime.
    let mut dependents = Vec::new();
    for name in ["First", "Second"] {
        dependents.push(own_instance(name, &base, &CancellationToken::new()).await);
    }
    let views_match = |expected: Vec<String>| {
        let dependents = dependents.clone();
        async move {
            until(&format!("every dependent to see {expected:?}"), || {
                let matched = dependents.iter().all(|d| {
                    let mut seen = d.providers().all("LogService");
                    seen.sort();
                    seen == expected
                });
                async move { matched }
            })
            .await;
        }
    };
    let both = {
        let mut urls = vec![a.url.clone(), b.url.clone()];
        urls.sort();
        urls
    };
    views_match(both.clone()).await;

    registry.kill();
    let _registry = Process::registry_on(registry.port, &dir, &[]);
    until("everyone to register again", || async {
        listed(&base, "LogService").await == both && listed(&base, "First").await.len() == 1
    })
    .await;
    views_match(listed(&base, "LogService").await).await;
}

#[tokio::test]
async fn with_the_log_service_down_services_keep_serving_and_their_records_arrive_later() {
    let dir = temp_dir();
    let registry = Process::registry(&dir);
    // On a port it comes back to (see testkit::ports).
    let log_addr = format!("127.0.0.1:{}", testkit::ports::reserve());
    let mut log = Process::log_service_on(&log_addr, &registry.url, &dir);
    let grading = Process::start(
        env!("CARGO_BIN_EXE_gradingservice"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            &registry.url,
            "--database",
            "grades.db",
        ],
        &dir,
    );
    wait_listed(&registry.url, &grading.url).await;

    log.kill();
    let client = client();
    for n in 0..3 {
        let response = client
            .post(format!("{}/students/1/grades", grading.url))
            .body(format!(
                r#"{{"Title":"While the log is down {n}","Type":"Quiz","Score":50}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "the grading service keeps serving");
    }

    let log = Process::log_service_on(&log_addr, &registry.url, &dir);
    let query = format!(
        "{}/log?service=GradingService&text=While%20the%20log%20is%20down",
        log.url
    );
    until("the buffered records to arrive", || async {
        let records: Vec<LogRecord> = match client.get(&query).send().await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => vec![],
        };
        records.len() == 3
    })
    .await;
}

#[tokio::test]
async fn a_patch_that_arrives_after_its_time_out_never_brings_back_a_provider_that_left() {
    let dir = temp_dir();
    let registry = Process::registry_with(
        &dir,
        &["--patch-timeout", "300ms", "--heartbeat-interval", "30s"],
    );
    let (dependent, proxy) = common::dependent_behind_proxy(&registry.url).await;
    wait_listed(&registry.url, &dependent.spec().url).await;

    // The provider registers: its patch is held on the way past the registry's time-out.
    proxy.hold_next_post();
    let provider = "http://127.0.0.1:9/provider";
    register(
        &client(),
        &format!("{}/services", registry.url),
        &serde_json::json!({"ServiceName": "Provider", "ServiceURL": provider}),
    )
    .await;
    proxy.holding().await;
    // The registry sends the full view instead; then the provider leaves.
    until("the provider in the dependent's view", || async {
        dependent.providers().all("Provider") == [provider]
    })
    .await;
    let left = client()
        .delete(format!("{}/services", registry.url))
        .body(provider)
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    until("the provider gone from the dependent's view", || async {
        dependent.providers().all("Provider").is_empty()
    })
    .await;

    // The late patch arrives at last: older than what the dependent holds, it is dropped,
    // and its view stays the registry's.
    proxy.release().await;
    assert!(listed(&registry.url, "Provider").await.is_empty());
    assert_eq!(dependent.providers().all("Provider"), Vec::<String>::new());
}
