//! Process-level tests of the service runtime with the real binaries: `registryservice`
//! and `logservice` started as processes, killed and restarted.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use app::wire::{logs::LogRecord, registry::InstanceInfo};
use common::{FakeService, Process, client, entry, free_port, register, removed};
use server::runtime::{Instance, InstanceSpec, RegistryClient, Watchdog};
use tokio_util::sync::CancellationToken;

impl Process {
    /// A registry whose heartbeats come only every 30 s: within a test, only a
    /// deregistration or a failed call can reveal that an instance is gone.
    fn slow_registry(port: u16, dir: &std::path::Path) -> Process {
        Process::registry_with(port, dir, &["--heartbeat-interval", "30s"])
    }

    fn log_service(port: u16, registry_port: u16, dir: &std::path::Path) -> Process {
        Process::start(
            env!("CARGO_BIN_EXE_logservice"),
            &[
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--registry-url",
                &format!("http://127.0.0.1:{registry_port}"),
                "--log-file",
                &format!("log-{port}.log"),
            ],
            dir,
        )
    }
}

/// A service of our own, built on the runtime, that requires `LogService`: it serves its
/// endpoints on an ephemeral port and stays registered until `stop`.
async fn own_instance(name: &str, registry_port: u16, stop: &CancellationToken) -> Arc<Instance> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let instance = Instance::new(
        InstanceSpec::standalone(name, &["LogService"], &url),
        RegistryClient::new(&format!("http://127.0.0.1:{registry_port}")),
        Watchdog::default(),
    );
    let routes = instance.routes();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    tokio::spawn(instance.clone().run(stop.clone()));
    instance
}

fn temp_dir() -> std::path::PathBuf {
    common::temp_dir("runtime")
}

