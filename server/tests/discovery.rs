//! The registry read by the tools people already run, unchanged: Debian's Prometheus
//! (`http_sd_configs` on `GET /prometheus/targets`), started by the test on its own
//! config, data dir and port, and the answers' shapes, filters and token checked in Rust.

mod common;

use std::process::{Command, Stdio};

use common::{Process, client, eventually, until};
use serde_json::Value;
use wire::prometheus::TargetGroup;

/// The shared secret of the token tests.
const TOKEN: &str = "discovery-token";

/// `GET /prometheus/targets` with `query`: its status and body.
async fn targets(registry: &str, query: &str) -> (u16, String) {
    let answer = client()
        .get(format!("{registry}/prometheus/targets{query}"))
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

fn groups(body: &str) -> Vec<TargetGroup> {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("{err}: {body}"))
}

/// Registers `url` as an instance of `name` with `extra` fields, and no heartbeat.
async fn register(registry: &str, name: &str, url: &str, extra: Value) {
    let mut body = serde_json::json!({"ServiceName": name, "ServiceURL": url});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    common::register(&client(), &format!("{registry}/services"), &body).await;
}

#[tokio::test]
async fn prometheus_targets_list_every_instance_with_its_labels_and_narrow_on_request() {
    let dir = common::temp_dir("discovery-shape");
    let registry = Process::registry(&dir);
    let (status, body) = targets(&registry.url, "").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "[]"),
        "empty: an empty array"
    );

    register(
        &registry.url,
        "LogService",
        "http://127.0.0.1:4000",
        serde_json::json!({"Tags": ["primary"], "Meta": {"build-id": "7"}}),
    )
    .await;
    register(
        &registry.url,
        "GradingService",
        "https://grades.example:8443/api",
        serde_json::json!({}),
    )
    .await;
    let answer = client()
        .get(format!("{}/prometheus/targets", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["content-type"], "application/json");
    let all = groups(&answer.text().await.unwrap());
    assert_eq!(all.len(), 2);
    let log = all
        .iter()
        .find(|g| g.targets == ["127.0.0.1:4000"])
        .expect("the log service's group");
    assert_eq!(log.labels["__meta_distributed_service"], "LogService");
    assert_eq!(log.labels["__meta_distributed_status"], "passing");
    assert_eq!(log.labels["__meta_distributed_tags"], ",primary,");
    assert_eq!(log.labels["__meta_distributed_meta_build_id"], "7");
    assert!(all.iter().any(|g| g.targets == ["grades.example:8443"]));

    let (_, narrowed) = targets(&registry.url, "?service=GradingService").await;
    assert_eq!(groups(&narrowed).len(), 1);
    let (_, none) = targets(&registry.url, "?service=Nobody").await;
    assert_eq!(none, "[]");
    let (_, passing) = targets(&registry.url, "?status=passing").await;
    assert_eq!(groups(&passing).len(), 2);
    let (_, critical) = targets(&registry.url, "?status=critical").await;
    assert_eq!(critical, "[]");
    let (status, reason) = targets(&registry.url, "?status=maybe").await;
    assert_eq!(status, 400);
    assert!(reason.contains("passing or critical"), "{reason}");
    let (status, reason) = targets(&registry.url, "?services=x").await;
    assert_eq!(status, 400, "an unknown parameter is a mistake: {reason}");

    // The listing shows the tags and metadata as registered; bad ones are refused.
    let listed: Vec<wire::registry::InstanceInfo> =
        common::get_json(format!("{}/services", registry.url)).await;
    let log = listed
        .iter()
        .find(|i| i.registration.service_name == "LogService")
        .unwrap();
    assert_eq!(log.registration.tags, ["primary"]);
    assert_eq!(log.registration.meta["build-id"], "7");
    let refused = client()
        .post(format!("{}/services", registry.url))
        .json(&serde_json::json!({
            "ServiceName": "LogService",
            "ServiceURL": "http://127.0.0.1:4001",
            "Tags": ["two words"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let reason = refused.text().await.unwrap();
    assert!(reason.contains("Tags: a tag"), "{reason}");
}

#[tokio::test]
async fn with_token_reads_prometheus_targets_need_the_token_as_prometheus_sends_it() {
    let dir = common::temp_dir("discovery-token");
    let registry = Process::registry_with(&dir, &["--token", TOKEN, "--token-reads"]);
    let (status, _) = targets(&registry.url, "").await;
    assert_eq!(status, 401);
    let answer = client()
        .get(format!("{}/prometheus/targets", registry.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

/// Debian's Prometheus, with `config` (YAML) in `dir`, on a port of its own; answering.
async fn prometheus(dir: &std::path::Path, config: &str) -> (testkit::Child, String) {
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let port = testkit::ports::reserve();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let mut command = Command::new("prometheus");
    command
        .arg(format!("--config.file={}", file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log);
    let child = testkit::Child::spawn(command);
    let url = format!("http://127.0.0.1:{port}");
    until("Prometheus ready", || async {
        client()
            .get(format!("{url}/-/ready"))
            .send()
            .await
            .is_ok_and(|answer| answer.status() == 200)
    })
    .await;
    (child, url)
}

/// Prometheus' active targets of `job`: each one's `service` label and health.
async fn prometheus_targets(prometheus: &str, job: &str) -> Vec<(String, String)> {
    let Ok(answer) = client()
        .get(format!("{prometheus}/api/v1/targets?state=active"))
        .send()
        .await
    else {
        return Vec::new();
    };
    let body: Value = answer.json().await.unwrap_or_default();
    let mut found: Vec<(String, String)> = body["data"]["activeTargets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|target| target["labels"]["job"] == job)
        .map(|target| {
            (
                target["labels"]["service"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                target["health"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn prometheus_scrapes_every_service_the_registry_knows_and_sees_a_killed_one_go_down() {
    let dir = common::temp_dir("discovery-prometheus");
    let registry = Process::registry(&dir);
    let mut log = Process::start(
        env!("CARGO_BIN_EXE_logservice"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            &registry.url,
            "--log-file",
            "d.log",
        ],
        &dir,
    );
    let _grading = Process::start(
        env!("CARGO_BIN_EXE_gradingservice"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            &registry.url,
            "--database",
            "d.db",
        ],
        &dir,
    );
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: registry
    http_sd_configs:
      - url: {}/prometheus/targets
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_distributed_service]
        target_label: service
"#,
        registry.url
    );
    let (_prometheus, prometheus) = prometheus(&dir, &config).await;
    let up = |service: &str| (service.to_owned(), "up".to_owned());
    eventually("Prometheus scraping both services", || async {
        let found = prometheus_targets(&prometheus, "registry").await;
        (found == [up("GradingService"), up("LogService")]).then_some(())
    })
    .await;

    log.kill();
    eventually("the killed log service down or gone", || async {
        let found = prometheus_targets(&prometheus, "registry").await;
        let log_up = found.contains(&up("LogService"));
        (!log_up && found.contains(&up("GradingService"))).then_some(())
    })
    .await;
}
