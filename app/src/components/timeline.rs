//! The `/registry` page's timeline: what the registry's history says of the last hour.
//! A band per instance (passing, critical, flapping; blank while absent), a scrubber that
//! shows the registry as it was at a moment (`/registry?at=…`: a plain GET form, so a
//! moment is a link to share and needs no JavaScript), a "Live" link back, and the
//! changes around the moment in words, each a link to a millisecond after it (the
//! registry just after the change; another change in the same millisecond is shown too).
//!
//! | part | owns |
//! | --- | --- |
//! | [`registry_timeline`] | the server function: the window, its events and the listing at the moment, from the registry's `/history` and `/services?at=` |
//! | [`bands`] | the bands, replayed from the listing at the window's start and the events after it |
//! | [`said`] | an event in words |
//! | [`Timeline`] | the section: bands, scrubber, events |
//!
//! Drawn on the server only (no island: moving the scrubber is a navigation), so it adds
//! nothing to the WASM. Health is never colour alone: each band has a label in words,
//! each stretch a title, and the events are a list.

use std::collections::{BTreeMap, HashMap};

use leptos::{either::Either, prelude::*};
use serde::{Deserialize, Serialize};

use crate::{
    format,
    wire::registry::{HistoryEvent, HistoryKind, InstanceInfo, Status},
};

/// The window the bands cover when the moment is recent: the last hour.
pub const WINDOW_MS: f64 = 3_600_000.0;
/// The most events read for one window (pages of the registry's `/history`).
pub const MAX_EVENTS: usize = 50_000;
/// How many events are told before and after the moment.
pub const TOLD: usize = 8;

/// Where an instance stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BandState {
    Passing,
    Critical,
    /// Passing, but held out of discovery.
    Flapping,
}

impl BandState {
    pub fn as_str(self) -> &'static str {
        match self {
            BandState::Passing => "passing",
            BandState::Critical => "critical",
            BandState::Flapping => "flapping",
        }
    }
}

/// A stretch of one state, in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stretch {
    pub from: f64,
    pub to: f64,
    pub state: BandState,
}

/// One instance over the window: its stretches present, in order (absent between).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub service: String,
    pub url: String,
    pub stretches: Vec<Stretch>,
}

/// What the timeline shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineData {
    /// The window, in milliseconds since the epoch.
    pub from: f64,
    pub to: f64,
    /// The moment asked for, if not live.
    pub at: Option<f64>,
    pub bands: Vec<Band>,
    /// The events told: around the moment, or the latest.
    pub told: Vec<HistoryEvent>,
    /// The instances at the moment (with `at`), or why the registry cannot say.
    pub then: Option<Result<Vec<InstanceInfo>, String>>,
    /// Why the bands stop short (more events than [`MAX_EVENTS`]), if they do.
    pub cut: Option<String>,
}

