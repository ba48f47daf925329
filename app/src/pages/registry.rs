//! `/registry`: the cluster panel ([`crate::cluster_panel`]: registry nodes and etcd), a
//! link to the system's Prometheus if the portal knows one ([`crate::monitoring`]), the
//! service map ([`crate::service_map`]) and a table of every registered instance with its
//! recent heartbeats: a pass/fail strip, a line of their latencies, and their p50 and max.
//! `?service=LogService` (or a click on the map) shows one service's instances only.
//!
//! The map and the table are HTML made on the server ([`render`]). Once hydrated, the
//! page follows the registry's event stream (through the portal's
//! `/portal/events/registry`): each event says that something changed, and the page asks
//! the server for the map and table again, so an instance that starts, stops or fails
//! shows within a second, without a reload, and the WASM carries no code to draw them.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    cluster_panel::ClusterPanel,
    format::{self, html_escape as esc},
    live,
    monitoring::MonitoringLinks,
    wire::registry::{CheckResult, InstanceInfo},
};

/// The event stream the page follows.
pub const EVENTS_URL: &str = "/portal/events/registry";

/// The map and the instance table, for `service` only if it is not empty.
#[server]
pub async fn registry_html(service: String) -> Result<String, ServerFnError> {
    let instances = crate::api::registry_instances().await?;
    Ok(render(&instances, service.trim(), live::now_millis()))
}

#[component]
pub fn RegistryPage() -> impl IntoView {
    let query = use_query_map();
    let service = move || query.read().get("service").unwrap_or_default();
    let initial = Resource::new(service, registry_html);
    view! {
        <Title text="Registry"/>
        <h1>"Registry"</h1>
        <ClusterPanel/>
        <MonitoringLinks/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (html, problem) = match initial.await {
                    Ok(html) => (html, None),
                    Err(err) => (String::new(), Some(err.to_string())),
                };
                view! { <LiveRegistry html problem service=service()/> }
            })}
        </Suspense>
    }
}

#[component]
fn LiveRegistry(html: String, problem: Option<String>, service: String) -> impl IntoView {
    let html = RwSignal::new(html);
    let problem = RwSignal::new(problem);
    let live = RwSignal::new(false);

    Effect::new(move |_| {
        let service = service.clone();
        let refresh = live::refresher(
            move || registry_html(service.clone()),
            move |answer| match answer {
                Ok(answer) => {
                    html.set(answer);
                    problem.set(None);
                }
                Err(err) => problem.set(Some(err.to_string())),
            },
        );
        live::follow(
            EVENTS_URL,
            &[
                "snapshot",
                "registered",
                "deregistered",
                "status_changed",
                "heartbeats",
                "unavailable",
            ],
            move |name: &str, data: String| {
                if name == "unavailable" {
                    problem.set(Some(data));
                } else {
                    refresh();
                }
            },
            move |up: bool| live.set(up),
        );
    });

    view! {
        <p class="live-state" aria-live="polite">
            {move || if live.get() { "Live: following the registry's events." } else { "Not live yet: showing the registry as the page was loaded." }}
        </p>
        {move || problem.get().map(|problem| view! {
            <div class="notice notice-error" role="alert">
                <h2>"The registry is unavailable"</h2>
                <p>{problem}</p>
                <p>"This page reconnects by itself."</p>
            </div>
        })}
        <div class="registry-live" inner_html=move || html.get()></div>
    }
}

