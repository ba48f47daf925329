//! What the history's records mean: the instances a checkpoint holds, an event applied to
//! them, and the answers built from them (a listing as it was, an instance's time up and
//! down).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};
use wire::registry::{
    DownInterval, HistoryEvent, HistoryKind, InstanceAvailability, InstanceInfo, Registration,
    Status,
};

use crate::registry::state::timestamp;

/// One instance as the history keeps it, registered at `registered_at` and passing: a
/// listing's entry without its checks (heartbeat results are not history: a round every
/// second would fill the disk).
pub fn kept(registration: Registration, registered_at: String) -> InstanceInfo {
    InstanceInfo {
        registration,
        status: Status::Passing,
        registered_at,
        last_check_at: None,
        last_latency_ms: None,
        consecutive_failures: 0,
        recent_checks: Vec::new(),
        flapping: false,
    }
}

/// Every instance at one moment: the first record of each file, and one more whenever
/// the events since the last weigh [`super::CHECKPOINT_RATIO`] times as much as it did
/// (so that a replay reads at most about five listings' worth). `event` is set when the checkpoint is itself a change to
/// list: the registry `started` empty, or the history took up again after a `gap`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    #[serde(rename = "Event", default, skip_serializing_if = "Option::is_none")]
    pub event: Option<HistoryEvent>,
    #[serde(rename = "Instances")]
    pub instances: Vec<InstanceInfo>,
}

/// The writer's copy of every instance, each kept as the JSON a checkpoint writes of it
/// (its registration's, rendered once when it registers), so that a checkpoint of many
/// instances copies bytes rather than serialising each again: with 700,000 instances,
/// serialising them was most of the writer's time.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Hashed with a seeded fast hash (as hashbrown's default): SipHash was a tenth of
    /// the writer's time, and the URLs are anyone's to choose, so the seed is random.
    instances: HashMap<String, RenderedSnap, foldhash::fast::RandomState>,
}

#[derive(Debug)]
struct RenderedSnap {
    /// The registration's JSON object, without its closing brace.
    registration: Box<str>,
    status: Status,
    /// Microseconds; written as a listing writes it only in a checkpoint.
    registered_at: u64,
    flapping: bool,
}

impl Rendered {
    /// The model of `instances` (a listing, a state loaded from etcd).
    pub fn of(instances: &[InstanceInfo]) -> Rendered {
        let instances = instances
            .iter()
            .map(|info| {
                let json =
                    serde_json::to_string(&info.registration).expect("registrations serialise");
                let registered_at =
                    humantime::parse_rfc3339(&info.registered_at).map_or(0, super::micros);
                (
                    info.registration.service_url.clone(),
                    RenderedSnap {
                        registration: json.strip_suffix('}').unwrap_or(&json).into(),
                        status: info.status,
                        registered_at,
                        flapping: info.flapping,
                    },
                )
            })
            .collect();
        Rendered { instances }
    }

    /// Whether `other` holds the same instances, registered alike, with the same status
    /// (not when each registered: a time a history clamped to keep its files in order
    /// may differ from etcd's by a little).
    pub fn same(&self, other: &Rendered) -> bool {
        self.instances.len() == other.instances.len()
            && self.instances.iter().all(|(url, snap)| {
                other.instances.get(url).is_some_and(|theirs| {
                    theirs.registration == snap.registration
                        && theirs.status == snap.status
                        && theirs.flapping == snap.flapping
                })
            })
    }

    /// Whether the instance at `instance` is registered with `registration` (its JSON).
    pub fn holds(&self, instance: &str, registration: &str) -> bool {
        self.instances
            .get(instance)
            .is_some_and(|snap| registration.strip_suffix('}') == Some(&*snap.registration))
    }