/// The window, its events and the instances at `at` (milliseconds since the epoch; the
/// latest hour if none), from the registry's history.
#[server]
pub async fn registry_timeline(at: Option<f64>) -> Result<TimelineData, ServerFnError> {
    use crate::{
        backend::{Target, get_json, get_json_unless_missing},
        wire::registry::HistoryPage,
    };

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64);
    let at = at.and_then(|at| moment_at(at, now));
    let (from, to) = window(at, now);
    let moment = |ms: f64| format::url_encode(&format::rfc3339(ms));
    // Where each instance stood as the window opens (nothing, if the history is younger).
    let start: Vec<InstanceInfo> =
        get_json_unless_missing(Target::Registry, format!("/services?at={}", moment(from)))
            .await?
            .unwrap_or_default();
    let mut events: Vec<HistoryEvent> = Vec::new();
    let mut next = Some(format::rfc3339(from));
    let mut cut = None;
    // Live, the window runs to the registry's own now (its clock may be behind ours).
    let until = match at {
        Some(_) => format!("&to={}", moment(to)),
        None => String::new(),
    };
    while let Some(page_from) = next.take() {
        let path = format!(
            "/history?from={}{until}&limit=10000",
            format::url_encode(&page_from)
        );
        let page: HistoryPage = get_json(Target::Registry, path).await?;
        events.extend(page.events);
        next = page.next;
        if next.is_some() && events.len() >= MAX_EVENTS {
            cut = events.last().map(|last| {
                format!(
                    "More than {MAX_EVENTS} changes in this hour: the bands end at {}.",
                    format::clock(format::epoch_millis(&last.at).unwrap_or(to))
                )
            });
            break;
        }
    }
    // After a gap, the instances are as the registry listed them there (the first five
    // gaps: more in an hour is a disk that keeps failing, and the bands keep what they had).
    let mut after_gaps = HashMap::new();
    for gap in events.iter().filter(|e| e.kind == HistoryKind::Gap).take(5) {
        let listing: Option<Vec<InstanceInfo>> = get_json_unless_missing(
            Target::Registry,
            format!("/services?at={}", format::url_encode(&gap.id)),
        )
        .await?;
        after_gaps.insert(gap.id.clone(), listing.unwrap_or_default());
    }
    let then = match at {
        Some(at) => Some(
            match get_json_unless_missing(Target::Registry, format!("/services?at={}", moment(at)))
                .await
            {
                Ok(Some(listing)) => Ok(listing),
                Ok(None) => Err(format!(
                    "The registry's history holds nothing from {} UTC: it begins later, or \
                     the registry keeps none.",
                    format::moment(at)
                )),
                Err(err) => Err(format::server_error(&err)),
            },
        ),
        None => None,
    };
    let end = if cut.is_some() {
        events
            .last()
            .and_then(|last| format::epoch_millis(&last.at))
            .unwrap_or(to)
    } else {
        to
    };
    Ok(TimelineData {
        from,
        to,
        at,
        bands: bands(&start, &events, &after_gaps, from, end),
        told: told(&events, at),
        then,
        cut,
    })
}

/// The moment `at` (milliseconds) as asked of the registry at `now`: anyone may call the
/// server function with any number, so a moment is a finite one since the epoch, and not
/// after now (the registry refuses the future); none for NaN or infinities.
pub fn moment_at(at: f64, now: f64) -> Option<f64> {
    at.is_finite().then(|| at.clamp(0.0, now))
}

/// The window for a moment `at` seen at `now` (milliseconds, `at` not after `now`): the
/// last hour if the moment is in it (or none is asked for), else the hour around it.
pub fn window(at: Option<f64>, now: f64) -> (f64, f64) {
    match at {
        Some(at) if at < now - WINDOW_MS => (at - WINDOW_MS / 2.0, at + WINDOW_MS / 2.0),
        _ => (now - WINDOW_MS, now),
    }
}

/// One instance followed through the window.
struct Followed {
    band: Band,
    /// Its status and whether it is flapping, while it is registered.
    now: Option<(Status, bool)>,
    /// What its band shows since when.
    shown: Option<(BandState, f64)>,
}

impl Followed {
    /// It stands as `now` from `at` on.
    fn set(&mut self, now: Option<(Status, bool)>, at: f64) {
        self.now = now;
        let state = now.map(|(status, flapping)| match (status, flapping) {
            (Status::Critical, _) => BandState::Critical,
            (Status::Passing, true) => BandState::Flapping,
            (Status::Passing, false) => BandState::Passing,
        });
        if self.shown.map(|(state, _)| state) == state {
            return;
        }
        self.close(at);
        self.shown = state.map(|state| (state, at));
    }

    /// Ends what its band shows at `at`.
    fn close(&mut self, at: f64) {
        if let Some((state, since)) = self.shown.take()
            && at > since
        {
            self.band.stretches.push(Stretch {
                from: since,
                to: at,
                state,
            });
        }
    }
}

/// Every instance followed, by URL.
#[derive(Default)]
struct Following(BTreeMap<String, Followed>);

impl Following {
    fn of(&mut self, service: &str, url: &str) -> &mut Followed {
        let followed = self.0.entry(url.to_owned()).or_insert_with(|| Followed {
            band: Band {
                service: service.to_owned(),
                url: url.to_owned(),
                stretches: Vec::new(),
            },
            now: None,
            shown: None,
        });
        if !service.is_empty() {
            followed.band.service = service.to_owned();
        }
        followed
    }

