//! The registry's history (`history`): `GET /services?at=` with 1,000,000 recorded events
//! beside a live `GET /services` of the same registry, and the disk a million events take.
//! (Registrations with the history on beside it off are the `registrations` figure.)
//!
//! The million events are written straight into a history folder through the registry's
//! own [`History`] (a registry takes about 100 s to make them over HTTP; the files are the
//! same), spread over the last six days: 100 instances registering, going critical and
//! back, and leaving. Then a `registryservice` opens the folder, 100 instances register
//! live, and the two calls are timed one after the other, interleaved.

use std::time::{Duration, Instant, SystemTime};

use server::registry::{
    history::{Change, History, HistoryConfig, micros, replay},
    journal::EventId,
};
use wire::registry::{HistoryKind, InstanceInfo, Registration, Status};

use crate::{
    figure::{Figure, ms, percentile, times_str},
    load::timed_gets,
    procs::{temp_dir, wait_up},
    registry::{register, registry},
};

/// Events written.
const EVENTS: u64 = 1_000_000;
/// Instances the events are about, and registered live.
const INSTANCES: usize = 100;
/// Requests timed of each kind.
const REQUESTS: usize = 400;

pub(crate) async fn figures() -> Vec<Figure> {
    eprintln!("bench: history ({EVENTS} events) …");
    let dir = temp_dir("history");
    let started = Instant::now();
    // It writes as a registry's commit does from a thread that may block.
    let span = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || write_events(&dir)
    })
    .await
    .unwrap();
    let written = started.elapsed();
    let bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();

    let started = Instant::now();
    let (_registry, url) = registry(&["--history-dir", dir.to_str().unwrap()]);
    wait_up(&format!("{url}/services")).await;
    let opened = started.elapsed();
    let client = reqwest::Client::new();
    for n in 0..INSTANCES {
        register(
            &client,
            &url,
            serde_json::json!({
                "ServiceName": format!("S{}", n % 10),
                "ServiceURL": format!("http://127.0.0.1:9/live/{n}"),
            }),
        )
        .await;
    }
    let live = format!("{url}/services");
    let (mut live_times, mut at_times) = (Vec::new(), Vec::new());
    let mut random = fastrand::Rng::with_seed(7);
    let (mut live_bytes, mut at_bytes) = (0, 0);
    for _ in 0..REQUESTS {
        live_bytes = timed_gets(&client, &live, 1, &mut live_times).await;
        let at = span.0 + random.u64(0..span.1 - span.0);
        let moment =
            humantime::format_rfc3339_micros(SystemTime::UNIX_EPOCH + Duration::from_micros(at));
        at_bytes = at_bytes
            .max(timed_gets(&client, &format!("{live}?at={moment}"), 1, &mut at_times).await);
    }
    live_times.sort();
    at_times.sort();
    let (live_p99, at_p99) = (percentile(&live_times, 0.99), percentile(&at_times, 0.99));
    let ratio = at_p99.as_secs_f64() / live_p99.as_secs_f64();
    vec![
        Figure {
            name: "GET /services?at= p99",
            how: format!(
                "{EVENTS} events over 6 days, {INSTANCES} instances; {REQUESTS} random moments, \
                 sequential, interleaved with the live call (answers up to {at_bytes} bytes)"
            ),
            baseline: format!(
                "GET /services now, {INSTANCES} instances ({live_bytes} bytes): p99 {}",
                ms(live_p99)
            ),
            measured: format!(
                "p99 {} (p50 {})",
                ms(at_p99),
                ms(percentile(&at_times, 0.5))
            ),
            ratio: times_str(ratio),
            target: "≤ 10× the live listing's p99".into(),
            holds: Some(ratio <= 10.0),
        },
        Figure {
            name: "history disk per million events",
            how: format!(
                "{EVENTS} events written through the registry's History in {:.1} s; a \
                 registryservice opened (indexed) them in {:.1} s",
                written.as_secs_f64(),
                opened.as_secs_f64()
            ),
            baseline: crate::figure::no_baseline("the files' size is the figure"),
            measured: format!(
                "{:.0} MiB ({:.0} bytes an event, checkpoints included)",
                bytes as f64 / (1024.0 * 1024.0) * 1_000_000.0 / EVENTS as f64,
                bytes as f64 / EVENTS as f64
            ),
            ratio: "—".into(),
            target: "report".into(),
            holds: None,
        },
    ]
}

/// Writes [`EVENTS`] events into a history in `dir`, as a registry records them; returns
/// the first and last event's time (microseconds).
fn write_events(dir: &std::path::Path) -> (u64, u64) {
    let history = History::open(HistoryConfig {
        dir: dir.to_owned(),
        retention: Duration::from_secs(7 * 86_400),
        max_bytes: 1024 * 1024 * 1024,
    })
    .unwrap();
    let now = micros(SystemTime::now());
    let first = now - 6 * 86_400 * 1_000_000;
    let step = (now - 60_000_000 - first) / EVENTS;
    let revision = first;
    history.begin(EventId::all_of(revision), time(first));
    let mut instances: Vec<Option<InstanceInfo>> = vec![None; INSTANCES];
    let mut random = fastrand::Rng::with_seed(1);
    for n in 0..EVENTS {
        let at = first + (n + 1) * step;
        let slot = random.usize(0..INSTANCES);
        let url = format!("http://127.0.0.1:9/recorded/{slot}");
        let service = format!("S{}", slot % 10);
        let (kind, status) = match &mut instances[slot] {
            None => {
                instances[slot] = Some(replay::kept(
                    Registration {
                        service_name: service.clone(),
                        service_url: url.clone(),
                        heartbeat_url: format!("{url}/heartbeat"),
                        ..Registration::default()
                    },
                    humantime::format_rfc3339_millis(time(at)).to_string(),
                ));
                (HistoryKind::Registered, Some(Status::Passing))
            }
            Some(_) if random.u8(0..20) == 0 => {
                instances[slot] = None;
                (HistoryKind::Deregistered, None)
            }
            Some(snap) => {
                snap.status = match snap.status {
                    Status::Passing => Status::Critical,
                    Status::Critical => Status::Passing,
                };
                (HistoryKind::StatusChanged, Some(snap.status))
            }
        };
        let event = Change {
            kind,
            service,
            instance: url,
            status,
            reason: "2 heartbeat checks failed in a row; the last: connection refused".into(),
            registration: instances[slot]
                .as_ref()
                .filter(|_| kind == HistoryKind::Registered)
                .map(|snap| snap.registration.clone()),
        };
        let id: EventId = format!("{}.0", revision + n + 1).parse().unwrap();
        // Written by the commit below, many at once.
        history.record(id, time(at), event);
        if n % 4096 == 0 {
            history.commit_blocking();
        }
    }
    history.commit_blocking();
    history.sync();
    (first, first + EVENTS * step)
}

fn time(micros: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(micros)
}
