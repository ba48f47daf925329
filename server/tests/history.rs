//! The registry's history against a real `registryservice` process: a scripted scenario
//! (register, kill, recover, deregister) whose every moment's live listing is captured,
//! then the registry killed and started again on the same folder: `?at=` of each moment
//! must equal what was captured. Also the history's answers and refusals over HTTP, its
//! retention, and a write that fails part-way (the file may grow no further).

mod common;

use std::time::SystemTime;

use common::*;
use wire::registry::{
    Availability, HistoryKind, HistoryPage, InstanceInfo, REVISION_HEADER, Status,
};

/// Flags for quick heartbeats.
const FAST: [&str; 6] = [
    "--heartbeat-interval",
    "100ms",
    "--heartbeat-timeout",
    "300ms",
    "--heartbeat-failures",
    "2",
];

/// What the history keeps of a listing: everything but the checks' results.
fn kept(mut listing: Vec<InstanceInfo>) -> Vec<InstanceInfo> {
    for info in &mut listing {
        info.last_check_at = None;
        info.last_latency_ms = None;
        info.consecutive_failures = 0;
        info.recent_checks.clear();
    }
    listing
}

/// One captured moment: when, the revision the listing said, and the listing.
struct Moment {
    what: &'static str,
    at: String,
    revision: String,
    listing: Vec<InstanceInfo>,
    alpha: Vec<InstanceInfo>,
}

async fn listing(url: &str) -> (String, Vec<InstanceInfo>) {
    let answer = client().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 200, "GET {url}");
    let revision = answer.headers()[REVISION_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    (revision, answer.json().await.unwrap())
}

async fn capture(registry: &str, what: &'static str) -> Moment {
    let (revision, all) = listing(&format!("{registry}/services")).await;
    let (_, alpha) = listing(&format!("{registry}/services/Alpha")).await;
    // A moment just after the answers, while nothing changes.
    let at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    Moment {
        what,
        at,
        revision,
        listing: kept(all),
        alpha: kept(alpha),
    }
}

/// Every captured moment, asked of `registry` by its time and by its revision, lists and
/// looks Alpha up as it did then (a critical Alpha, the second moment, is not looked up).
async fn replays(registry: &str, moments: &[Moment]) {
    for moment in moments {
        for at in [&moment.at, &moment.revision] {
            let (_, then) = listing(&format!("{registry}/services?at={at}")).await;
            assert_eq!(
                then, moment.listing,
                "{registry}: {} (at={at})",
                moment.what
            );
            let (_, alpha_then) = listing(&format!("{registry}/services/Alpha?at={at}")).await;
            assert_eq!(
                alpha_then, moment.alpha,
                "{registry}: {} (Alpha at={at})",
                moment.what
            );
        }
    }
    assert!(
        moments[1].alpha.is_empty(),
        "a critical Alpha is not looked up"
    );
}

async fn status_of(registry: &str, url: &str) -> Option<Status> {
    let (_, all) = listing(&format!("{registry}/services")).await;
    all.iter()
        .find(|i| i.registration.service_url == url)
        .map(|i| i.status)
}

async fn history(registry: &str, query: &str) -> HistoryPage {
    get_json(format!("{registry}/history{query}")).await
}