    /// Every instance as `listing` says from `at` on (the others gone).
    fn reset(&mut self, listing: &[InstanceInfo], at: f64) {
        for followed in self.0.values_mut() {
            followed.set(None, at);
        }
        for info in listing {
            let reg = &info.registration;
            self.of(&reg.service_name, &reg.service_url)
                .set(Some((info.status, info.flapping)), at);
        }
    }
}

/// The bands from `from` to `to`: each instance in `start` as it stood at `from`, then
/// each event in order (a `started` empties the registry; after a `gap`, the instances
/// are `after_gaps`' listing for its id).
pub fn bands(
    start: &[InstanceInfo],
    events: &[HistoryEvent],
    after_gaps: &HashMap<String, Vec<InstanceInfo>>,
    from: f64,
    to: f64,
) -> Vec<Band> {
    let mut following = Following::default();
    following.reset(start, from);
    for event in events {
        let Some(at) = format::epoch_millis(&event.at) else {
            continue;
        };
        let at = at.max(from).min(to);
        match event.kind {
            HistoryKind::Started => following.reset(&[], at),
            HistoryKind::Gap => {
                if let Some(listing) = after_gaps.get(&event.id) {
                    following.reset(listing, at);
                }
            }
            kind => {
                let followed = following.of(&event.service, &event.instance);
                let flapping = followed.now.is_some_and(|(_, flapping)| flapping);
                let status = followed.now.map(|(status, _)| status);
                let now = match kind {
                    // Registering again does not end flapping.
                    HistoryKind::Registered => Some((Status::Passing, flapping)),
                    HistoryKind::Deregistered | HistoryKind::Dropped => None,
                    HistoryKind::StatusChanged | HistoryKind::Expired => {
                        event.status.or(status).map(|status| (status, flapping))
                    }
                    HistoryKind::Flapping => status.map(|status| (status, true)),
                    _ => status.map(|status| (status, false)),
                };
                followed.set(now, at);
            }
        }
    }
    following
        .0
        .into_values()
        .map(|mut followed| {
            followed.close(to);
            followed.band
        })
        .filter(|band| !band.stretches.is_empty())
        .collect()
}

/// The events to tell: the [`TOLD`] before `at` and the [`TOLD`] after it, or the
/// latest [`TOLD`] when live.
pub fn told(events: &[HistoryEvent], at: Option<f64>) -> Vec<HistoryEvent> {
    let Some(at) = at else {
        return events[events.len().saturating_sub(TOLD)..].to_vec();
    };
    let split = events.partition_point(|e| format::epoch_millis(&e.at).is_some_and(|t| t <= at));
    let first = split.saturating_sub(TOLD);
    let last = (split + TOLD).min(events.len());
    events[first..last].to_vec()
}

/// `event` in words: who, and what happened to it.
pub fn said(event: &HistoryEvent) -> String {
    let who = format!("{} at {}", event.service, event.instance);
    match event.kind {
        HistoryKind::Started => {
            "The registry started (empty: every instance registers again)".into()
        }
        HistoryKind::Gap => format!("The history has a gap: {}", event.reason),
        HistoryKind::Registered if event.registration.is_none() => {
            format!("{who} registered again, unchanged")
        }
        HistoryKind::Registered => format!("{who} registered"),
        HistoryKind::Deregistered => format!("{who} deregistered"),
        HistoryKind::StatusChanged => match event.status {
            Some(Status::Critical) => format!("{who} went critical: {}", event.reason),
            _ => format!("{who} passed again: {}", event.reason),
        },
        HistoryKind::Expired => format!("{who} went critical: {}", event.reason),
        HistoryKind::Dropped => format!("{who} was dropped: {}", event.reason),
        HistoryKind::Flapping => format!("{who} began flapping: {}", event.reason),
        HistoryKind::Steady => format!("{who} is steady again: {}", event.reason),
    }
}