    /// Applies a change of `kind` to the instance at `instance`, made at `micros` (for a
    /// `registered`, when it registered, which a cluster's node may record a little later);
    /// `registration` is the JSON of what a `registered` registered (none if it
    /// registered again unchanged).
    pub fn apply(
        &mut self,
        micros: u64,
        kind: HistoryKind,
        instance: &str,
        status: Option<Status>,
        registration: Option<&str>,
    ) {
        match kind {
            HistoryKind::Registered => {
                if let Some(json) = registration.and_then(|json| json.strip_suffix('}')) {
                    match self.instances.get_mut(instance) {
                        // Registering again does not end flapping (see `state`).
                        Some(snap) => {
                            snap.registration = json.into();
                            snap.status = Status::Passing;
                            snap.registered_at = micros;
                        }
                        None => {
                            self.instances.insert(
                                instance.to_owned(),
                                RenderedSnap {
                                    registration: json.into(),
                                    status: Status::Passing,
                                    registered_at: micros,
                                    flapping: false,
                                },
                            );
                        }
                    }
                } else if let Some(snap) = self.instances.get_mut(instance) {
                    snap.status = Status::Passing;
                    snap.registered_at = micros;
                }
            }
            HistoryKind::Deregistered | HistoryKind::Dropped => {
                self.instances.remove(instance);
            }
            HistoryKind::StatusChanged | HistoryKind::Expired => {
                if let (Some(snap), Some(status)) = (self.instances.get_mut(instance), status) {
                    snap.status = status;
                }
            }
            HistoryKind::Flapping | HistoryKind::Steady => {
                if let Some(snap) = self.instances.get_mut(instance) {
                    snap.flapping = kind == HistoryKind::Flapping;
                }
            }
            HistoryKind::Started | HistoryKind::Gap => {}
        }
    }

