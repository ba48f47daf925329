//! The history on disk: records come back, torn ones are skipped, replays are right from
//! any checkpoint, retention drops old segments, and a failing write is a gap.

use std::{
    ops::ControlFlow,
    time::{Duration, SystemTime},
};

use wire::registry::{HistoryKind, Registration, Status};

use super::{query::EventFilter, replay::Snap, *};

fn dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "distributed-history-{tag}-{}-{}",
        std::process::id(),
        micros(SystemTime::now())
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path, max_bytes: u64) -> History {
    History::open(HistoryConfig {
        dir: dir.to_owned(),
        retention: Duration::from_secs(7 * 86_400),
        max_bytes,
    })
    .unwrap()
}

fn id(n: u64) -> EventId {
    format!("{n}.0").parse().unwrap()
}

/// A registry of instances `http://i/<n>`, changed one event at a time, as the state
/// would record them; `instances` is what a checkpoint takes.
struct Script {
    instances: std::collections::BTreeMap<String, Snap>,
    next: u64,
    micros: u64,
}

impl Script {
    fn new() -> Script {
        Script {
            instances: Default::default(),
            next: 1_000,
            micros: micros(SystemTime::now()) - 3_600_000_000,
        }
    }

    fn step(&mut self, history: &History, kind: HistoryKind, n: u32) -> (EventId, u64) {
        self.next += 1;
        self.micros += 1_000_000;
        let url = format!("http://i/{n}");
        let registration = Registration {
            service_name: format!("S{}", n % 3),
            service_url: url.clone(),
            ..Registration::default()
        };
        let status = match kind {
            HistoryKind::Registered => {
                self.instances.insert(
                    url.clone(),
                    Snap {
                        registration: registration.clone(),
                        status: Status::Passing,
                        registered_at: crate::registry::state::timestamp(replay::time_of(
                            self.micros,
                        )),
                    },
                );
                Some(Status::Passing)
            }
            HistoryKind::StatusChanged => {
                let snap = self.instances.get_mut(&url).unwrap();
                snap.status = match snap.status {
                    Status::Passing => Status::Critical,
                    Status::Critical => Status::Passing,
                };
                Some(snap.status)
            }
            _ => {
                self.instances.remove(&url);
                None
            }
        };
        let event = Change {
            kind,
            service: registration.service_name.clone(),
            instance: url,
            status,
            reason: "scripted".into(),
            registration: (kind == HistoryKind::Registered).then_some(registration),
        };
        // Written by the next commit, many at once.
        history.record(id(self.next), replay::time_of(self.micros), event);
        (id(self.next), self.micros)
    }

    fn listing(&self) -> Vec<wire::registry::InstanceInfo> {
        Model::from_checkpoint(Checkpoint {
            event: None,
            instances: self.instances.values().cloned().collect(),
        })
        .listing()
    }

    /// A churn of `n` changes over 40 instances.
    fn churn(
        &mut self,
        history: &History,
        n: usize,
    ) -> Vec<(EventId, u64, Vec<wire::registry::InstanceInfo>)> {
        let mut moments = Vec::new();
        for step in 0..n {
            let instance = (step * 7 % 40) as u32;
            let kind = match (
                self.instances.contains_key(&format!("http://i/{instance}")),
                step % 5,
            ) {
                (false, _) => HistoryKind::Registered,
                (true, 0) => HistoryKind::Deregistered,
                (true, 1) => HistoryKind::Dropped,
                (true, _) => HistoryKind::StatusChanged,
            };
            let (id, micros) = self.step(history, kind, instance);
            moments.push((id, micros, self.listing()));
        }
        history.commit_blocking();
        moments
    }
}

fn listing(then: Then) -> Vec<wire::registry::InstanceInfo> {
    match then {
        Then::Known { model, .. } => model.listing(),
        Then::Before { .. } => panic!("before the history"),
    }
}