/// The `at` of a page's query: an RFC 3339 UTC time (as the links write it) or Unix
/// seconds (as the scrubber sends it), in milliseconds.
///
/// # Errors
/// Anything else: the reason says what to write.
pub fn parse_at(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if let Some(millis) = format::epoch_millis(text) {
        return Ok(millis);
    }
    match text.parse::<u64>() {
        Ok(seconds) => Ok(seconds as f64 * 1000.0),
        Err(_) => Err(format!(
            "at={text:?} is neither an RFC 3339 UTC time (such as 2026-12-05T03:00:00Z) nor \
             Unix seconds"
        )),
    }
}

/// The timeline section: the bands over the window, the scrubber (a GET form for
/// `/registry`, keeping `service`), a link back to live, and the events told.
#[component]
pub fn Timeline(data: TimelineData, service: Option<String>) -> impl IntoView {
    let TimelineData {
        from,
        to,
        at,
        bands,
        told,
        cut,
        ..
    } = data;
    let span = (to - from).max(1.0);
    // Tenths of the viewBox's 1,000 units: finer than a pixel, and short in the HTML.
    let x = move |ms: f64| (((ms - from) / span * 10_000.0).round() / 10.0).clamp(0.0, 1000.0);
    let rows = bands
        .into_iter()
        .map(|band| {
            let summary = band
                .stretches
                .iter()
                .map(|s| format!("{} {}–{}", s.state.as_str(), format::clock(s.from), format::clock(s.to)))
                .collect::<Vec<_>>()
                .join(", ");
            let label = format!("{} at {}: {summary}", band.service, band.url);
            let rects = band
                .stretches
                .into_iter()
                .map(|s| {
                    let title = format!("{} from {} to {}", s.state.as_str(), format::clock(s.from), format::clock(s.to));
                    view! {
                        <rect class=format!("band band-{}", s.state.as_str()) x=x(s.from) y="0" width=(x(s.to) - x(s.from)).max(1.0) height="14">
                            <title>{title}</title>
                        </rect>
                    }
                })
                .collect_view();
            let marker = at.map(|at| view! { <line class="band-moment" x1=x(at) x2=x(at) y1="0" y2="14"/> });
            let (service, url) = (band.service, band.url);
            let key = url.clone();
            view! {
                <tr data-url=key>
                    <th scope="row">{service}" "<span class="url">{url}</span></th>
                    <td>
                        <svg class="bands" viewBox="0 0 1000 14" preserveAspectRatio="none" role="img" aria-label=label>
                            {rects}
                            {marker}
                        </svg>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let value = (at.unwrap_or(to) / 1000.0).floor();
    let shown = format::moment(at.unwrap_or(to));
    let filter =
        service.map(|service| view! { <input type="hidden" name="service" value=service/> });
    let events = if told.is_empty() {
        Either::Left(view! { <p class="empty">"No change was recorded in this hour."</p> })
    } else {
        Either::Right(view! {
            <ol class="history-events">
                {told
                    .into_iter()
                    .map(|event| {
                        let time = format::epoch_millis(&event.at);
                        let when = time.map(format::clock).unwrap_or_default();
                        let datetime = time.map(format::rfc3339).unwrap_or_default();
                        // A millisecond after it: the registry just after the change
                        // (times are written to the microsecond, moments to the ms).
                        let moment = format::epoch_millis(&event.at).map(|t| t + 1.0);
                        let current = at.is_some() && moment == at;
                        let href = format!(
                            "/registry?at={}",
                            format::url_encode(&format::rfc3339(moment.unwrap_or(to)))
                        );
                        view! {
                            <li data-kind=event.kind.as_str()>
                                <time datetime=datetime>{when}</time>" "
                                <a href=href aria-current=current.then_some("time")>{said(&event)}</a>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        })
    };
    view! {
        <section class="timeline" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">"Timeline"</h2>
            <p class="timeline-span">
                {format!("From {} to {} UTC. ", format::moment(from), format::clock(to))}
                {match at {
                    Some(_) => Either::Left(view! {
                        {format!("Showing the registry at {shown} UTC. ")}
                        <a href="/registry" class="live-link">"Live"</a>
                    }),
                    None => Either::Right(view! { "Showing the registry live." }),
                }}
            </p>
            {cut.map(|cut| view! { <p class="notice">{cut}</p> })}
            <form method="get" action="/registry" class="scrubber">
                {filter}
                <label for="timeline-at">"Moment"</label>
                <input id="timeline-at" type="range" name="at" min=(from / 1000.0).ceil() max=(to / 1000.0).floor() step="1" value=value />
                <button type="submit">"Show this moment"</button>
            </form>
            <table class="data bands-table" aria-labelledby="timeline-heading">
                <thead>
                    <tr><th scope="col">"Instance"</th><th scope="col">"Passing, critical or flapping; blank while absent"</th></tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <h3 id="told-heading">{if at.is_some() { "Changes around this moment" } else { "Latest changes" }}</h3>
            {events}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::registry::Registration;

    const T0: f64 = 1_796_112_000_000.0; // 2026-12-01T08:00:00Z

    fn info(url: &str, status: Status) -> InstanceInfo {
        InstanceInfo {
            registration: Registration {
                service_name: "LogService".into(),
                service_url: url.into(),
                ..Registration::default()
            },
            status,
            registered_at: String::new(),
            last_check_at: None,
            last_latency_ms: None,
            consecutive_failures: 0,
            recent_checks: Vec::new(),
            flapping: false,
        }
    }

    fn event(
        id: &str,
        seconds: f64,
        kind: HistoryKind,
        url: &str,
        status: Option<Status>,
    ) -> HistoryEvent {
        HistoryEvent {
            id: id.into(),
            at: format::rfc3339(T0 + seconds * 1000.0),
            kind,
            service: "LogService".into(),
            instance: url.into(),
            status,
            reason: "scripted".into(),
            registration: (kind == HistoryKind::Registered).then(Registration::default),
            registered_at: None,
        }
    }

    #[test]
    fn bands_replay_the_events_from_the_listing_at_the_start() {
        let start = vec![info("http://a", Status::Passing)];
        let events = vec![
            event(
                "1",
                60.0,
                HistoryKind::StatusChanged,
                "http://a",
                Some(Status::Critical),
            ),
            event(
                "2",
                120.0,
                HistoryKind::Registered,
                "http://b",
                Some(Status::Passing),
            ),
            event("3", 180.0, HistoryKind::Dropped, "http://a", None),
            event("4", 240.0, HistoryKind::Flapping, "http://b", None),
            event(
                "5",
                300.0,
                HistoryKind::Registered,
                "http://b",
                Some(Status::Passing),
            ),
            event("6", 360.0, HistoryKind::Steady, "http://b", None),
            event("7", 420.0, HistoryKind::Started, "", None),
        ];
        let bands = bands(&start, &events, &HashMap::new(), T0, T0 + 600_000.0);
        type Shape<'a> = Vec<(&'a str, Vec<(f64, f64, &'a str)>)>;
        let shape: Shape = bands
            .iter()
            .map(|b| {
                (
                    b.url.as_str(),
                    b.stretches
                        .iter()
                        .map(|s| {
                            (
                                (s.from - T0) / 1000.0,
                                (s.to - T0) / 1000.0,
                                s.state.as_str(),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (
                    "http://a",
                    vec![(0.0, 60.0, "passing"), (60.0, 180.0, "critical")]
                ),
                (
                    "http://b",
                    vec![
                        (120.0, 240.0, "passing"),
                        (240.0, 360.0, "flapping"),
                        (360.0, 420.0, "passing")
                    ]
                ),
            ]
        );
    }

    #[test]
    fn an_instance_that_begins_flapping_while_critical_is_flapping_once_it_passes() {
        let events = vec![
            event(
                "1",
                30.0,
                HistoryKind::StatusChanged,
                "http://a",
                Some(Status::Critical),
            ),
            event("2", 30.0, HistoryKind::Flapping, "http://a", None),
            event(
                "3",
                90.0,
                HistoryKind::StatusChanged,
                "http://a",
                Some(Status::Passing),
            ),
        ];
        let bands = bands(
            &[info("http://a", Status::Passing)],
            &events,
            &HashMap::new(),
            T0,
            T0 + 120_000.0,
        );
        let states: Vec<&str> = bands[0]
            .stretches
            .iter()
            .map(|s| s.state.as_str())
            .collect();
        assert_eq!(states, ["passing", "critical", "flapping"]);
    }

    #[test]
    fn after_a_gap_the_bands_take_the_listing_there() {
        let events = vec![
            event(
                "1",
                60.0,
                HistoryKind::Registered,
                "http://a",
                Some(Status::Passing),
            ),
            event("9", 120.0, HistoryKind::Gap, "", None),
        ];
        let after = HashMap::from([("9".to_owned(), vec![info("http://c", Status::Critical)])]);
        let bands = bands(&[], &events, &after, T0, T0 + 180_000.0);
        assert_eq!(bands.len(), 2);
        assert_eq!(bands[0].stretches.last().unwrap().to, T0 + 120_000.0);
        assert_eq!(bands[1].stretches[0].state, BandState::Critical);
        assert_eq!(bands[1].stretches[0].from, T0 + 120_000.0);
    }

    #[test]
    fn the_moment_is_a_time_or_unix_seconds_and_the_window_follows_it() {
        assert_eq!(parse_at("2026-12-01T08:00:00Z"), Ok(T0));
        assert_eq!(parse_at(" 1796112000 "), Ok(T0));
        assert!(parse_at("yesterday").unwrap_err().contains("RFC 3339"));
        let now = T0 + 10.0 * WINDOW_MS;
        assert_eq!(window(None, now), (now - WINDOW_MS, now));
        assert_eq!(window(Some(now - 60_000.0), now), (now - WINDOW_MS, now));
        assert_eq!(
            window(Some(T0), now),
            (T0 - WINDOW_MS / 2.0, T0 + WINDOW_MS / 2.0)
        );
        // What a direct call of the server function may send.
        assert_eq!(moment_at(f64::NAN, now), None);
        assert_eq!(moment_at(f64::INFINITY, now), None);
        assert_eq!(moment_at(1e300, now), Some(now));
        assert_eq!(moment_at(-1e300, now), Some(0.0));
        assert_eq!(moment_at(T0, now), Some(T0));
    }

    #[test]
    fn told_are_the_events_around_the_moment_in_words() {
        let events: Vec<HistoryEvent> = (0..30)
            .map(|n| {
                event(
                    &n.to_string(),
                    f64::from(n) * 10.0,
                    HistoryKind::StatusChanged,
                    "http://a",
                    Some(Status::Critical),
                )
            })
            .collect();
        let around = told(&events, Some(T0 + 100_000.0));
        assert_eq!(around.first().unwrap().id, "3");
        assert_eq!(around.last().unwrap().id, "18");
        assert_eq!(told(&events, None).first().unwrap().id, "22");
        assert_eq!(
            said(&events[0]),
            "LogService at http://a went critical: scripted"
        );
    }

    #[test]
    fn the_section_draws_a_band_per_instance_a_form_and_links_to_moments() {
        let data = TimelineData {
            from: T0,
            to: T0 + WINDOW_MS,
            at: Some(T0 + 60_001.0),
            bands: bands(
                &[info("http://a", Status::Passing)],
                &[event(
                    "1",
                    60.0,
                    HistoryKind::StatusChanged,
                    "http://a",
                    Some(Status::Critical),
                )],
                &HashMap::new(),
                T0,
                T0 + WINDOW_MS,
            ),
            told: vec![event(
                "1",
                60.0,
                HistoryKind::StatusChanged,
                "http://a",
                Some(Status::Critical),
            )],
            then: None,
            cut: None,
        };
        let html = crate::snapshot::html(
            || view! { <Timeline data service=Some("Log<Service>".into())/> },
        );
        assert!(
            html.contains(r#"<form method="get" action="/registry""#),
            "{html}"
        );
        assert!(
            html.contains(r#"name="service" value="Log&lt;Service&gt;""#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="/registry?at=2026-12-01T08%3A01%3A00.001Z""#),
            "{html}"
        );
        assert!(
            html.contains("passing 08:00:00–08:01:00, critical 08:01:00–09:00:00"),
            "{html}"
        );
        assert!(html.contains(r#"aria-current="time""#), "{html}");
        insta::assert_snapshot!(crate::snapshot::tag_lines(&html));
    }
}