    /// A checkpoint's JSON ([`Checkpoint`]): every instance, and `event` if given
    /// (already JSON).
    pub fn checkpoint(&self, event: Option<&str>) -> String {
        let mut out = String::with_capacity(64 + self.instances.len() * 256);
        out.push('{');
        if let Some(event) = event {
            out.push_str(r#""Event":"#);
            out.push_str(event);
            out.push(',');
        }
        out.push_str(r#""Instances":["#);
        for (n, snap) in self.instances.values().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&snap.registration);
            out.push_str(r#","Status":""#);
            out.push_str(snap.status.as_str());
            out.push_str(r#"","RegisteredAt":""#);
            out.push_str(&timestamp(time_of(snap.registered_at)));
            out.push('"');
            if snap.flapping {
                out.push_str(r#","Flapping":true"#);
            }
            out.push('}');
        }
        out.push_str("]}");
        out
    }
}

/// The prefix of a checkpoint's JSON that lists an event, so a scan can tell it from a
/// plain one without parsing it.
pub const LISTED_CHECKPOINT: &str = r#"{"Event":"#;

/// The time `micros` (since the Unix epoch) as a `SystemTime`.
pub fn time_of(micros: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(micros)
}

/// The instances at one moment, by URL, as a replay builds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    instances: BTreeMap<String, InstanceInfo>,
}

impl Model {
    pub fn from_checkpoint(checkpoint: Checkpoint) -> Model {
        Model {
            instances: checkpoint
                .instances
                .into_iter()
                .map(|snap| (snap.registration.service_url.clone(), snap))
                .collect(),
        }
    }

    /// Applies `event`, which happened at `micros`.
    pub fn apply(&mut self, micros: u64, event: &HistoryEvent) {
        // A registration recorded later than made says when it was made.
        let registered = event
            .registered_at
            .as_deref()
            .and_then(|at| humantime::parse_rfc3339(at).ok())
            .unwrap_or_else(|| time_of(micros));
        match event.kind {
            HistoryKind::Registered => {
                if let Some(registration) = &event.registration {
                    let flapping = self
                        .instances
                        .get(&event.instance)
                        .is_some_and(|snap| snap.flapping);
                    let info = kept(registration.clone(), timestamp(registered));
                    self.instances
                        .insert(event.instance.clone(), InstanceInfo { flapping, ..info });
                } else if let Some(snap) = self.instances.get_mut(&event.instance) {
                    // Registered again unchanged: a new entry of the same registration.
                    snap.status = Status::Passing;
                    snap.registered_at = timestamp(registered);
                }
            }
            HistoryKind::Deregistered | HistoryKind::Dropped => {
                self.instances.remove(&event.instance);
            }
            HistoryKind::StatusChanged | HistoryKind::Expired => {
                if let (Some(snap), Some(status)) =
                    (self.instances.get_mut(&event.instance), event.status)
                {
                    snap.status = status;
                }
            }
            HistoryKind::Flapping | HistoryKind::Steady => {
                if let Some(snap) = self.instances.get_mut(&event.instance) {
                    snap.flapping = event.kind == HistoryKind::Flapping;
                }
            }
            // Checkpoints of their own: a replay takes their instances instead.
            HistoryKind::Started | HistoryKind::Gap => {}
        }
    }

    /// Every instance, sorted by service name then URL: `GET /services` as it was.
    pub fn listing(&self) -> Vec<InstanceInfo> {
        let mut infos: Vec<InstanceInfo> = self.instances.values().cloned().collect();
        infos.sort_by(|a, b| {
            (&a.registration.service_name, &a.registration.service_url)
                .cmp(&(&b.registration.service_name, &b.registration.service_url))
        });
        infos
    }

    /// The passing instances of `name` (not flapping), sorted by URL: `GET
    /// /services/{name}` as it was.
    pub fn lookup(&self, name: &str) -> Vec<InstanceInfo> {
        self.instances
            .values()
            .filter(|info| info.registration.service_name == name && info.discoverable())
            .cloned()
            .collect()
    }

    /// Where the instance at `url` stands, as far as `service` is concerned.
    fn presence(&self, service: &str, url: &str) -> Presence {
        match self.instances.get(url) {
            Some(snap) if snap.registration.service_name == service => {
                match (snap.status, snap.flapping) {
                    (Status::Critical, _) => Presence::Critical,
                    (Status::Passing, true) => Presence::Flapping,
                    (Status::Passing, false) => Presence::Passing,
                }
            }
            _ => Presence::Absent,
        }
    }

    fn urls_of<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.instances
            .iter()
            .filter(move |(_, snap)| snap.registration.service_name == service)
            .map(|(url, _)| url)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Passing,
    Critical,
    /// Passing, but held out of discovery.
    Flapping,
    Absent,
}

/// The most instances one availability answer follows (the first seen; the answer says
/// `Incomplete`): a service's URLs churned over a week could otherwise be millions, each
/// held in memory.
pub const MAX_FOLLOWED: usize = 10_000;
/// The most down intervals listed for one instance (the latest); the others are counted.
pub const MAX_DOWN_LISTED: usize = 100;

/// Follows the instances of one service from `from` to `to` (microseconds), for `GET
/// /history/availability`: fed the model at `from`, then each change after it in order.
pub struct Availability {
    service: String,
    from: u64,
    /// Each instance seen: where it stands and since when, its time passing, its time
    /// down.
    instances: BTreeMap<String, Followed>,
    /// More than [`MAX_FOLLOWED`] instances were seen.
    overflowed: bool,
}

struct Followed {
    now: Presence,
    since: u64,
    passing: u64,
    /// The latest [`MAX_DOWN_LISTED`] stretches down, and how many before them.
    down: VecDeque<(u64, u64, Presence)>,
    omitted: u64,
}

impl Availability {
    /// Starts at `from`, with the instances `model` holds then.
    pub fn new(service: &str, from: u64, model: &Model) -> Availability {
        let mut availability = Availability {
            service: service.to_owned(),
            from,
            instances: BTreeMap::new(),
            overflowed: false,
        };
        availability.reconcile(model, from);
        availability
    }

    /// The instance at `url` may have changed at `at`: `model` says how it stands now.
    pub fn changed(&mut self, model: &Model, url: &str, at: u64) {
        let now = model.presence(&self.service, url);
        self.set(url, now, at);
    }

    /// Everything may have changed at `at` (a checkpoint that starts again: the registry
    /// started, or the history after a gap).
    pub fn reconcile(&mut self, model: &Model, at: u64) {
        let urls: BTreeSet<String> = self
            .instances
            .keys()
            .cloned()
            .chain(model.urls_of(&self.service).cloned())
            .collect();
        for url in urls {
            self.changed(model, &url, at);
        }
    }

    fn set(&mut self, url: &str, now: Presence, at: u64) {
        let from = self.from;
        let full = self.instances.len() >= MAX_FOLLOWED;
        let followed = match self.instances.get_mut(url) {
            Some(followed) => followed,
            // First seen: absent from the start until now.
            None if now == Presence::Absent => return,
            None if full => {
                self.overflowed = true;
                return;
            }
            None => self.instances.entry(url.to_owned()).or_insert(Followed {
                now: Presence::Absent,
                since: from,
                passing: 0,
                down: VecDeque::new(),
                omitted: 0,
            }),
        };
        if followed.now == now {
            return;
        }
        followed.close(at);
        followed.now = now;
        followed.since = at;
    }

    /// The answer, closed at `to`, and whether more than [`MAX_FOLLOWED`] instances were
    /// seen (only the first are in it).
    pub fn finish(mut self, to: u64) -> (Vec<InstanceAvailability>, bool) {
        let span = to.saturating_sub(self.from).max(1);
        let instances = self
            .instances
            .iter_mut()
            .map(|(url, followed)| {
                followed.close(to);
                InstanceAvailability {
                    instance: url.clone(),
                    passing: followed.passing as f64 / span as f64,
                    passing_seconds: followed.passing as f64 / 1e6,
                    down: followed
                        .down
                        .iter()
                        .map(|&(from, to, presence)| DownInterval {
                            from: timestamp(time_of(from)),
                            to: timestamp(time_of(to)),
                            state: match presence {
                                Presence::Critical => "critical",
                                Presence::Flapping => "flapping",
                                _ => "absent",
                            }
                            .to_owned(),
                        })
                        .collect(),
                    down_omitted: followed.omitted,
                }
            })
            .collect();
        (instances, self.overflowed)
    }
}

impl Followed {
    /// Ends the stretch since `since` at `at`.
    fn close(&mut self, at: u64) {
        let at = at.max(self.since);
        if at == self.since {
            return;
        }
        match self.now {
            Presence::Passing => self.passing += at - self.since,
            down => {
                if self.down.len() == MAX_DOWN_LISTED {
                    self.down.pop_front();
                    self.omitted += 1;
                }
                self.down.push_back((self.since, at, down));
            }
        }
        self.since = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: HistoryKind, url: &str, status: Option<Status>) -> HistoryEvent {
        HistoryEvent {
            id: String::new(),
            at: String::new(),
            kind,
            service: "S".into(),
            instance: url.into(),
            status,
            reason: String::new(),
            registration: (kind == HistoryKind::Registered).then(|| Registration {
                service_name: "S".into(),
                service_url: url.into(),
                ..Registration::default()
            }),
            registered_at: None,
        }
    }

    #[test]
    fn a_replay_lists_what_the_events_left() {
        let mut model = Model::default();
        model.apply(1_000_000, &event(HistoryKind::Registered, "http://b", None));
        model.apply(2_000_000, &event(HistoryKind::Registered, "http://a", None));
        model.apply(
            3_000_000,
            &event(
                HistoryKind::StatusChanged,
                "http://a",
                Some(Status::Critical),
            ),
        );
        let listing = model.listing();
        assert_eq!(listing.len(), 2);
        assert_eq!(listing[0].registration.service_url, "http://a");
        assert_eq!(listing[0].status, Status::Critical);
        assert_eq!(listing[1].registered_at, "1970-01-01T00:00:01.000Z");
        assert_eq!(model.lookup("S").len(), 1);
        model.apply(4_000_000, &event(HistoryKind::Dropped, "http://a", None));
        assert_eq!(model.listing().len(), 1);
    }

    #[test]
    fn a_rendered_checkpoint_reads_back_as_the_model_of_the_same_events() {
        let mut model = Model::default();
        let mut rendered = Rendered::default();
        let events = [
            (1, event(HistoryKind::Registered, "http://a", None)),
            (2, event(HistoryKind::Registered, "http://b", None)),
            (
                3,
                event(
                    HistoryKind::StatusChanged,
                    "http://b",
                    Some(Status::Critical),
                ),
            ),
            (4, event(HistoryKind::Registered, "http://c", None)),
            (5, event(HistoryKind::Deregistered, "http://a", None)),
            // A critical instance registered again unchanged (no registration in the
            // line), and one flapping, registered again changed: it stays flapping.
            (
                6,
                HistoryEvent {
                    registration: None,
                    ..event(HistoryKind::Registered, "http://b", None)
                },
            ),
            (7, event(HistoryKind::Flapping, "http://c", None)),
            (
                8,
                HistoryEvent {
                    registration: Some(Registration {
                        service_name: "S".into(),
                        service_url: "http://c".into(),
                        tags: vec!["v2".into()],
                        ..Registration::default()
                    }),
                    ..event(HistoryKind::Registered, "http://c", None)
                },
            ),
        ];
        for (micros, e) in &events {
            model.apply(*micros, e);
            let json = e
                .registration
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap());
            rendered.apply(*micros, e.kind, &e.instance, e.status, json.as_deref());
        }
        let started = serde_json::to_string(&events[0].1).unwrap();
        let checkpoint: Checkpoint =
            serde_json::from_str(&rendered.checkpoint(Some(&started))).unwrap();
        assert_eq!(checkpoint.event.as_ref(), Some(&events[0].1));
        assert_eq!(Model::from_checkpoint(checkpoint), model);
        let listing = model.listing();
        assert_eq!(listing[0].status, Status::Passing);
        assert_eq!(listing[0].registered_at, "1970-01-01T00:00:00.000Z");
        assert!(listing[1].flapping && listing[1].registration.tags == ["v2"]);
        assert_eq!(model.lookup("S").len(), 1);
        let empty: Checkpoint =
            serde_json::from_str(&Rendered::default().checkpoint(None)).unwrap();
        assert!(empty.event.is_none() && empty.instances.is_empty());
    }

    #[test]
    fn availability_counts_time_passing_and_each_stretch_down() {
        let mut model = Model::default();
        model.apply(0, &event(HistoryKind::Registered, "http://a", None));
        let mut availability = Availability::new("S", 10_000_000, &model);
        let mut step = |micros, e: HistoryEvent| {
            model.apply(micros, &e);
            availability.changed(&model, &e.instance, micros);
        };
        step(
            20_000_000,
            event(
                HistoryKind::StatusChanged,
                "http://a",
                Some(Status::Critical),
            ),
        );
        step(25_000_000, event(HistoryKind::Dropped, "http://a", None));
        step(30_000_000, event(HistoryKind::Registered, "http://a", None));
        step(40_000_000, event(HistoryKind::Registered, "http://b", None));
        let (answer, _) = availability.finish(50_000_000);
        assert_eq!(answer.len(), 2);
        let a = &answer[0];
        assert_eq!(a.passing_seconds, 30.0);
        assert_eq!(a.passing, 0.75);
        let down: Vec<(&str, &str)> = a
            .down
            .iter()
            .map(|d| (&d.from[17..19], &*d.state))
            .collect();
        assert_eq!(down, [("20", "critical"), ("25", "absent")]);
        let b = &answer[1];
        assert_eq!(b.passing_seconds, 10.0);
        assert_eq!(b.down.len(), 1);
        assert_eq!(b.down[0].state, "absent");
    }

    #[test]
    fn availability_lists_the_latest_stretches_down_and_follows_a_bounded_number() {
        let mut model = Model::default();
        model.apply(0, &event(HistoryKind::Registered, "http://a", None));
        let mut availability = Availability::new("S", 0, &model);
        // 150 stretches down, a second each.
        for n in 0..150u64 {
            for (at, status) in [
                (10 * n + 1, Status::Critical),
                (10 * n + 2, Status::Passing),
            ] {
                let e = event(HistoryKind::StatusChanged, "http://a", Some(status));
                model.apply(at * 1_000_000, &e);
                availability.changed(&model, "http://a", at * 1_000_000);
            }
        }
        let (answer, _) = availability.finish(1_500_000_000);
        assert_eq!(answer[0].down.len(), MAX_DOWN_LISTED);
        assert_eq!(answer[0].down_omitted, 50);
        // The latest are the ones kept.
        assert_eq!(
            answer[0].down[MAX_DOWN_LISTED - 1].from,
            timestamp(time_of(1_491_000_000))
        );
        // One instance more than an answer follows: the first are listed, and it says so.
        let mut availability = Availability::new("S", 0, &Model::default());
        for n in 0..=MAX_FOLLOWED {
            let url = format!("http://i/{n}");
            model.apply(n as u64, &event(HistoryKind::Registered, &url, None));
            availability.changed(&model, &url, n as u64);
        }
        let (answer, incomplete) = availability.finish(1_000_000);
        assert!(incomplete);
        assert_eq!(answer.len(), MAX_FOLLOWED);
    }
}
