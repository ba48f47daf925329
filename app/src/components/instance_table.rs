//! The `/registry` page's table of instances: one row per registered instance with its
//! status (`flapping` while it passes but is held out of discovery), its last heartbeat's age and latency, its p50 and largest latency, and a strip
//! of its recent checks (pass or fail) under a line of their latencies.
//!
//! Drawn by the registry page's live island ([`crate::islands::live_registry`]), on the
//! server first and then in the browser from each newer list.

use leptos::{either::Either, prelude::*};

use crate::{
    components::charts::svg_title,
    format,
    wire::registry::{CheckResult, InstanceInfo},
};

/// The instances (only `service`'s if it is set), ordered by service and URL, with ages
/// counted to `now` (milliseconds since the epoch).
#[component]
pub fn InstanceTable(
    instances: Vec<InstanceInfo>,
    service: Option<String>,
    now: f64,
) -> impl IntoView {
    let mut list: Vec<InstanceInfo> = instances
        .into_iter()
        .filter(|i| {
            service
                .as_deref()
                .is_none_or(|s| i.registration.service_name == s)
        })
        .collect();
    let filter = service.map(|service| {
        view! {
            <p class="filter-state">
                {format!("Showing {service}’s instances only. ")}
                <a href="/registry">"Show every service"</a>
            </p>
        }
    });
    if list.is_empty() {
        return Either::Left(view! {
            {filter}
            <p class="empty">"No instances are registered."</p>
        });
    }
    list.sort_by(|a, b| {
        (&a.registration.service_name, &a.registration.service_url)
            .cmp(&(&b.registration.service_name, &b.registration.service_url))
    });
    let rows = list
        .into_iter()
        .map(|instance| view! { <InstanceRow instance now/> })
        .collect_view();
    Either::Right(view! {
        {filter}
        <div class="table-scroll">
            <table class="data registry" aria-labelledby="instances-heading">
                <thead>
                    <tr>
                        <th scope="col">"Service"</th>
                        <th scope="col">"URL"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col" class="number">"Last heartbeat"</th>
                        <th scope="col" class="number">"Latency"</th>
                        <th scope="col" class="number">"p50 / max"</th>
                        <th scope="col" class="number">"Failures"</th>
                        <th scope="col">"Requires"</th>
                        <th scope="col">"Recent checks"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    })
}

#[component]
fn InstanceRow(instance: InstanceInfo, now: f64) -> impl IntoView {
    let reg = instance.registration;
    let status = instance.status.as_str();
    // Passing but held out of discovery: its badge says so (a word in the one badge, not a
    // second badge: the WASM has no room for another view).
    let shown = if instance.flapping && status == "passing" {
        "flapping"
    } else {
        status
    };
    let last = instance
        .last_check_at
        .as_deref()
        .and_then(format::epoch_millis)
        .map(|at| format!("{} ago", format::age((now - at) / 1000.0)))
        .unwrap_or_else(|| "—".into());
    let ms = |ms: f64| format!("{ms:.1} ms");
    let latency = instance
        .last_latency_ms
        .map(ms)
        .unwrap_or_else(|| "—".into());
    let spread = match latencies(&instance.recent_checks) {
        Some((p50, max)) => format!("{} / {}", ms(p50), ms(max)),
        None => "—".into(),
    };
    let requires = if reg.required_services.is_empty() {
        "—".to_owned()
    } else {
        reg.required_services.join(", ")
    };
    // Its tags, then its metadata as key=value, under its name.
    let labels = (!reg.tags.is_empty() || !reg.meta.is_empty()).then(|| {
        let tags = reg
            .tags
            .into_iter()
            .map(|tag| view! { <span class="tag">{tag}</span> })
            .collect_view();
        let meta = reg
            .meta
            .into_iter()
            .map(|(key, value)| view! { <span class="tag meta">{format!("{key}={value}")}</span> })
            .collect_view();
        view! { <span class="tags">{tags}{meta}</span> }
    });
    let checks = instance.recent_checks;
    let failed = checks.iter().filter(|c| !c.ok).count();
    let summary = format!(
        "last {} checks: {} passed, {} failed",
        checks.len(),
        checks.len() - failed,
        failed
    );
    let ticks = checks
        .iter()
        .map(|check| view! { <span class=if check.ok { "tick ok" } else { "tick failed" }></span> })
        .collect_view();
    let url = reg.service_url.clone();
    view! {
        <tr data-url=reg.service_url data-status=status>
            <td>{reg.service_name}{labels}</td>
            <td class="url">{url}</td>
            <td><span class=format!("badge badge-{shown}")>{shown}</span></td>
            <td class="number">{last}</td>
            <td class="number">{latency}</td>
            <td class="number nowrap">{spread}</td>
            <td class="number">{instance.consecutive_failures}</td>
            <td>{requires}</td>
            <td>
                <span class="checks">
                    <span class="strip" role="img" aria-label=summary.clone() title=summary>{ticks}</span>
                    <Sparkline checks/>
                </span>
            </td>
        </tr>
    }
}

