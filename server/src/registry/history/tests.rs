//! The history on disk: records come back, torn ones are skipped, replays are right from
//! any checkpoint, retention drops old segments, and a failing write is a gap.

use std::{
    ops::ControlFlow,
    time::{Duration, SystemTime},
};

use wire::registry::{HistoryKind, Registration, Status};

use super::{query::EventFilter, *};
use wire::registry::HistoryEvent;

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

/// A history in a new folder for `tag`, begun, and the script that changes it.
fn begun(tag: &str, max_bytes: u64) -> (PathBuf, History, Script) {
    let dir = dir(tag);
    let history = open(&dir, max_bytes);
    let script = Script::new();
    history.begin(id(1_000), replay::time_of(script.micros));
    (dir, history, script)
}

fn id(n: u64) -> EventId {
    format!("{n}.0").parse().unwrap()
}

/// A registry of instances `http://i/<n>`, changed one event at a time, as the state
/// would record them; `instances` is what a checkpoint takes.
struct Script {
    instances: std::collections::BTreeMap<String, wire::registry::InstanceInfo>,
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
                    replay::kept(
                        registration.clone(),
                        crate::registry::state::timestamp(replay::time_of(self.micros)),
                    ),
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
    let (dir, history, mut script) = begun("pages", 1 << 30);
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
    assert_eq!(paged(&history, 30, MAX_PAGE_SCAN_BYTES), whole.events);
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
    let (dir, history, mut script) = begun("retention", 1024 * 1024);
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
    let (dir, history, mut script) = begun("scan", 1 << 30);
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

/// A registration of `url` whose `Meta` weighs about `kib` KiB, told `meta` apart.
fn heavy(url: &str, kib: usize, meta: &str) -> Registration {
    Registration {
        service_name: "Heavy".into(),
        service_url: url.into(),
        meta: (0..kib * 2)
            .map(|n| (format!("k{n}"), format!("{meta}{}", "v".repeat(500))))
            .collect(),
        ..Registration::default()
    }
}

fn registered(registration: Registration) -> Change {
    Change {
        kind: HistoryKind::Registered,
        status: Some(Status::Passing),
        reason: "registered again (its entry replaced)".into(),
        registration: Some(registration),
        ..Change::default()
    }
}

fn folder_bytes(dir: &Path) -> u64 {
    files::segments(dir)
        .unwrap()
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn a_registration_sent_again_unchanged_costs_a_line_and_still_replays() {
    let dir = dir("unchanged");
    let history = open(&dir, 1 << 30);
    let start = micros(SystemTime::now()) - 3_600_000_000;
    history.begin(id(1_000), replay::time_of(start));
    history.record(
        id(1_001),
        replay::time_of(start + 1_000_000),
        registered(heavy("http://h/1", 32, "a")),
    );
    history.commit_blocking();
    let before = folder_bytes(&dir);
    // 500 times the same 32 KiB: a service re-registering on a timer, or a client trying
    // to flush the history.
    for n in 0..500 {
        history.record(
            id(1_002 + n),
            replay::time_of(start + 2_000_000 + n * 1_000_000),
            registered(heavy("http://h/1", 32, "a")),
        );
    }
    history.commit_blocking();
    let grown = folder_bytes(&dir) - before;
    assert!(
        grown < 500 * 400,
        "{grown} bytes for 500 unchanged registrations"
    );
    // Each is a new entry all the same: the replay has its time, and the registration.
    let then = listing(history.at(Point::Id(id(1_250))).unwrap());
    assert_eq!(then.len(), 1);
    assert_eq!(then[0].registration, heavy("http://h/1", 32, "a"));
    assert_eq!(
        then[0].registered_at,
        crate::registry::state::timestamp(replay::time_of(start + 2_000_000 + 248 * 1_000_000))
    );
    let page = history
        .events(&EventFilter {
            from: Some(Point::Id(id(1_002))),
            to: Some(Point::Id(id(1_002))),
            service: None,
            instance: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(page.events[0].reason, UNCHANGED);
    assert_eq!(page.events[0].registration, None);
    // A changed one is recorded whole, and replays as changed.
    history.record(
        id(2_000),
        replay::time_of(start + 600_000_000),
        registered(heavy("http://h/1", 32, "b")),
    );
    history.commit_blocking();
    assert!(folder_bytes(&dir) - before - grown > 32 * 1024);
    let then = listing(history.at(Point::Id(id(2_000))).unwrap());
    assert_eq!(then[0].registration, heavy("http://h/1", 32, "b"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_segment_holds_several_times_its_checkpoint_within_half_the_max_size() {
    /// 50 instances of about 2 KiB (a checkpoint of about 100 KiB), then 2,000 small
    /// changes (about 300 KB) committed as a busy registry's upkeep sees them; the
    /// segments kept.
    fn run(dir: &Path, max_bytes: u64) -> Vec<Segment> {
        let history = open(dir, max_bytes);
        let start = micros(SystemTime::now()) - 3_600_000_000;
        history.begin(id(1_000), replay::time_of(start));
        for n in 0..50 {
            history.record(
                id(1_001 + n),
                replay::time_of(start + n),
                registered(heavy(&format!("http://h/{n}"), 2, "a")),
            );
        }
        history.commit_blocking();
        for n in 0..2_000u64 {
            history.record(
                id(2_000 + n),
                replay::time_of(start + 1_000_000 + n),
                Change {
                    kind: HistoryKind::StatusChanged,
                    service: "Heavy".into(),
                    instance: format!("http://h/{}", n % 50),
                    status: Some(if n % 2 == 0 {
                        Status::Critical
                    } else {
                        Status::Passing
                    }),
                    reason: "scripted".into(),
                    registration: None,
                },
            );
            if n % 20 == 0 {
                history.commit_blocking();
            }
        }
        history.commit_blocking();
        history.trim();
        history.index.read().clone()
    }
    // 1 MiB: an eighth is 128 KiB, where the first segment (its checkpoint empty) closes.
    // The next starts with the 100 KiB, so it holds 4 times that (400 KiB) of events: the
    // rest are in it, not in three more segments that each copy the 100 KiB.
    let dir = dir("heavy-checkpoint");
    let segments = run(&dir, 1024 * 1024);
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert!(segments[1].bytes > 300 * 1024, "{segments:?}");
    let _ = std::fs::remove_dir_all(&dir);
    // 256 KiB: four checkpoints' worth is more than half of it, so a segment closes at
    // half, and the retention keeps the folder within the max.
    let segments = run(&dir, 256 * 1024);
    let kept: u64 = segments.iter().map(|s| s.bytes).sum();
    assert!(kept <= 256 * 1024, "{kept} bytes in {segments:?}");
    assert_eq!(segments.last().unwrap().last_id, id(3_999));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Makes the writer fail as a full disk would.
fn fail_writer(history: &History) {
    let mut writer = history.writer.try_lock().unwrap();
    writer.fail(
        &history.shared,
        &io::Error::other("no space left (scripted)"),
    );
}

/// Has a failing writer try again now.
fn retry_now(history: &History) {
    history.writer.try_lock().unwrap().tried = None;
    history.commit_blocking();
}

#[test]
fn every_change_lost_while_failing_is_told_and_the_gap_counts_them() {
    let dir = dir("unrecorded");
    let history = open(&dir, 1 << 30);
    let start = micros(SystemTime::now()) - 3_600_000_000;
    history.begin(id(1_000), replay::time_of(start));
    let mut script = Script::new();
    script.next = 1_000;
    script.micros = start;
    script.step(&history, HistoryKind::Registered, 1);
    history.commit_blocking();
    let before = history.mark();
    assert!(before.is_some(), "a history that writes is marked");
    fail_writer(&history);
    assert_eq!(history.mark(), None, "no mark while it fails");
    // 200 changes while failing, each of its own revision, committed one by one as the
    // registry's callers do.
    let lost: Vec<EventId> = (0..200)
        .map(|_| {
            let (id, _) = script.step(&history, HistoryKind::StatusChanged, 1);
            let mut writer = history.writer.try_lock().unwrap();
            history.write(&mut writer, false);
            id
        })
        .collect();
    for id in &lost {
        let why = history.unrecorded.lock().why(*id);
        assert!(
            why.as_deref()
                .is_some_and(|why| why.contains("could not record")),
            "{id}: {why:?}"
        );
    }
    retry_now(&history);
    assert_eq!(history.failing(), None);
    let after = history.mark();
    assert!(
        after.is_some() && after != before,
        "a failure between two marks shows: {before:?}, then {after:?}"
    );
    assert!(history.writer.try_lock().unwrap().tried.is_none());
    let (after, _) = script.step(&history, HistoryKind::StatusChanged, 1);
    history.commit_blocking();
    assert_eq!(history.unrecorded.lock().why(after), None);
    let gaps: Vec<_> = all_events(&history)
        .into_iter()
        .filter(|e| e.kind == HistoryKind::Gap)
        .collect();
    assert_eq!(gaps.len(), 1);
    assert!(
        gaps[0].reason.starts_with("200 changes"),
        "{}",
        gaps[0].reason
    );
    // The replay after the gap is right again.
    assert_eq!(
        listing(history.at(Point::Id(after)).unwrap()),
        script.listing()
    );
    // A failure that lost nothing lists no gap.
    fail_writer(&history);
    retry_now(&history);
    assert_eq!(history.failing(), None);
    let gaps = all_events(&history)
        .into_iter()
        .filter(|e| e.kind == HistoryKind::Gap)
        .count();
    assert_eq!(gaps, 1);
    // Past UNRECORDED_KEPT failures, the oldest stretch is not vouched for either way.
    for _ in 0..UNRECORDED_KEPT {
        fail_writer(&history);
        script.step(&history, HistoryKind::StatusChanged, 1);
        history.write(&mut history.writer.try_lock().unwrap(), false);
        retry_now(&history);
    }
    let why = history.unrecorded.lock().why(lost[0]);
    assert!(
        why.as_deref()
            .is_some_and(|why| why.contains("no longer known")),
        "{why:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every event, page by page (`limit` events and `budget` bytes a page), each from the
/// last's `Next`; at most 10,000 pages, so a page that stands still fails the test.
fn paged(history: &History, limit: usize, budget: u64) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    let mut from = None;
    for _ in 0..10_000 {
        let filter = EventFilter {
            from,
            to: None,
            service: None,
            instance: None,
            limit,
        };
        let page = history.events_within(&filter, budget).unwrap();
        events.extend(page.events);
        match page.next {
            Some(next) => from = Some(Point::Id(next.parse().unwrap())),
            None => return events,
        }
    }
    panic!("10,000 pages and still a Next");
}

fn all_events(history: &History) -> Vec<HistoryEvent> {
    history
        .events(&EventFilter {
            from: None,
            to: None,
            service: None,
            instance: None,
            limit: 10_000,
        })
        .unwrap()
        .events
}

#[test]
fn an_upkeep_round_before_the_start_writes_no_gap() {
    let dir = dir("early-upkeep");
    let history = open(&dir, 1 << 30);
    // `maintain`'s first round, before the store begins the history.
    history.commit_blocking();
    assert!(files::segments(&dir).unwrap().is_empty());
    let mut script = Script::new();
    history.begin(id(1_000), replay::time_of(script.micros));
    script.churn(&history, 10);
    history.commit_blocking();
    let kinds: Vec<HistoryKind> = all_events(&history).iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len(), 11);
    assert_eq!(kinds[0], HistoryKind::Started);
    assert!(!kinds.contains(&HistoryKind::Gap));
    assert_eq!(history.failing(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_page_stopped_by_its_budget_goes_on_where_it_stopped() {
    let (dir, history, mut script) = begun("budget", 1 << 30);
    // Plain checkpoints every few events, each sharing the id of the event before it.
    for round in 0..30 {
        script.churn(&history, 5);
        let mut writer = history.writer.try_lock().unwrap();
        writer.checkpoint(&history.shared, None).unwrap();
        drop(writer);
        if round == 15 {
            // And a restart: a `started`, with an id of its own.
            history.begin(EventId::all_of(script.next), replay::time_of(script.micros));
            script.instances.clear();
        }
    }
    // A budget of one byte: every page stops at the first new id.
    assert_eq!(paged(&history, 10_000, 1), all_events(&history));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_commit_on_an_async_worker_only_appends() {
    let dir = dir("async-commit");
    let history = Arc::new(open(&dir, 64 * 1024));
    let mut script = Script::new();
    history.begin(id(1_000), replay::time_of(script.micros));
    // 2,000 changes, far past a segment (8 KiB) and a checkpoint's gap.
    for n in 0..2_000 {
        script.step(&history, HistoryKind::Registered, n);
        history.commit().await;
    }
    assert_eq!(history.index.read().len(), 1);
    assert_eq!(history.index.read()[0].checkpoints.len(), 1);
    // The upkeep, on a blocking thread, closes it.
    let upkeep = history.clone();
    tokio::task::spawn_blocking(move || upkeep.commit_blocking())
        .await
        .unwrap();
    assert_eq!(history.index.read().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_keeps_its_turn_after_its_client_hangs_up() {
    let dir = dir("turns");
    let history = Arc::new(open(&dir, 1 << 30));
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (started, reading) = tokio::sync::oneshot::channel();
    let request = tokio::spawn(http::read(history.clone(), move |_| {
        let _ = started.send(());
        let _ = wait.recv();
        Ok(())
    }));
    reading.await.unwrap();
    // The client hangs up; its read goes on, and keeps its turn.
    request.abort();
    let _ = request.await;
    assert_eq!(history.reads.available_permits(), MAX_READS - 1);
    go.send(()).unwrap();
    // Every turn comes back once the read ends.
    let all = history
        .reads
        .clone()
        .acquire_many_owned(MAX_READS as u32)
        .await
        .unwrap();
    drop(all);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_run_numbers_its_changes_above_the_last_kept_even_with_the_clock_behind() {
    use crate::registry::{journal::FLOOR_MARGIN, store::Store as _};
    let dir = dir("floor");
    // The last run's clock was an hour ahead (its ids are times in microseconds).
    let ahead = micros(SystemTime::now()) + 3_600_000_000;
    {
        let history = open(&dir, 1 << 30);
        history.begin(EventId::all_of(ahead), SystemTime::now());
        history.commit_blocking();
    }
    let history = Arc::new(open(&dir, 1 << 30));
    assert_eq!(history.last_id(), Some(EventId::all_of(ahead)));
    let eviction = crate::registry::state::Eviction::of(&Default::default());
    let store = crate::registry::memory::MemoryStore::new(
        crate::registry::patches::PatchSender::inert(),
        eviction,
        Some(history.clone()),
    );
    assert_eq!(store.instances().revision, ahead + FLOOR_MARGIN);
    // Its start is recorded above the last run's.
    assert_eq!(
        history.last_id(),
        Some(EventId::all_of(ahead + FLOOR_MARGIN))
    );
    drop(store);
    // With the clock past the floor, ids are times, as without a history.
    let journal = crate::registry::journal::Journal::numbering_after(1);
    assert!(journal.latest().revision > ahead - 3_600_000_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_question_too_large_is_a_400_and_a_read_that_fails_a_503() {
    let dir = dir("read-errors");
    let history = Arc::new(open(&dir, 1 << 30));
    let too_large = http::read(history.clone(), |_| -> io::Result<()> {
        Err(io::Error::other(TooLarge("ask for less".into())))
    })
    .await
    .unwrap_err();
    assert_eq!(too_large.status, axum::http::StatusCode::BAD_REQUEST);
    assert_eq!(too_large.reason, "ask for less");
    // The file system's own "invalid input" is no question of the client's.
    let refused = http::read(history.clone(), |_| -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::InvalidInput))
    })
    .await
    .unwrap_err();
    assert_eq!(refused.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    let broken = http::read(history, |_| -> io::Result<()> {
        Err(io::Error::other("disk gone"))
    })
    .await
    .unwrap_err();
    assert_eq!(broken.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(broken.reason.contains("disk gone"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_start_that_could_not_be_recorded_is_a_gap_once_the_history_writes_again() {
    let dir = dir("start-lost");
    let history = open(&dir, 1 << 30);
    // The folder goes before the start is written (a disk gone at boot).
    std::fs::remove_dir_all(&dir).unwrap();
    let mut script = Script::new();
    history.begin(id(1_000), replay::time_of(script.micros));
    assert!(history.failing().is_some());
    std::fs::create_dir_all(&dir).unwrap();
    retry_now(&history);
    assert_eq!(history.failing(), None);
    let events = all_events(&history);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, HistoryKind::Gap);
    assert!(
        events[0].reason.contains("its start was not recorded"),
        "{}",
        events[0].reason
    );
    // From there, replays are whole.
    let moments = script.churn(&history, 20);
    let (id, _, expected) = moments.last().unwrap();
    assert_eq!(&listing(history.at(Point::Id(*id)).unwrap()), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_sync_fails_the_history_and_a_gap_says_what_may_be_lost() {
    let (dir, history, mut script) = begun("sync-failed", 1 << 30);
    script.churn(&history, 10);
    history.sync_refused(&io::Error::other("I/O error (scripted)"));
    // Changes are refused from now until it writes again.
    assert!(
        history
            .failing()
            .is_some_and(|why| why.contains("cannot sync"))
    );
    history.commit_blocking();
    assert!(history.failing().is_some());
    retry_now(&history);
    assert_eq!(history.failing(), None);
    let whole = all_events(&history);
    let gap = whole.last().unwrap();
    assert_eq!(gap.kind, HistoryKind::Gap);
    assert!(gap.reason.contains(SYNC_FAILED), "{}", gap.reason);
    // The gap shares its id with the last change recorded: pages of one still neither
    // repeat nor stop.
    assert_eq!(gap.id, whole[whole.len() - 2].id);
    assert_eq!(paged(&history, 1, MAX_PAGE_SCAN_BYTES), whole);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn availability_over_more_than_its_budget_asks_for_a_shorter_stretch() {
    let (dir, history, mut script) = begun("availability-budget", 1 << 30);
    let moments = script.churn(&history, 100);
    let (from, to) = (moments[0].1, moments[99].1);
    let (answer, incomplete) = history.availability("S1", from, to).unwrap();
    assert!(!answer.is_empty() && !incomplete);
    let err = history
        .availability_within("S1", from, to, 1_000)
        .unwrap_err();
    let too_large = err.get_ref().unwrap().downcast_ref::<TooLarge>().unwrap();
    assert!(too_large.0.contains("ask for a shorter one"), "{too_large}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `history` (a cluster's node's) loads `instances` at `revision`, its fill having said why changes are
/// missing (`missed`) if they are, and writes it.
fn load(
    history: &History,
    revision: u64,
    micros: u64,
    instances: Vec<wire::registry::InstanceInfo>,
    missed: Option<&str>,
) {
    history.loaded(
        EventId::all_of(revision),
        replay::time_of(micros),
        instances,
        missed.map(str::to_owned),
    );
    history.commit_blocking();
}

/// A cluster's node whose history (in `dir`) began empty, at revision 1,000.
fn started_following(dir: &Path, script: &Script) -> History {
    let history = following(dir);
    load(&history, 1_000, script.micros, Vec::new(), None);
    history
}

fn following(dir: &Path) -> History {
    History::open_following(HistoryConfig {
        dir: dir.to_owned(),
        retention: Duration::from_secs(7 * 86_400),
        max_bytes: 64 * 1024 * 1024,
    })
    .unwrap()
}

/// A cluster's node whose history failed (its files could not be gone on with, say) and
/// that then loads the state takes up again there, as a retry would: the load says what
/// was lost, and the history is no longer failing (it was, for good, before).
#[test]
fn a_load_after_a_failure_says_what_was_lost_and_the_history_writes_again() {
    let dir = dir("load-after-failure");
    let mut script = Script::new();
    let history = started_following(&dir, &script);
    script.churn(&history, 5);
    history.commit_blocking();
    let before = history.mark();
    fail_writer(&history);
    script.step(&history, HistoryKind::Registered, 40);
    history.write(&mut history.writer.try_lock().unwrap(), false);
    assert!(history.failing().is_some());

    // The failed write's segment could not be synced either, and the upkeep has not
    // seen it yet when the state is loaded.
    history.sync_refused(&io::Error::other("sync refused (scripted)"));
    // And the fill before the load could not give every change this node missed.
    load(
        &history,
        script.next + 1,
        script.micros,
        script.listing(),
        Some("its peer's history does not reach back that far"),
    );
    assert_eq!(history.failing(), None, "the load wrote again");
    assert!(
        history.writer.try_lock().unwrap().file.is_some(),
        "a segment is open after the load's upkeep"
    );
    let after = history.mark();
    assert!(
        after.is_some() && after != before,
        "{before:?}, then {after:?}"
    );
    let said = all_events(&history).pop().unwrap();
    assert_eq!(said.kind, HistoryKind::Gap, "{said:?}");
    assert!(
        said.reason.starts_with("1 change could not be recorded (")
            && said.reason.contains(
                "), and a sync to the disk failed, so changes acknowledged since the one \
                 before may be lost; changes this node missed are lost too"
            )
            && said.reason.ends_with(&format!(
                "as its peers could not give them all (its peer's history does not reach \
                 back that far): every instance is listed as etcd held it at revision {}",
                script.next + 1
            )),
        "{}",
        said.reason
    );
    assert_eq!(
        listing(
            history
                .at(Point::Id(EventId::all_of(script.next + 1)))
                .unwrap()
        ),
        script.listing()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cluster_node_goes_on_from_its_files_fills_in_and_says_gap_only_when_a_load_differs() {
    let dir = dir("following");
    let mut script = Script::new();
    let history = started_following(&dir, &script);
    let moments = script.churn(&history, 30);
    let first = all_events(&history);
    assert_eq!(first[0].kind, HistoryKind::Started, "{:?}", first[0]);
    assert_eq!(first.len(), 31);
    drop(history);

    // Started again, and the state loaded is what the files end with: nothing to say.
    let history = following(&dir);
    load(&history, script.next, script.micros, script.listing(), None);
    assert_eq!(all_events(&history), first);
    for (id, micros, listing_then) in &moments {
        assert_eq!(&listing(history.at(Point::Id(*id)).unwrap()), listing_then);
        assert_eq!(
            &listing(history.at(Point::Time(*micros)).unwrap()),
            listing_then
        );
    }
    drop(history);

    // Started again after changes it did not see: a peer's events fill them in, up to the
    // first that is not a change (a peer's own gap), and the load then matches.
    let mut peer = Script {
        instances: script.instances.clone(),
        next: script.next,
        micros: script.micros,
    };
    let scratch_dir = dir.join("peer");
    let scratch = open(&scratch_dir, 64 * 1024 * 1024);
    scratch.begin(id(1), replay::time_of(peer.micros));
    let missed: Vec<_> = (0..3)
        .map(|n| peer.step(&scratch, HistoryKind::Registered, 100 + n))
        .collect();
    scratch.commit_blocking();
    let mut given: Vec<HistoryEvent> = all_events(&scratch)
        .into_iter()
        .filter(|e| e.kind == HistoryKind::Registered)
        .collect();
    assert_eq!(given.len(), 3);
    let mut gap = given[0].clone();
    gap.kind = HistoryKind::Gap;
    given.push(gap);
    let history = following(&dir);
    assert_eq!(history.import(given.clone()), 3, "up to the peer's gap");
    load(&history, peer.next, peer.micros, peer.listing(), None);
    let now = all_events(&history);
    assert_eq!(now.len(), first.len() + 3, "{now:?}");
    assert_eq!(&now[first.len()..], &given[..3]);
    assert!(now.iter().all(|e| e.kind != HistoryKind::Gap));
    let (last, micros) = missed[2];
    assert_eq!(
        listing(history.at(Point::Id(last)).unwrap()),
        peer.listing()
    );
    assert_eq!(
        listing(history.at(Point::Time(micros)).unwrap()),
        peer.listing()
    );

    // A load that differs (an instance left unseen, and no peer had it) is a gap that
    // holds the state loaded.
    let mut left = peer.listing();
    left.remove(0);
    load(
        &history,
        peer.next + 5,
        peer.micros + 1_000_000,
        left.clone(),
        None,
    );
    let told = all_events(&history);
    let said = told.last().unwrap();
    assert_eq!(said.kind, HistoryKind::Gap, "{said:?}");
    assert_eq!(said.id, (peer.next + 5).to_string());
    assert_eq!(
        listing(
            history
                .at(Point::Id(EventId::all_of(peer.next + 5)))
                .unwrap()
        ),
        left
    );

    // A change given again (a peer's copy of what the files hold) is not written twice.
    history.import(given[..3].to_vec());
    history.commit_blocking();
    assert_eq!(all_events(&history), told);

    // The same state, but a peer said changes are missing: a gap all the same, saying why.
    load(
        &history,
        peer.next + 6,
        peer.micros + 2_000_000,
        left.clone(),
        Some("its history does not reach back that far"),
    );
    let said = all_events(&history).pop().unwrap();
    assert_eq!(said.kind, HistoryKind::Gap);
    assert!(
        said.reason.contains(
            "its peers could not give them all (its history does not reach back that far)"
        ),
        "{}",
        said.reason
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn etcd_revisions_below_the_files_stop_the_history_with_a_reason_that_names_the_fix() {
    let dir = dir("regressed");
    let script = Script::new();
    let history = started_following(&dir, &script);
    drop(history);
    let history = following(&dir);
    // etcd's data replaced: its revisions start again far below.
    load(&history, 5, script.micros, Vec::new(), None);
    let reason = history.failing().expect("failing");
    assert!(reason.contains("was etcd's data replaced?"), "{reason}");
    assert!(reason.contains(&dir.display().to_string()), "{reason}");
    // A change made meanwhile is not acknowledged as recorded, and no retry clears it.
    history.record(
        id(6),
        SystemTime::now(),
        registered(heavy("http://x", 1, "a")),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let told = runtime.block_on(history.recorded(id(6))).unwrap_err();
    assert!(told.contains("could not record it"), "{told}");
    history.commit_blocking();
    assert!(history.failing().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_at_once_each_hear_of_their_own_record_while_the_upkeep_runs() {
    let dir = dir("group-commit");
    let history = Arc::new(open(&dir, 64 * 1024 * 1024));
    let script = Arc::new(Mutex::new(Script::new()));
    history.begin(id(1_000), replay::time_of(script.lock().micros));
    let stop = CancellationToken::new();
    let upkeep = tokio::spawn(history.clone().maintain(stop.clone()));
    // 64 callers, 50 changes each, as the state hands them over (in order, under a lock),
    // each waiting for its own record: a write by another caller or by the upkeep counts.
    let callers: Vec<_> = (0..64u32)
        .map(|caller| {
            let (history, script) = (history.clone(), script.clone());
            tokio::spawn(async move {
                for n in 0..50u32 {
                    let (id, _) =
                        script
                            .lock()
                            .step(&history, HistoryKind::Registered, caller * 50 + n);
                    history.recorded(id).await.unwrap();
                    // Its line is in the file already: the index says so.
                    assert!(history.index.read().last().unwrap().last_id >= id);
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    // A change that made no record (a renewal on a cluster's node) is not waited for.
    let beyond = id(script.lock().next + 1);
    tokio::time::timeout(Duration::from_secs(5), history.recorded(beyond))
        .await
        .expect("answers at once")
        .unwrap();
    stop.cancel();
    upkeep.await.unwrap();
    let events = paged(&history, 10_000, MAX_PAGE_SCAN_BYTES);
    let registered = events
        .iter()
        .filter(|e| e.kind == HistoryKind::Registered)
        .count();
    assert_eq!(registered, 64 * 50, "{:?}", &events[..3.min(events.len())]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_sync_of_a_segment_closed_by_a_failed_write_is_a_gap_that_says_so() {
    let (dir, history, mut script) = begun("closed-sync-failed", 1 << 30);
    script.churn(&history, 10);
    // A write fails: its segment is closed (to be synced), and nothing is open.
    fail_writer(&history);
    assert!(
        history.closed.lock().len() == 1,
        "the closed segment waits for its sync"
    );
    // Its sync fails too: what was acknowledged in it may be lost.
    history.sync_refused(&io::Error::other("I/O error (scripted)"));
    retry_now(&history);
    assert_eq!(history.failing(), None);
    let gap = all_events(&history).pop().unwrap();
    assert_eq!(gap.kind, HistoryKind::Gap);
    assert!(gap.reason.contains(SYNC_FAILED), "{}", gap.reason);
    let _ = std::fs::remove_dir_all(&dir);
}