async fn refusal(url: String) -> (u16, String) {
    let answer = client().get(&url).send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn every_moment_of_a_scenario_replays_exactly_after_the_registry_is_killed() {
    let dir = temp_dir("history-scenario");
    let history_dir = dir.join("history");
    let flags: Vec<&str> = FAST
        .iter()
        .copied()
        .chain(["--history-dir", history_dir.to_str().unwrap()])
        .collect();
    let mut registry = Process::registry_with(&dir, &flags);
    let url = registry.url.clone();
    let services = format!("{url}/services");
    let client = client();
    let alpha = FakeService::start().await;
    let beta = FakeService::start().await;
    let mut moments = Vec::new();

    register(&client, &services, &alpha.registration("Alpha", &[])).await;
    register(&client, &services, &beta.registration("Beta", &["Alpha"])).await;
    moments.push(capture(&url, "both registered").await);

    alpha
        .healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    until("Alpha to go critical", || async {
        status_of(&url, &alpha.url).await == Some(Status::Critical)
    })
    .await;
    moments.push(capture(&url, "Alpha critical").await);

    alpha
        .healthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    until("Alpha to recover", || async {
        status_of(&url, &alpha.url).await == Some(Status::Passing)
    })
    .await;
    moments.push(capture(&url, "Alpha recovered").await);

    let left = client
        .delete(&services)
        .body(beta.url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    moments.push(capture(&url, "Beta deregistered").await);

    // Killed, not stopped: nothing is flushed on the way out. Then started again on the
    // same port and folder.
    let port = registry.port;
    registry.kill();
    let registry = Process::registry_on(port, &dir, &flags);
    assert_eq!(registry.url, url);
    let (_, now) = listing(&services).await;
    assert!(now.is_empty(), "a registry in memory starts empty");

    replays(&url, &moments).await;

    // The history in words, in order: each run's start, and every change between.
    let page = history(&url, "").await;
    let told: Vec<(HistoryKind, String, Option<Status>)> = page
        .events
        .iter()
        .map(|e| (e.kind, e.service.clone(), e.status))
        .collect();
    assert_eq!(
        told,
        [
            (HistoryKind::Started, String::new(), None),
            (
                HistoryKind::Registered,
                "Alpha".into(),
                Some(Status::Passing)
            ),
            (
                HistoryKind::Registered,
                "Beta".into(),
                Some(Status::Passing)
            ),
            (
                HistoryKind::StatusChanged,
                "Alpha".into(),
                Some(Status::Critical)
            ),
            (
                HistoryKind::StatusChanged,
                "Alpha".into(),
                Some(Status::Passing)
            ),
            (HistoryKind::Deregistered, "Beta".into(), None),
            (HistoryKind::Started, String::new(), None),
        ]
    );
    let critical = &page.events[3];
    assert!(
        critical
            .reason
            .starts_with("2 heartbeat checks failed in a row; the last:"),
        "{}",
        critical.reason
    );
    assert_eq!(critical.instance, alpha.url);
    assert_eq!(
        page.events[1].registration.as_ref().unwrap().service_url,
        alpha.url
    );
    // Ids increase, and a page from an id starts at it.
    let ids: Vec<(u64, u32)> = page.events.iter().map(|e| event_order(&e.id)).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let from_third = history(&url, &format!("?from={}&limit=2", page.events[2].id)).await;
    assert_eq!(from_third.events, page.events[2..4]);
    assert_eq!(from_third.next.as_deref(), Some(&*page.events[4].id));
    let of_beta = history(&url, &format!("?instance={}", beta.url)).await;
    assert_eq!(
        of_beta.events.len(),
        4,
        "two starts, Beta's registration and departure"
    );

    // Alpha's time: passing but for the stretch it was critical, then absent once the
    // registry was killed.
    let availability: Availability = get_json(format!(
        "{url}/history/availability?service=Alpha&from={}",
        page.events[1].at
    ))
    .await;
    assert_eq!(availability.instances.len(), 1);
    let alpha_time = &availability.instances[0];
    assert_eq!(alpha_time.instance, alpha.url);
    let states: Vec<&str> = alpha_time.down.iter().map(|d| d.state.as_str()).collect();
    assert_eq!(states, ["critical", "absent"]);
    // The same moment, to the millisecond an interval gives.
    assert_eq!(alpha_time.down[0].from[..23], page.events[3].at[..23]);
    assert!(alpha_time.passing > 0.0 && alpha_time.passing < 1.0);
}

#[tokio::test]
async fn bad_moments_and_parameters_get_a_400_that_says_what_to_write() {
    let dir = temp_dir("history-refusals");
    let registry = Process::registry_with(&dir, &["--history-dir", "h"]);
    let url = &registry.url;
    for (query, expected) in [
        (
            "/history?from=yesterday",
            "yesterday\\\" is neither an RFC 3339 time",
        ),
        ("/history?limit=0", "is not a number from 1 to 10000"),
        ("/history?sevice=A", "unknown parameter \\\"sevice\\\""),
        ("/history?from=9.0&to=8.0", "from is after to"),
        ("/history/availability", "service is missing"),
        ("/services?at=2999-01-01T00:00:00Z", "is in the future"),
        ("/services/Alpha?at=soon", "soon\\\" is neither"),
    ] {
        let (status, body) = refusal(format!("{url}{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(expected), "{query}: {body}");
    }
    // Older than the history: a 404 that says when it begins.
    let (status, body) = refusal(format!("{url}/services?at=2020-01-01T00:00:00Z")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("the registry's history begins at"), "{body}");
    // Without a history, the calls say so.
    let off = Process::registry_with(&dir, &["--history-dir", "off"]);
    let (status, body) = refusal(format!("{}/history", off.url)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("--history-dir off"), "{body}");
    // Two registries on one folder: the second says what to change, and does not start.
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_registryservice"))
        .args(["--addr", "127.0.0.1:0", "--history-dir", "h"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("another registry is using the history folder"),
        "{said}"
    );
    assert!(said.contains("--history-dir"), "{said}");
}

#[tokio::test]
async fn retention_drops_old_events_from_answers_and_from_the_disk() {
    let dir = temp_dir("history-retention");
    let registry =
        Process::registry_with(&dir, &["--history-dir", "h", "--history-retention", "1s"]);
    let services = format!("{}/services", registry.url);
    let client = client();
    let old = serde_json::json!({"ServiceName": "Old", "ServiceURL": "http://127.0.0.1:9/old"});
    register(&client, &services, &old).await;
    let left = client
        .delete(&services)
        .body("http://127.0.0.1:9/old")
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    let holds_old = || {
        files(&dir.join("h")).iter().any(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .contains("/old")
        })
    };
    assert!(holds_old());
    // Later changes go on; the old ones leave the answers, then the disk.
    let mut n = 0;
    until("the old events to leave the answers and the disk", || {
        n += 1;
        let body = serde_json::json!({
            "ServiceName": "New",
            "ServiceURL": format!("http://127.0.0.1:9/new/{n}"),
        });
        let (client, services, url) = (client.clone(), services.clone(), registry.url.clone());
        let holds = holds_old();
        async move {
            register(&client, &services, &body).await;
            let page = history(&url, "").await;
            let answers_old = page.events.iter().any(|e| e.instance.ends_with("/old"));
            !answers_old && !holds
        }
    })
    .await;
    let page = history(&registry.url, "").await;
    assert!(page.events.iter().any(|e| e.service == "New"));
}

/// The segment files in a history folder.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "history"))
        .collect()
}

/// A write that fails (the file may grow no further, as on a full disk): the registration
/// whose record failed, and those that come while the history is failing, get a 503 that
/// says why, until it writes again (in a new segment); then a `gap` lists the changes it
/// missed. Every registration that was acknowledged is in the live listing, and the
/// listing `?at=` now equals the live one. The limit is the
/// process's own file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so the write fails
/// with EFBIG): each segment can hold 16 KiB.
#[tokio::test]
async fn a_failed_write_is_a_503_then_a_gap_and_no_acknowledged_registration_is_lost() {
    use std::process::{Command, Stdio};
    let dir = temp_dir("history-failing");
    let mut command = Command::new("bash");
    command
        .args(["-c", r#"trap '' XFSZ; ulimit -S -f 16; exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_registryservice"))
        .args(["--addr", "127.0.0.1:0", "--history-dir", "h"])
        .current_dir(&dir)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let registry = Process::spawn(command);
    let services = format!("{}/services", registry.url);
    let client = client();
    let mut acknowledged = Vec::new();
    let mut refusals = 0;
    let mut n = 0;
    // Until a refusal was seen and the history wrote again after it.
    while refusals == 0
        || history(&registry.url, "?limit=10000")
            .await
            .events
            .iter()
            .all(|e| e.kind != HistoryKind::Gap)
    {
        n += 1;
        assert!(n < 5_000, "no write ever failed");
        let instance = format!("http://127.0.0.1:9/{n}/{}", "p".repeat(200));
        let body = serde_json::json!({"ServiceName": "Filler", "ServiceURL": instance});
        let answer = client.post(&services).json(&body).send().await.unwrap();
        match answer.status().as_u16() {
            200 => acknowledged.push(instance),
            503 => {
                let reason = answer.text().await.unwrap();
                assert!(
                    reason.contains("cannot write the registry's history"),
                    "{reason}"
                );
                refusals += 1;
            }
            other => panic!("{other}: {}", answer.text().await.unwrap()),
        }
    }
    let health = client
        .get(format!("{}/healthz", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the history writes again");
    let page = history(&registry.url, "?limit=10000").await;
    let gap = page
        .events
        .iter()
        .find(|e| e.kind == HistoryKind::Gap)
        .unwrap();
    assert!(
        gap.reason.contains("could not be recorded"),
        "{}",
        gap.reason
    );
    let (_, live) = listing(&services).await;
    let live: Vec<String> = live
        .into_iter()
        .map(|i| i.registration.service_url)
        .collect();
    let at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    let (_, then) = listing(&format!("{services}?at={at}")).await;
    let then: Vec<String> = then
        .into_iter()
        .map(|i| i.registration.service_url)
        .collect();
    // A registration refused because its record failed was made all the same (sent
    // again, it replaces itself): the listing holds every acknowledged one, and more.
    for instance in &acknowledged {
        assert!(
            live.contains(instance),
            "{instance} was acknowledged, and is gone"
        );
    }
    assert!(live.len() > acknowledged.len());
    assert_eq!(then, live, "the listing now, from the history");
}

/// Beta's view of Alpha after `patches`: whether Alpha was last added (`Some(true)`),
/// removed (`Some(false)`), or not mentioned.
fn alpha_in(patches: &[wire::registry::Patch], alpha: &str) -> Option<bool> {
    patches.iter().fold(None, |seen, patch| {
        if patch.added.iter().any(|e| e.url == alpha) {
            Some(true)
        } else if patch.removed.iter().any(|e| e.url == alpha) {
            Some(false)
        } else {
            seen
        }
    })
}

/// Makes `service` fail its checks, pass, and fail again, each change seen at `registry`:
/// three changes of status.
async fn down_up_down(service: &FakeService, registry: &str) {
    for healthy in [false, true, false] {
        service
            .healthy
            .store(healthy, std::sync::atomic::Ordering::SeqCst);
        let want = if healthy {
            Status::Passing
        } else {
            Status::Critical
        };
        until("its status to change", || async {
            status_of(registry, &service.url).await == Some(want)
        })
        .await;
    }
}

fn take_patches(service: &mut FakeService) -> Vec<wire::registry::Patch> {
    let mut patches = Vec::new();
    while let Ok(patch) = service.patches.try_recv() {
        patches.push(patch);
    }
    patches
}

#[tokio::test]
async fn a_flapping_instance_is_held_out_of_discovery_until_it_passes_a_whole_window() {
    let dir = temp_dir("history-flapping");
    let history_dir = dir.join("history");
    // Three changes begin it, while critical; then it must pass for 8 s: time enough for
    // the checks below on a loaded machine, and little to wait.
    let flags: Vec<&str> = FAST
        .iter()
        .copied()
        .chain(["--history-dir", history_dir.to_str().unwrap()])
        .chain(["--flap-threshold", "3", "--flap-window", "8s"])
        .collect();
    let registry = Process::registry_with(&dir, &flags);
    let url = registry.url.clone();
    let services = format!("{url}/services");
    let client = client();
    let alpha = FakeService::start().await;
    let mut beta = FakeService::start().await;
    register(&client, &services, &alpha.registration("Alpha", &[])).await;
    register(&client, &services, &beta.registration("Beta", &["Alpha"])).await;
    let mut seen = Vec::new();
    until("Beta to be told of Alpha", || {
        seen.extend(take_patches(&mut beta));
        let told = alpha_in(&seen, &alpha.url) == Some(true);
        async move { told }
    })
    .await;
    let alpha_now = || async {
        let (_, all) = listing(&services).await;
        all.into_iter()
            .find(|i| i.registration.service_url == alpha.url)
            .unwrap()
    };
    let set_healthy = |healthy: bool| {
        alpha
            .healthy
            .store(healthy, std::sync::atomic::Ordering::SeqCst)
    };

    // Down, up, down: the third change within the window makes it flapping.
    down_up_down(&alpha, &url).await;
    until("Alpha to be flapping", || async {
        alpha_now().await.flapping
    })
    .await;
    // Up again: passing, yet not given out (not looked up; Beta last told it left).
    set_healthy(true);
    until("Alpha to pass while flapping", || async {
        let now = alpha_now().await;
        now.status == Status::Passing && now.flapping
    })
    .await;
    let flapping_at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    let (_, lookup) = listing(&format!("{services}/Alpha")).await;
    assert!(lookup.is_empty(), "{lookup:?}");
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"registry_instances_flapping{service="Alpha"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("registry_flapping_total 1"), "{metrics}");
    seen.extend(take_patches(&mut beta));
    assert_eq!(alpha_in(&seen, &alpha.url), Some(false));

    // Passing for a whole window: given out again, and Beta told.
    until("Alpha to be steady again", || {
        seen.extend(take_patches(&mut beta));
        let told = alpha_in(&seen, &alpha.url) == Some(true);
        async move { told }
    })
    .await;
    let (_, lookup) = listing(&format!("{services}/Alpha")).await;
    assert_eq!(lookup.len(), 1);
    assert!(!lookup[0].flapping);

    // The history tells it, and replays it.
    let page = history(&url, &format!("?instance={}", alpha.url)).await;
    let kinds: Vec<HistoryKind> = page.events.iter().map(|e| e.kind).collect();
    let flapping = kinds.iter().position(|k| *k == HistoryKind::Flapping);
    let steady = kinds.iter().position(|k| *k == HistoryKind::Steady);
    assert!(
        matches!((flapping, steady), (Some(f), Some(s)) if f < s),
        "{kinds:?}"
    );
    assert!(
        page.events[flapping.unwrap()]
            .reason
            .starts_with("3 status changes within 8s"),
        "{:?}",
        page.events[flapping.unwrap()]
    );
    let (_, then) = listing(&format!("{services}?at={flapping_at}")).await;
    assert!(
        then.iter()
            .any(|i| i.registration.service_url == alpha.url && i.flapping)
    );
    let (_, lookup_then) = listing(&format!("{services}/Alpha?at={flapping_at}")).await;
    assert!(lookup_then.is_empty());
    let availability: Availability =
        get_json(format!("{url}/history/availability?service=Alpha")).await;
    let states: Vec<&str> = availability.instances[0]
        .down
        .iter()
        .map(|d| d.state.as_str())
        .collect();
    assert!(states.contains(&"flapping"), "{states:?}");
}

/// Every event of `node`'s history from `from` through `through` (event orders).
async fn events_between(
    node: &str,
    from: (u64, u32),
    through: (u64, u32),
) -> Vec<wire::registry::HistoryEvent> {
    let page = history(node, "?limit=10000").await;
    assert!(page.next.is_none(), "one page holds this test's history");
    page.events
        .into_iter()
        .filter(|e| (from..=through).contains(&event_order(&e.id)))
        .collect()
}

/// The cluster's history: two nodes on one etcd record the same scenario; one node is
/// killed and misses a registration; etcd is compacted; both are started again (each
/// fills in what it missed from the other). Every captured moment then replays exactly
/// on both, and both answer the same events, with the same times and reasons.
#[tokio::test]
async fn every_moment_replays_on_every_node_of_a_cluster_after_restarts_and_compaction() {
    let dir = temp_dir("history-cluster");
    let etcd = testkit::Etcd::start(&dir).await;
    let history_dir = dir.join("history");
    let flags: Vec<&str> = FAST
        .iter()
        .copied()
        .chain([
            "--etcd",
            etcd.url(),
            "--history-dir",
            history_dir.to_str().unwrap(),
        ])
        .collect();
    let ports = [testkit::ports::reserve(), testkit::ports::reserve()];
    let mut a = Process::registry_on(ports[0], &dir, &flags);
    let mut b = Process::registry_on(ports[1], &dir, &flags);
    let (a_url, b_url) = (a.url.clone(), b.url.clone());
    let nodes_listed = |node: String, count: usize| async move {
        // 503 until the node has loaded the state.
        let Ok(answer) = client().get(format!("{node}/services")).send().await else {
            return false;
        };
        let Ok(all) = answer.json::<Vec<InstanceInfo>>().await else {
            return false;
        };
        all.iter()
            .filter(|i| i.registration.service_name == "Registry")
            .count()
            == count
    };
    until("both nodes to list both", || async {
        nodes_listed(a_url.clone(), 2).await && nodes_listed(b_url.clone(), 2).await
    })
    .await;
    let b_began = history(&b_url, "").await.events[0].clone();
    assert_eq!(b_began.kind, HistoryKind::Started, "{b_began:?}");

    let client = client();
    let alpha = FakeService::start().await;
    let beta = FakeService::start().await;
    let gamma = FakeService::start().await;
    let mut moments = Vec::new();
    // Both nodes at the revision `a` answered at.
    let settled = |moment: &Moment| {
        let revision: u64 = moment.revision.parse().unwrap();
        let b_url = b_url.clone();
        async move {
            until("b to reach a's revision", || async {
                let (seen, _) = listing(&format!("{b_url}/services")).await;
                seen.parse::<u64>().unwrap() >= revision
            })
            .await
        }
    };

    register(
        &client,
        &format!("{a_url}/services"),
        &alpha.registration("Alpha", &[]),
    )
    .await;
    register(
        &client,
        &format!("{b_url}/services"),
        &beta.registration("Beta", &["Alpha"]),
    )
    .await;
    moments.push(capture(&a_url, "both registered").await);
    settled(&moments[0]).await;

    alpha
        .healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    until("Alpha to go critical on both", || async {
        status_of(&a_url, &alpha.url).await == Some(Status::Critical)
            && status_of(&b_url, &alpha.url).await == Some(Status::Critical)
    })
    .await;
    moments.push(capture(&a_url, "Alpha critical").await);

    alpha
        .healthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    until("Alpha to recover on both", || async {
        status_of(&a_url, &alpha.url).await == Some(Status::Passing)
            && status_of(&b_url, &alpha.url).await == Some(Status::Passing)
    })
    .await;
    moments.push(capture(&a_url, "Alpha recovered").await);

    let left = client
        .delete(format!("{b_url}/services"))
        .body(beta.url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    moments.push(capture(&a_url, "Beta deregistered").await);
    settled(&moments[3]).await;

    // b is killed, and misses its own listing's end and Gamma's registration.
    b.kill();
    until("b's listing to end", || nodes_listed(a_url.clone(), 1)).await;
    register(
        &client,
        &format!("{a_url}/services"),
        &gamma.registration("Gamma", &[]),
    )
    .await;
    moments.push(capture(&a_url, "Gamma registered while b was down").await);
    let through = event_order(&moments[4].revision);

    // etcd forgets what b missed: only a's history has it now.
    let revision = moments[4].revision.clone();
    let compacted: serde_json::Value = client
        .post(format!("{}/v3/kv/compaction", etcd.url()))
        .json(&serde_json::json!({ "revision": revision, "physical": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(compacted.get("error").is_none(), "{compacted}");

    // b again, filled from a; then a killed and started again.
    b = Process::registry_on(ports[1], &dir, &flags);
    until("b's history to hold Gamma's registration", || async {
        history(&b_url, &format!("?instance={}", gamma.url))
            .await
            .events
            .iter()
            .any(|e| e.kind == HistoryKind::Registered)
    })
    .await;
    a.kill();
    a = Process::registry_on(ports[0], &dir, &flags);
    until("both nodes to list both again", || async {
        nodes_listed(a_url.clone(), 2).await && nodes_listed(b_url.clone(), 2).await
    })
    .await;

    for node in [&a_url, &b_url] {
        replays(node, &moments).await;
    }

    // The same events on both, times and reasons included, and no gap: b's came from a.
    // (From the scenario's first: a node's own start may hold back the time of the
    // changes just after it, in its files only; their registrations say when they were.)
    let first = history(&a_url, &format!("?instance={}", alpha.url))
        .await
        .events
        .into_iter()
        .find(|e| e.kind == HistoryKind::Registered)
        .unwrap()
        .id;
    let on_a = events_between(&a_url, event_order(&first), through).await;
    let on_b = events_between(&b_url, event_order(&first), through).await;
    assert_eq!(on_a, on_b);
    let told: Vec<(HistoryKind, &str)> = on_a
        .iter()
        .filter(|e| e.service != "Registry")
        .map(|e| (e.kind, e.service.as_str()))
        .collect();
    assert_eq!(
        told,
        [
            (HistoryKind::Registered, "Alpha"),
            (HistoryKind::Registered, "Beta"),
            (HistoryKind::StatusChanged, "Alpha"),
            (HistoryKind::StatusChanged, "Alpha"),
            (HistoryKind::Deregistered, "Beta"),
            (HistoryKind::Registered, "Gamma"),
        ]
    );
    let critical = on_a
        .iter()
        .find(|e| e.status == Some(Status::Critical))
        .unwrap();
    assert!(
        critical
            .reason
            .starts_with("2 heartbeat checks failed in a row; the last:"),
        "the leader's reason, on every node: {}",
        critical.reason
    );
    for node in [&a_url, &b_url] {
        // A page says the revision the node had applied: a peer filling in waits for it.
        let answer = client.get(format!("{node}/history")).send().await.unwrap();
        let applied: u64 = answer.headers()[wire::registry::APPLIED_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(applied >= through.0, "{node}: {applied}");
        let all = history(node, "?limit=10000").await;
        assert!(
            all.events.iter().all(|e| e.kind != HistoryKind::Gap),
            "{node}: {:?}",
            all.events
        );
    }
    drop((a, b));
}

/// Flapping in a cluster: every node counts the changes, the leader decides, and every
/// node holds the instance out (and gives it back) at the same event; a node started
/// again meanwhile still holds it out, from etcd.
#[tokio::test]
async fn in_a_cluster_the_leader_decides_flapping_and_every_node_follows_even_after_a_restart() {
    let dir = temp_dir("history-cluster-flapping");
    let etcd = testkit::Etcd::start(&dir).await;
    let history_dir = dir.join("history");
    let flags: Vec<&str> = FAST
        .iter()
        .copied()
        .chain(["--etcd", etcd.url()])
        .chain(["--history-dir", history_dir.to_str().unwrap()])
        .chain(["--flap-threshold", "3", "--flap-window", "8s"])
        .collect();
    let ports = [testkit::ports::reserve(), testkit::ports::reserve()];
    let a = Process::registry_on(ports[0], &dir, &flags);
    let mut b = Process::registry_on(ports[1], &dir, &flags);
    let nodes = [a.url.clone(), b.url.clone()];
    let client = client();
    let alpha = FakeService::start().await;
    let mut beta = FakeService::start().await;
    let services = format!("{}/services", nodes[0]);
    until("both nodes to answer", || async {
        let mut up = true;
        for node in &nodes {
            up &= client
                .get(format!("{node}/services"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
        }
        up
    })
    .await;
    register(&client, &services, &alpha.registration("Alpha", &[])).await;
    register(
        &client,
        &format!("{}/services", nodes[1]),
        &beta.registration("Beta", &["Alpha"]),
    )
    .await;
    let mut seen = Vec::new();
    until("Beta to be told of Alpha", || {
        seen.extend(take_patches(&mut beta));
        let told = alpha_in(&seen, &alpha.url) == Some(true);
        async move { told }
    })
    .await;
    let alpha_on = |node: String| {
        let alpha = alpha.url.clone();
        async move {
            let answer = common::client()
                .get(format!("{node}/services"))
                .send()
                .await
                .ok()?;
            let all: Vec<InstanceInfo> = answer.json().await.ok()?;
            all.into_iter()
                .find(|i| i.registration.service_url == alpha)
        }
    };
    let set_healthy = |healthy: bool| {
        alpha
            .healthy
            .store(healthy, std::sync::atomic::Ordering::SeqCst)
    };

    down_up_down(&alpha, &nodes[0]).await;
    set_healthy(true);
    until("Alpha to pass, flapping, on both nodes", || async {
        let mut all = true;
        for node in &nodes {
            all &= alpha_on(node.clone())
                .await
                .is_some_and(|i| i.status == Status::Passing && i.flapping);
        }
        all
    })
    .await;
    for node in &nodes {
        let (_, lookup) = listing(&format!("{node}/services/Alpha")).await;
        assert!(lookup.is_empty(), "{node}: {lookup:?}");
    }
    seen.extend(take_patches(&mut beta));
    assert_eq!(
        alpha_in(&seen, &alpha.url),
        Some(false),
        "Beta told it left"
    );

    // A node started again while it flaps holds it out too: etcd says so.
    b.kill();
    b = Process::registry_on(ports[1], &dir, &flags);
    until("the restarted node to answer", || async {
        alpha_on(nodes[1].clone()).await.is_some()
    })
    .await;
    let after_restart = alpha_on(nodes[1].clone()).await.unwrap();
    assert!(after_restart.flapping, "{after_restart:?}");

    // Passing for a whole window: given out again, on both, and Beta told.
    until("Alpha to be steady again on both nodes", || async {
        let mut all = true;
        for node in &nodes {
            all &= alpha_on(node.clone()).await.is_some_and(|i| !i.flapping);
        }
        all
    })
    .await;
    until("Beta to be told Alpha is back", || {
        seen.extend(take_patches(&mut beta));
        let told = alpha_in(&seen, &alpha.url) == Some(true);
        async move { told }
    })
    .await;
    for node in &nodes {
        let (_, lookup) = listing(&format!("{node}/services/Alpha")).await;
        assert_eq!(lookup.len(), 1, "{node}");
    }

    // Both nodes tell it alike: the same events, at the same ids, times and reasons.
    let told = |node: String| {
        let alpha = alpha.url.clone();
        async move {
            history(&node, &format!("?instance={alpha}"))
                .await
                .events
                .into_iter()
                .filter(|e| matches!(e.kind, HistoryKind::Flapping | HistoryKind::Steady))
                .collect::<Vec<_>>()
        }
    };
    let on_a = told(nodes[0].clone()).await;
    let on_b = told(nodes[1].clone()).await;
    assert_eq!(on_a, on_b);
    let kinds: Vec<HistoryKind> = on_a.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [HistoryKind::Flapping, HistoryKind::Steady]);
    assert!(
        on_a[0].reason.starts_with("3 status changes within 8s"),
        "{:?}",
        on_a[0]
    );
    drop((a, b));
}

/// An instance named `Registry` at a server someone chose (only a holder of the token
/// may register one), which would answer any history asked of it: a node filling in what it
/// missed asks only the nodes in etcd's election (which only nodes write), so the token it
/// carries never goes there, and nothing forged is taken.
#[tokio::test]
async fn a_node_fills_its_history_only_from_the_elections_nodes_never_a_registered_url() {
    const TOKEN: &str = "history-fill-token";
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = asked.clone();
    let forged = axum::Router::new().fallback(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async {
            axum::Json(HistoryPage {
                events: Vec::new(),
                next: None,
            })
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, forged).await });

    let dir = temp_dir("history-fill-peers");
    let etcd = testkit::Etcd::start(&dir).await;
    let history_dir = dir.join("history");
    let flags = [
        "--etcd",
        etcd.url(),
        "--history-dir",
        history_dir.to_str().unwrap(),
        "--token",
        TOKEN,
        "--token-reads",
    ];
    let ports = [testkit::ports::reserve(), testkit::ports::reserve()];
    let a = Process::registry_on(ports[0], &dir, &flags);
    let mut b = Process::registry_on(ports[1], &dir, &flags);
    let get = |url: String| async move {
        common::client()
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
    };
    until("both nodes to answer", || async {
        get(format!("{}/services", a.url)).await.is_some()
            && get(format!("{}/services", b.url)).await.is_some()
    })
    .await;
    let register = |body: serde_json::Value| {
        let services = format!("{}/services", a.url);
        async move {
            let answer = common::client()
                .post(services)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
        }
    };
    register(serde_json::json!({ "ServiceName": "Registry", "ServiceURL": elsewhere })).await;

    // b misses a registration, then fills it in from a.
    b.kill();
    register(serde_json::json!({
        "ServiceName": "Missed",
        "ServiceURL": "http://127.0.0.1:9/missed",
    }))
    .await;
    b = Process::registry_on(ports[1], &dir, &flags);
    let filled = || async {
        let page: HistoryPage = get(format!("{}/history?limit=10000", b.url))
            .await?
            .json()
            .await
            .ok()?;
        Some(page)
    };
    until("b's history to hold what it missed", || async {
        filled().await.is_some_and(|page| {
            page.events
                .iter()
                .any(|e| e.kind == HistoryKind::Registered && e.service == "Missed")
        })
    })
    .await;
    let page = filled().await.unwrap();
    assert!(
        page.events.iter().all(|e| e.kind != HistoryKind::Gap),
        "filled from a, with nothing missing: {:?}",
        page.events
    );
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the server registered as Registry was asked"
    );
    drop((a, b));
}