/// The median and the largest latency of the checks that measured one.
pub fn latencies(checks: &[CheckResult]) -> Option<(f64, f64)> {
    let mut all: Vec<f64> = checks.iter().filter_map(|c| c.latency_ms).collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(f64::total_cmp);
    // Nearest rank: the smallest value at or above half of them.
    let p50 = all[(all.len() - 1) / 2];
    Some((p50, all[all.len() - 1]))
}

/// A strip's tick and the gap after it, in pixels (see the stylesheet's `.tick`), so
/// each point of the line sits over its check's tick.
const TICK: f64 = 7.0;
const SPARK_H: f64 = 20.0;

/// The runs of a line of the checks' latencies: the points `(x, y)` of each unbroken run,
/// oldest on the left, scaled to the largest; a failed check breaks the line.
pub fn spark_runs(checks: &[CheckResult], max: f64) -> Vec<Vec<(f64, f64)>> {
    let scale = if max > 0.0 {
        (SPARK_H - 2.0) / max
    } else {
        0.0
    };
    let mut runs = vec![Vec::new()];
    for (i, check) in checks.iter().enumerate() {
        match check.latency_ms {
            Some(ms) if check.ok => runs
                .last_mut()
                .expect("never empty")
                .push((i as f64 * TICK + 2.5, SPARK_H - 1.0 - ms * scale)),
            _ => runs.push(Vec::new()),
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

/// A small line of the checks' latencies (the strip beside it marks the failures); its
/// label says the figures in words. Nothing if no check measured a latency.
#[component]
pub fn Sparkline(checks: Vec<CheckResult>) -> Option<impl IntoView> {
    let (p50, max) = latencies(&checks)?;
    let width = TICK * checks.len() as f64;
    let runs = spark_runs(&checks, max)
        .into_iter()
        .map(|run| match run.as_slice() {
            [(x, y)] => {
                Either::Left(view! { <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="1.5"/> })
            }
            _ => {
                let points: Vec<String> =
                    run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                Either::Right(view! { <polyline points=points.join(" ")/> })
            }
        })
        .collect_view();
    let figures = format!("p50 {p50:.1} ms, max {max:.1} ms");
    let label = format!(
        "check latency over the last {} checks: {figures}",
        checks.len()
    );
    Some(view! {
        <svg
            class="spark"
            width=width
            height=SPARK_H
            viewBox=format!("0 0 {width} {SPARK_H}")
            preserveAspectRatio="xMinYMid meet"
            role="img"
            aria-label=label
        >
            {svg_title(figures)}
            {runs}
        </svg>
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::html;

    fn check(ok: bool, ms: Option<f64>) -> CheckResult {
        CheckResult {
            url: "http://x".into(),
            at: "2026-11-30T08:00:00Z".into(),
            ok,
            latency_ms: ms,
            error: None,
        }
    }

    pub(crate) fn instance(name: &str, url: &str) -> InstanceInfo {
        InstanceInfo {
            registration: crate::wire::registry::Registration {
                service_name: name.into(),
                service_url: url.into(),
                required_services: vec![],
                service_update_url: format!("{url}/services"),
                heartbeat_url: format!("{url}/heartbeat"),
                ..Default::default()
            },
            status: crate::wire::registry::Status::Passing,
            registered_at: "2026-11-30T08:00:00Z".into(),
            last_check_at: Some("2026-11-30T08:00:00Z".into()),
            last_latency_ms: Some(1.0),
            consecutive_failures: 0,
            recent_checks: vec![check(true, Some(1.0))],
            flapping: false,
        }
    }

    #[test]
    fn a_flapping_instance_wears_a_flapping_badge() {
        let mut flapping = instance("LogService", "http://l");
        flapping.flapping = true;
        let instances = vec![flapping, instance("LogService", "http://m")];
        let table = html(|| view! { <InstanceTable instances service=None now=0.0/> });
        assert_eq!(table.matches(">flapping</span>").count(), 1, "{table}");
        assert!(table.contains(r#"class="badge badge-flapping""#), "{table}");
    }

    #[test]
    fn a_service_asked_for_keeps_only_its_rows_and_every_text_is_escaped() {
        let mut tagged = instance("LogService", "http://l");
        tagged.registration.tags = vec!["primary".into(), "<i>".into()];
        tagged.registration.meta = [("version".into(), "2 & up".into())].into();
        let all = vec![tagged, instance("<G>", "http://g\"><b>")];
        let now = 1_796_025_602_000.0; // 2 s after the checks
        let instances = all.clone();
        let table =
            html(|| view! { <InstanceTable instances service=Some("LogService".into()) now/> });
        assert!(
            table.contains(r#"<tr data-url="http://l" data-status="passing">"#),
            "{table}"
        );
        assert!(!table.contains(r#"<tr data-url="http://g"#), "{table}");
        assert!(table.contains("Showing LogService’s instances only."));
        assert!(table.contains("2.0 s ago"), "{table}");
        insta::assert_snapshot!(crate::snapshot::tag_lines(&table));
        let instances = all;
        let table = html(|| view! { <InstanceTable instances service=None now/> });
        assert!(!table.contains("<b>") && !table.contains("<G>"), "{table}");
        assert!(table.contains("1.0 ms / 1.0 ms"));
        let none = html(|| view! { <InstanceTable instances=vec![] service=None now/> });
        assert!(none.contains("No instances are registered."));
    }

    #[test]
    fn p50_and_max_are_over_the_checks_that_measured_a_latency() {
        let checks = [
            check(true, Some(4.0)),
            check(false, None),
            check(true, Some(1.0)),
            check(true, Some(9.0)),
            check(true, Some(2.0)),
        ];
        assert_eq!(latencies(&checks), Some((2.0, 9.0)));
        assert_eq!(latencies(&[check(false, None)]), None);
        assert_eq!(latencies(&[check(true, Some(3.0))]), Some((3.0, 3.0)));
    }

    #[test]
    fn a_failed_check_breaks_the_line_and_the_label_gives_the_figures() {
        let checks = vec![
            check(true, Some(2.0)),
            check(true, Some(4.0)),
            check(false, None),
            check(true, Some(1.0)),
        ];
        let line = html(|| view! { <Sparkline checks/> });
        assert_eq!(line.matches("<polyline").count(), 1, "{line}");
        assert_eq!(line.matches("<circle").count(), 1, "{line}");
        assert!(line.contains(r#"<circle cx="23.5" cy="14.5""#), "{line}");
        assert!(line.contains("over the last 4 checks: p50 2.0 ms, max 4.0 ms"));
        assert_eq!(html(|| view! { <Sparkline checks=vec![]/> }), "");
    }
}
