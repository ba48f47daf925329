//! The registry read by the tools people already run, unchanged: Debian's Prometheus,
//! started by the test on its own config, data dir and port, discovering the services
//! through `http_sd_configs` (`GET /prometheus/targets`); Debian's Consul client library
//! for Python (`python3-consul`) reading the Consul catalog on `/v1/…`, a blocking query
//! included (Debian builds Prometheus without its Consul discovery); and the answers'
//! shapes, filters, blocking queries and token checked in Rust.

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
  - job_name: http_sd
    http_sd_configs:
      - url: {url}/prometheus/targets
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_distributed_service]
        target_label: service
"#,
        url = registry.url,
    );
    let (_prometheus, prometheus) = prometheus(&dir, &config).await;
    let up = |service: &str| (service.to_owned(), "up".to_owned());
    eventually("Prometheus scraping both services", || async {
        let found = prometheus_targets(&prometheus, "http_sd").await;
        (found == [up("GradingService"), up("LogService")]).then_some(())
    })
    .await;

    log.kill();
    eventually("the killed log service down or gone", || async {
        let found = prometheus_targets(&prometheus, "http_sd").await;
        let log_up = found.contains(&up("LogService"));
        (!log_up && found.contains(&up("GradingService"))).then_some(())
    })
    .await;
}