#[test]
fn every_moment_replays_by_time_and_by_id_across_checkpoints_and_a_restart() {
    let dir = dir("replay");
    let mut script = Script::new();
    let moments = {
        let history = open(&dir, 1 << 30);
        history.begin(id(1_000), replay::time_of(script.micros));
        script.churn(&history, 3_000)
    };
    // Reopened, as after a restart: the index is rebuilt from the files.
    let history = open(&dir, 1 << 30);
    let checkpoints: usize = history
        .index
        .read()
        .iter()
        .map(|s| s.checkpoints.len())
        .sum();
    assert!(checkpoints > 3, "{checkpoints} checkpoints");
    for (id, micros, expected) in moments.iter().step_by(37) {
        assert_eq!(
            &listing(history.at(Point::Id(*id)).unwrap()),
            expected,
            "at {id}"
        );
        assert_eq!(
            &listing(history.at(Point::Time(*micros)).unwrap()),
            expected,
            "at {micros}"
        );
        // Half a second later is still the same moment.
        assert_eq!(
            &listing(history.at(Point::Time(micros + 500_000)).unwrap()),
            expected
        );
    }
    // Before the first record, nothing is known.
    assert!(matches!(
        history.at(Point::Time(moments[0].1 - 2_000_000)).unwrap(),
        Then::Before { begins: Some(_) }
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn torn_and_corrupt_records_are_skipped_and_counted_never_fatal() {
    let dir = dir("torn");
    let mut script = Script::new();
    let moments = {
        let history = open(&dir, 1 << 30);
        history.begin(id(1_000), replay::time_of(script.micros));
        script.churn(&history, 20)
    };
    let path = files::segments(&dir).unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // One record corrupted in the middle, and a torn one at the end (a crash mid-write).
    let lines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(at, _)| at)
        .collect();
    bytes[lines[10] - 20] ^= 0x01;
    bytes.extend_from_slice(b"e\t99999.0\t12");
    std::fs::write(&path, &bytes).unwrap();
    let history = open(&dir, 1 << 30);
    let (_, skipped) = files::index(&path).unwrap();
    assert_eq!(skipped, 1);
    let page = history
        .events(&EventFilter {
            from: None,
            to: None,
            service: None,
            instance: None,
            limit: 1000,
        })
        .unwrap();
    // The started event and 20 changes, less the corrupt one.
    assert_eq!(page.events.len(), 20);
    assert_eq!(page.events[0].kind, HistoryKind::Started);
    // A moment before the corrupt record still replays exactly.
    let (id, _, expected) = &moments[5];
    assert_eq!(&listing(history.at(Point::Id(*id)).unwrap()), expected);
    // And writing goes on after the torn tail, in a segment of its own.
    history.begin(*id, SystemTime::now());
    history.commit_blocking();
    assert_eq!(files::segments(&dir).unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pages_filter_and_say_where_the_next_starts() {
    let dir = dir("pages");
    let mut script = Script::new();
    let history = open(&dir, 1 << 30);
    history.begin(id(1_000), replay::time_of(script.micros));
    let moments = script.churn(&history, 200);
    let all = |from, to, service: Option<&str>, limit| {
        history
            .events(&EventFilter {
                from,
                to,
                service: service.map(str::to_owned),
                instance: None,
                limit,
            })
            .unwrap()
    };
    let whole = all(None, None, None, 10_000);
    assert_eq!(whole.events.len(), 201);
    assert_eq!(whole.next, None);
    // Page by page, each from the last's `Next`, gives the same events.
    let mut paged = Vec::new();
    let mut from = None;
    loop {
        let page = all(from, None, None, 30);
        paged.extend(page.events);
        match page.next {
            Some(next) => from = Some(Point::Id(next.parse().unwrap())),
            None => break,
        }
    }
    assert_eq!(paged, whole.events);
    // From and to are inclusive, as ids and as times.
    let (first, _, _) = moments[10];
    let (last, last_micros, _) = moments[20];
    let page = all(
        Some(Point::Id(first)),
        Some(Point::Time(last_micros)),
        None,
        1000,
    );
    assert_eq!(page.events.len(), 11);
    assert_eq!(page.events[0].id, first.to_string());
    assert_eq!(page.events[10].id, last.to_string());
    // A service's events, and the start that concerns every instance.
    let s1 = all(None, None, Some("S1"), 1000);
    assert!(s1.events.iter().skip(1).all(|e| e.service == "S1"));
    assert_eq!(s1.events[0].kind, HistoryKind::Started);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_by_size_drops_the_oldest_segments_and_what_is_left_replays() {
    let dir = dir("retention");
    let mut script = Script::new();
    let history = open(&dir, 1024 * 1024);
    history.begin(id(1_000), replay::time_of(script.micros));
    let moments = script.churn(&history, 20_000);
    history.trim();
    let total: u64 = history.index.read().iter().map(|s| s.bytes).sum();
    assert!(
        total <= 1024 * 1024 + history.segment_bytes,
        "{total} bytes kept"
    );
    let on_disk: u64 = files::segments(&dir)
        .unwrap()
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(on_disk, total);
    // The oldest moments are gone; the latest replay.
    assert!(matches!(
        history.at(Point::Id(moments[0].0)).unwrap(),
        Then::Before { .. }
    ));
    let (id, _, expected) = moments.last().unwrap();
    assert_eq!(&listing(history.at(Point::Id(*id)).unwrap()), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_registry_per_folder() {
    let dir = dir("lock");
    let _first = open(&dir, 1 << 30);
    let err = History::open(HistoryConfig {
        dir: dir.clone(),
        retention: Duration::from_secs(60),
        max_bytes: 1 << 30,
    })
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("another registry is using"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scan_reads_each_line_once_in_order() {
    let dir = dir("scan");
    let mut script = Script::new();
    let history = open(&dir, 1 << 30);
    history.begin(id(1_000), replay::time_of(script.micros));
    script.churn(&history, 500);
    let mut ids = Vec::new();
    history
        .scan(Point::Time(0), false, |line| {
            if line.tag == Tag::Event {
                ids.push(line.id);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(ids.len(), 500);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let _ = std::fs::remove_dir_all(&dir);
}