async fn instances(registry_port: u16) -> Option<Vec<InstanceInfo>> {
    let response = client()
        .get(format!("http://127.0.0.1:{registry_port}/services"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// Waits until the registry lists `url` (passing), at most `within`.
async fn wait_listed(registry_port: u16, url: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(list) = instances(registry_port).await
            && list.iter().any(|i| i.registration.service_url == url)
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{url} not registered within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_service_started_before_the_registry_ends_up_registered() {
    let dir = temp_dir();
    let (registry_port, log_port) = (free_port(), free_port());
    let _log = Process::log_service(log_port, registry_port, &dir);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _registry = Process::registry(registry_port, &dir);
    wait_listed(
        registry_port,
        &format!("http://127.0.0.1:{log_port}"),
        Duration::from_secs(8),
    )
    .await;
}

#[tokio::test]
async fn a_restarted_registry_gets_every_live_service_back() {
    let dir = temp_dir();
    let (registry_port, log_a, log_b) = (free_port(), free_port(), free_port());
    let mut registry = Process::registry(registry_port, &dir);
    let _a = Process::log_service(log_a, registry_port, &dir);
    let _b = Process::log_service(log_b, registry_port, &dir);
    for port in [log_a, log_b] {
        wait_listed(
            registry_port,
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(5),
        )
        .await;
    }

    registry.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _registry = Process::registry(registry_port, &dir);
    let restarted = Instant::now();
    for port in [log_a, log_b] {
        wait_listed(
            registry_port,
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(5),
        )
        .await;
    }
    assert!(
        restarted.elapsed() < Duration::from_secs(5),
        "took {:?}",
        restarted.elapsed()
    );
    assert_eq!(
        instances(registry_port).await.unwrap().len(),
        2,
        "no duplicates"
    );
}

#[tokio::test]
async fn sigterm_deregisters_at_once() {
    let dir = temp_dir();
    let (registry_port, log_port) = (free_port(), free_port());
    let _registry = Process::slow_registry(registry_port, &dir);
    let mut log = Process::log_service(log_port, registry_port, &dir);
    let log_url = format!("http://127.0.0.1:{log_port}");
    wait_listed(registry_port, &log_url, Duration::from_secs(5)).await;

    let mut dependent = FakeService::start().await;
    let registry_url = format!("http://127.0.0.1:{registry_port}/services");
    register(
        &client(),
        &registry_url,
        &dependent.registration("GradingService", &["LogService"]),
    )
    .await;
    let initial = dependent.next_patch(Duration::from_secs(3)).await;
    assert_eq!(initial.added, vec![entry("LogService", &log_url)]);

    let started = Instant::now();
    let status = log.terminate();
    assert!(status.success(), "exits 0 on SIGTERM: {status:?}");
    assert_eq!(
        dependent.next_patch(Duration::from_secs(3)).await,
        removed(vec![entry("LogService", &log_url)])
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn calls_fail_over_to_a_second_instance_when_the_first_is_killed() {
    let dir = temp_dir();
    let (registry_port, log_a, log_b) = (free_port(), free_port(), free_port());
    let _registry = Process::slow_registry(registry_port, &dir);
    let mut first = Process::log_service(log_a, registry_port, &dir);
    let _second = Process::log_service(log_b, registry_port, &dir);
    for port in [log_a, log_b] {
        wait_listed(
            registry_port,
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(5),
        )
        .await;
    }

    // A service of our own, built on the runtime, that requires LogService.
    let stop = CancellationToken::new();
    let instance = own_instance("Caller", registry_port, &stop).await;
    let started = Instant::now();
    while instance.providers().all("LogService").len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "providers never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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
        .get(format!("http://127.0.0.1:{log_b}/log?service=Caller"))
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
async fn listed(registry_port: u16, name: &str) -> Vec<String> {
    let mut urls: Vec<String> = instances(registry_port)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|i| {
            i.registration.service_name == name && i.status == app::wire::registry::Status::Passing
        })
        .map(|i| i.registration.service_url)
        .collect();
    urls.sort();
    urls
}

#[tokio::test]
async fn after_a_registry_restart_every_dependent_sees_what_the_registry_lists() {
    let dir = temp_dir();
    let (registry_port, log_a, log_b) = (free_port(), free_port(), free_port());
    let mut registry = Process::registry(registry_port, &dir);
    let _a = Process::log_service(log_a, registry_port, &dir);
    let _b = Process::log_service(log_b, registry_port, &dir);

    // Two dependents of our own, built on the runtime.
    let mut dependents = Vec::new();
    for name in ["First", "Second"] {
        dependents.push(own_instance(name, registry_port, &CancellationToken::new()).await);
    }
    let views_match = |expected: Vec<String>| {
        let dependents = dependents.clone();
        async move {
            let started = Instant::now();
            loop {
                let matched = dependents.iter().all(|d| {
                    let mut seen = d.providers().all("LogService");
                    seen.sort();
                    seen == expected
                });
                if matched {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(8),
                    "the dependents never saw {expected:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let both = {
        let mut urls = vec![
            format!("http://127.0.0.1:{log_a}"),
            format!("http://127.0.0.1:{log_b}"),
        ];
        urls.sort();
        urls
    };
    views_match(both.clone()).await;

    registry.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _registry = Process::registry(registry_port, &dir);
    let started = Instant::now();
    while listed(registry_port, "LogService").await != both
        || listed(registry_port, "First").await.len() != 1
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not everyone registered again within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    views_match(listed(registry_port, "LogService").await).await;
}

#[tokio::test]
async fn with_the_log_service_down_services_keep_serving_and_their_records_arrive_later() {
    let dir = temp_dir();
    let (registry_port, log_port, grading_port) = (free_port(), free_port(), free_port());
    let _registry = Process::registry(registry_port, &dir);
    let mut log = Process::log_service(log_port, registry_port, &dir);
    let _grading = Process::start(
        env!("CARGO_BIN_EXE_gradingservice"),
        &[
            "--addr",
            &format!("127.0.0.1:{grading_port}"),
            "--registry-url",
            &format!("http://127.0.0.1:{registry_port}"),
            "--database",
            "grades.db",
        ],
        &dir,
    );
    let grading = format!("http://127.0.0.1:{grading_port}");
    wait_listed(registry_port, &grading, Duration::from_secs(5)).await;

    log.kill();
    let client = client();
    for n in 0..3 {
        let response = client
            .post(format!("{grading}/students/1/grades"))
            .body(format!(
                r#"{{"Title":"While the log is down {n}","Type":"Quiz","Score":50}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "the grading service keeps serving");
    }

    let _log = Process::log_service(log_port, registry_port, &dir);
    let started = Instant::now();
    loop {
        let records: Vec<LogRecord> = match client
            .get(format!("http://127.0.0.1:{log_port}/log?service=GradingService&text=While%20the%20log%20is%20down"))
            .send()
            .await
        {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => vec![],
        };
        if records.len() == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "buffered records never arrived: {records:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