/// `GET path` on `registry`: the status, the `X-Consul-Index` and the body.
async fn consul(registry: &str, path: &str) -> (u16, u64, Value) {
    let answer = client()
        .get(format!("{registry}{path}"))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let index = answer
        .headers()
        .get(wire::consul::INDEX_HEADER)
        .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    (status, index, answer.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_consul_catalog_lists_services_instances_and_health_as_consul_does() {
    let dir = common::temp_dir("discovery-consul");
    let registry = Process::registry(&dir);
    let (status, first, body) = consul(&registry.url, "/v1/catalog/services").await;
    assert_eq!(
        (status, body.clone()),
        (200, serde_json::json!({})),
        "{body}"
    );
    assert!(first > 0, "the index is never 0");
    let (_, _, agent) = consul(&registry.url, "/v1/agent/self").await;
    assert_eq!(agent["Config"]["Datacenter"], "dc1");

    register(
        &registry.url,
        "LogService",
        "http://127.0.0.1:4000",
        serde_json::json!({"Tags": ["primary", "v2"], "Meta": {"zone": "a"}}),
    )
    .await;
    register(
        &registry.url,
        "LogService",
        "http://[::1]:4001/log",
        serde_json::json!({"Tags": ["v2"]}),
    )
    .await;
    let (_, index, services) = consul(&registry.url, "/v1/catalog/services").await;
    assert!(index > first, "a registration moves the index");
    assert_eq!(
        services,
        serde_json::json!({"LogService": ["primary", "v2"]})
    );

    let (_, _, health) = consul(&registry.url, "/v1/health/service/LogService").await;
    let entries = health.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let first_entry = &entries[0];
    assert_eq!(first_entry["Service"]["ID"], "http://127.0.0.1:4000");
    assert_eq!(first_entry["Service"]["Service"], "LogService");
    assert_eq!(first_entry["Service"]["Address"], "127.0.0.1");
    assert_eq!(first_entry["Service"]["Port"], 4000);
    assert_eq!(
        first_entry["Service"]["Tags"],
        serde_json::json!(["primary", "v2"])
    );
    assert_eq!(first_entry["Service"]["Meta"]["zone"], "a");
    assert_eq!(first_entry["Node"]["Datacenter"], "dc1");
    let statuses: Vec<&str> = first_entry["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["Status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passing", "passing"]);
    assert_eq!(entries[1]["Service"]["Address"], "::1");
    let (_, _, tagged) = consul(
        &registry.url,
        "/v1/health/service/LogService?tag=primary&tag=v2",
    )
    .await;
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    let (_, _, catalog) = consul(&registry.url, "/v1/catalog/service/LogService?tag=v2").await;
    assert_eq!(catalog.as_array().unwrap().len(), 2);
    assert_eq!(catalog[0]["ServicePort"], 4000);
    assert_eq!(catalog[0]["ServiceName"], "LogService");
    let (_, _, nobody) = consul(&registry.url, "/v1/health/service/Nobody").await;
    assert_eq!(nobody, serde_json::json!([]));
    let (status, _, reason) = consul(&registry.url, "/v1/catalog/services?index=soon").await;
    assert_eq!(status, 400, "{reason}");
}

#[tokio::test]
async fn a_blocking_query_waits_for_a_change_and_no_longer_than_asked() {
    let dir = common::temp_dir("discovery-blocking");
    let registry = Process::registry(&dir);
    let (_, index, _) = consul(&registry.url, "/v1/health/service/LogService").await;

    // Nothing changes: held for the wait (1 s, at most a sixteenth more), same index.
    let asked = std::time::Instant::now();
    let (status, same, _) = consul(
        &registry.url,
        &format!("/v1/health/service/LogService?index={index}&wait=1s"),
    )
    .await;
    assert_eq!((status, same), (200, index));
    assert!(asked.elapsed() >= std::time::Duration::from_secs(1), "held");

    // A registration wakes it (or, if it comes first, answers it at once): the new
    // instance and a later index, long before the 5 minutes asked.
    let url = registry.url.clone();
    let waiting = tokio::spawn(async move {
        consul(
            &url,
            &format!("/v1/health/service/LogService?index={index}&wait=5m"),
        )
        .await
    });
    register(
        &registry.url,
        "LogService",
        "http://127.0.0.1:4000",
        serde_json::json!({}),
    )
    .await;
    let (status, later, body) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(later > index, "{later} after {index}");
    assert_eq!(body.as_array().unwrap().len(), 1);

    // Index 0 is never held.
    let (_, now, _) = consul(&registry.url, "/v1/catalog/services?index=0").await;
    assert_eq!(now, later);
}

#[tokio::test]
async fn a_held_query_is_answered_when_the_registry_stops() {
    let dir = common::temp_dir("discovery-held-stop");
    let mut registry = Process::registry(&dir);
    let (_, index, _) = consul(&registry.url, "/v1/health/service/LogService").await;
    let url = registry.url.clone();
    let waiting = tokio::spawn(async move {
        consul(
            &url,
            &format!("/v1/health/service/LogService?index={index}&wait=10m"),
        )
        .await
    });
    let metrics = format!("{}/metrics", registry.url);
    until("the query to be held", || {
        common::shows(metrics.clone(), "registry_consul_queries_held 1\n")
    })
    .await;
    // Stopping does not wait out the ten minutes: the query gets its answer (the same
    // index: nothing changed), then the process exits cleanly.
    let status = registry.terminate();
    let (answered, same, _) = waiting.await.unwrap();
    assert_eq!((answered, same), (200, index));
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn with_token_reads_the_catalog_takes_the_token_as_consuls_clients_send_it() {
    let dir = common::temp_dir("discovery-consul-token");
    let registry = Process::registry_with(&dir, &["--token", TOKEN, "--token-reads"]);
    let (status, _, _) = consul(&registry.url, "/v1/catalog/services").await;
    assert_eq!(status, 401);
    let answer = client()
        .get(format!("{}/v1/catalog/services", registry.url))
        .header(wire::consul::TOKEN_HEADER, TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let wrong = client()
        .get(format!("{}/v1/catalog/services", registry.url))
        .header(wire::consul::TOKEN_HEADER, "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

/// What the Consul client library does against the registry (`argv`: host, port): one
/// JSON line with the index it read first, then one with what it found, the second
/// answer a blocking query for a change.
const CONSUL_CLIENT: &str = r#"
import json, sys
import consul

c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
found = {"dc": c.agent.self()["Config"]["Datacenter"]}
index, found["services"] = c.catalog.services()
index, nodes = c.health.service("LogService", passing=True)
found["passing"] = sorted(n["Service"]["ID"] for n in nodes)
found["ports"] = sorted(n["Service"]["Port"] for n in nodes)
found["tagged"] = len(c.health.service("LogService", tag="primary")[1])
print(json.dumps({"index": index}), flush=True)
later, nodes = c.health.service("LogService", index=index, wait="60s")
found["after"] = sorted(n["Service"]["ID"] for n in nodes)
found["index_moved"] = int(later) > int(index)
print(json.dumps(found), flush=True)
"#;

// Several threads: the client's lines are read on this one while the registry answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consul_client_library_reads_the_catalog_and_blocks_for_a_change() {
    use std::io::BufRead;

    let dir = common::temp_dir("discovery-consul-client");
    let registry = Process::registry(&dir);
    register(
        &registry.url,
        "LogService",
        "http://127.0.0.1:4000",
        serde_json::json!({"Tags": ["primary"]}),
    )
    .await;
    let script = dir.join("client.py");
    std::fs::write(&script, CONSUL_CLIENT).unwrap();
    let port = registry.port.to_string();
    let mut python = std::process::Command::new("/usr/bin/python3")
        .args([script.to_str().unwrap(), "127.0.0.1", &port])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs: scripts/bootstrap.sh test installs python3-consul");
    let mut lines = std::io::BufReader::new(python.stdout.take().unwrap()).lines();
    let first = tokio::task::block_in_place(|| lines.next())
        .expect("the client's first line")
        .unwrap();
    assert!(first.contains("index"), "{first}");
    // The client now holds a blocking query; a new instance answers it.
    register(
        &registry.url,
        "LogService",
        "http://127.0.0.1:4001",
        serde_json::json!({}),
    )
    .await;
    let found = tokio::task::block_in_place(|| lines.next())
        .expect("the client's findings (see its error above)")
        .unwrap();
    assert!(python.wait().unwrap().success());
    let found: Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found["dc"], "dc1");
    assert_eq!(
        found["services"],
        serde_json::json!({"LogService": ["primary"]})
    );
    assert_eq!(
        found["passing"],
        serde_json::json!(["http://127.0.0.1:4000"])
    );
    assert_eq!(found["ports"], serde_json::json!([4000]));
    assert_eq!(found["tagged"], 1);
    assert_eq!(
        found["after"],
        serde_json::json!(["http://127.0.0.1:4000", "http://127.0.0.1:4001"])
    );
    assert_eq!(found["index_moved"], true);
}