/// The map, then the table of instances (only `service`'s if it is not empty), with ages
/// counted to `now` (milliseconds since the epoch). Every text from the registry is
/// escaped.
pub fn render(instances: &[InstanceInfo], service: &str, now: f64) -> String {
    let selected = (!service.is_empty()).then_some(service);
    let mut html = String::from(r#"<h2 id="map-heading">Services</h2>"#);
    html.push_str(&crate::service_map::render(instances, selected));
    html.push_str(r#"<h2 id="instances-heading">Instances</h2>"#);
    let mut list: Vec<&InstanceInfo> = instances
        .iter()
        .filter(|i| selected.is_none_or(|s| i.registration.service_name == s))
        .collect();
    if let Some(service) = selected {
        html.push_str(&format!(
            r#"<p class="filter-state">Showing {}’s instances only. <a href="/registry">Show every service</a></p>"#,
            esc(service)
        ));
    }
    if list.is_empty() {
        html.push_str(r#"<p class="empty">No instances are registered.</p>"#);
        return html;
    }
    list.sort_by(|a, b| {
        (&a.registration.service_name, &a.registration.service_url)
            .cmp(&(&b.registration.service_name, &b.registration.service_url))
    });
    html.push_str(r#"<div class="table-scroll"><table class="data registry" aria-labelledby="instances-heading"><thead><tr><th scope="col">Service</th><th scope="col">URL</th><th scope="col">Status</th><th scope="col" class="number">Last heartbeat</th><th scope="col" class="number">Latency</th><th scope="col" class="number">p50 / max</th><th scope="col" class="number">Failures</th><th scope="col">Requires</th><th scope="col">Recent checks</th></tr></thead><tbody>"#);
    for instance in list {
        html.push_str(&row(instance, now));
    }
    html.push_str("</tbody></table></div>");
    html
}

fn row(instance: &InstanceInfo, now: f64) -> String {
    let reg = &instance.registration;
    let status = instance.status.as_str();
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
    let labels: String = reg
        .tags
        .iter()
        .map(|tag| format!(r#"<span class="tag">{}</span>"#, esc(tag)))
        .chain(reg.meta.iter().map(|(key, value)| {
            format!(
                r#"<span class="tag meta">{}={}</span>"#,
                esc(key),
                esc(value)
            )
        }))
        .collect();
    let labels = if labels.is_empty() {
        labels
    } else {
        format!(r#"<span class="tags">{labels}</span>"#)
    };
    let checks = &instance.recent_checks;
    let failed = checks.iter().filter(|c| !c.ok).count();
    let summary = format!(
        "last {} checks: {} passed, {} failed",
        checks.len(),
        checks.len() - failed,
        failed
    );
    let ticks: String = checks
        .iter()
        .map(|check| {
            if check.ok {
                r#"<span class="tick ok"></span>"#
            } else {
                r#"<span class="tick failed"></span>"#
            }
        })
        .collect();
    format!(
        r#"<tr data-url="{url}" data-status="{status}"><td>{name}{labels}</td><td class="url">{url}</td><td><span class="badge badge-{status}">{status}</span></td><td class="number">{last}</td><td class="number">{latency}</td><td class="number nowrap">{spread}</td><td class="number">{failures}</td><td>{requires}</td><td><span class="checks"><span class="strip" role="img" aria-label="{summary}" title="{summary}">{ticks}</span>{line}</span></td></tr>"#,
        url = esc(&reg.service_url),
        name = esc(&reg.service_name),
        failures = instance.consecutive_failures,
        requires = esc(&requires),
        line = sparkline(checks),
    )
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

/// A small line of the checks' latencies, oldest on the left, scaled to the largest;
/// a failed check breaks the line (the strip beside it marks it). Its label says the
/// figures in words.
pub fn sparkline(checks: &[CheckResult]) -> String {
    let Some((p50, max)) = latencies(checks) else {
        return String::new();
    };
    let width = TICK * checks.len() as f64;
    let scale = if max > 0.0 {
        (SPARK_H - 2.0) / max
    } else {
        0.0
    };
    let mut lines = String::new();
    let mut points: Vec<(f64, f64)> = Vec::new();
    let mut flush = |points: &mut Vec<(f64, f64)>| {
        match points.as_slice() {
            [] => {}
            [(x, y)] => lines.push_str(&format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="1.5"/>"#)),
            _ => {
                let list: Vec<String> = points
                    .iter()
                    .map(|(x, y)| format!("{x:.1},{y:.1}"))
                    .collect();
                lines.push_str(&format!(r#"<polyline points="{}"/>"#, list.join(" ")));
            }
        }
        points.clear();
    };
    for (i, check) in checks.iter().enumerate() {
        match check.latency_ms {
            Some(ms) if check.ok => {
                points.push((i as f64 * TICK + 2.5, SPARK_H - 1.0 - ms * scale))
            }
            _ => flush(&mut points),
        }
    }
    flush(&mut points);
    format!(
        r#"<svg class="spark" width="{width}" height="{SPARK_H}" viewBox="0 0 {width} {SPARK_H}" role="img" aria-label="check latency over the last {} checks: p50 {p50:.1} ms, max {max:.1} ms"><title>p50 {p50:.1} ms, max {max:.1} ms</title>{lines}</svg>"#,
        checks.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ok: bool, ms: Option<f64>) -> CheckResult {
        CheckResult {
            url: "http://x".into(),
            at: "2026-11-30T08:00:00Z".into(),
            ok,
            latency_ms: ms,
            error: None,
        }
    }

    fn instance(name: &str, url: &str) -> InstanceInfo {
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
        }
    }

    #[test]
    fn a_service_asked_for_keeps_only_its_rows_and_the_map_marks_it() {
        let mut tagged = instance("LogService", "http://l");
        tagged.registration.tags = vec!["primary".into(), "<i>".into()];
        tagged.registration.meta = [("version".into(), "2 & up".into())].into();
        let all = [tagged, instance("<G>", "http://g\"><b>")];
        let now = 1_796_025_602_000.0; // 2 s after the checks
        let html = render(&all, "LogService", now);
        assert!(
            html.contains(r#"<tr data-url="http://l" data-status="passing">"#),
            "{html}"
        );
        assert!(!html.contains(r#"<tr data-url="http://g"#), "{html}");
        assert!(html.contains("Showing LogService’s instances only."));
        assert!(
            html.contains(r#"class="map-node health-passing selected" data-service="LogService""#)
        );
        assert!(html.contains("2.0 s ago"), "{html}");
        assert!(
            html.contains(r#"<span class="tags"><span class="tag">primary</span><span class="tag">&lt;i&gt;</span><span class="tag meta">version=2 &amp; up</span></span>"#),
            "{html}"
        );
        insta::assert_snapshot!(crate::snapshot::tag_lines(&html));
        let html = render(&all, "", now);
        assert!(!html.contains("<b>") && !html.contains("<G>"), "{html}");
        assert!(
            html.contains(r#"<tr data-url="http://g&quot;&gt;&lt;b&gt;""#),
            "{html}"
        );
        assert!(html.contains("1.0 ms / 1.0 ms"));
        assert!(render(&[], "", now).contains("No instances are registered."));
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
        let line = sparkline(&[
            check(true, Some(2.0)),
            check(true, Some(4.0)),
            check(false, None),
            check(true, Some(1.0)),
        ]);
        assert_eq!(line.matches("<polyline").count(), 1, "{line}");
        assert_eq!(line.matches("<circle").count(), 1, "{line}");
        assert!(line.contains(r#"<circle cx="23.5" cy="14.5""#), "{line}");
        assert!(line.contains("over the last 4 checks: p50 2.0 ms, max 4.0 ms"));
        assert_eq!(sparkline(&[]), "");
    }
}
