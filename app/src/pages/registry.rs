//! `/registry`: a live table of every registered instance and its recent heartbeats,
//! under the cluster panel ([`crate::cluster_panel`]: the registry nodes and etcd).
//!
//! The server renders it from the registry's listing; once hydrated, the page follows the
//! registry's event stream (through the portal's `/portal/events/registry`), so instances
//! that start, stop or fail show up within a second, without a reload.

use std::collections::BTreeMap;

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    api::registry_instances,
    cluster_panel::ClusterPanel,
    format, live,
    wire::registry::{CheckResult, InstanceInfo, RegistryEvent},
};

/// The event stream the page follows.
pub const EVENTS_URL: &str = "/portal/events/registry";
/// How many heartbeat results each row's strip shows.
const STRIP: usize = 30;

#[component]
pub fn RegistryPage() -> impl IntoView {
    let initial = Resource::new(|| (), |_| registry_instances());
    view! {
        <Title text="Registry"/>
        <h1>"Registry"</h1>
        <ClusterPanel/>
        <h2>"Instances"</h2>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (instances, problem) = match initial.await {
                    Ok(list) => (list, None),
                    Err(err) => (Vec::new(), Some(err.to_string())),
                };
                view! { <LiveRegistry instances problem/> }
            })}
        </Suspense>
    }
}

#[component]
fn LiveRegistry(instances: Vec<InstanceInfo>, problem: Option<String>) -> impl IntoView {
    let rows = RwSignal::new(
        instances
            .into_iter()
            .map(|i| (i.registration.service_url.clone(), i))
            .collect::<BTreeMap<_, _>>(),
    );
    let problem = RwSignal::new(problem);
    let live = RwSignal::new(false);
    let now = RwSignal::new(live::now_millis());

    Effect::new(move |_| {
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
                    return;
                }
                problem.set(None);
                if let Ok(event) = serde_json::from_str::<RegistryEvent>(&data) {
                    rows.update(|rows| apply(rows, event));
                }
            },
            move |up: bool| live.set(up),
        );
        if let Ok(handle) = set_interval_with_handle(
            move || now.set(live::now_millis()),
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    });

    let sorted = move || {
        let mut list: Vec<InstanceInfo> = rows.with(|rows| rows.values().cloned().collect());
        list.sort_by(|a, b| {
            (&a.registration.service_name, &a.registration.service_url)
                .cmp(&(&b.registration.service_name, &b.registration.service_url))
        });
        list
    };
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
        {move || {
            let list = sorted();
            if list.is_empty() {
                return Either::Left(view! { <p class="empty">"No instances are registered."</p> });
            }
            Either::Right(view! {
                <div class="table-scroll">
                    <table class="data registry">
                        <thead>
                            <tr>
                                <th scope="col">"Service"</th>
                                <th scope="col">"URL"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col" class="number">"Last heartbeat"</th>
                                <th scope="col" class="number">"Latency"</th>
                                <th scope="col" class="number">"Failures"</th>
                                <th scope="col">"Requires"</th>
                                <th scope="col">"Recent checks"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {list.into_iter().map(|instance| row(instance, now.get())).collect_view()}
                        </tbody>
                    </table>
                </div>
            })
        }}
    }
}

fn row(instance: InstanceInfo, now: f64) -> impl IntoView {
    let reg = instance.registration;
    let status = instance.status.as_str();
    let last = instance
        .last_check_at
        .as_deref()
        .and_then(format::epoch_millis)
        .map(|at| format!("{} ago", format::age((now - at) / 1000.0)))
        .unwrap_or_else(|| "—".into());
    let latency = instance
        .last_latency_ms
        .map(|ms| format!("{ms:.1} ms"))
        .unwrap_or_else(|| "—".into());
    let requires = if reg.required_services.is_empty() {
        "—".to_owned()
    } else {
        reg.required_services.join(", ")
    };
    let checks = instance.recent_checks;
    let failed = checks.iter().filter(|c| !c.ok).count();
    let summary = format!(
        "last {} checks: {} passed, {} failed",
        checks.len(),
        checks.len() - failed,
        failed
    );
    let url = reg.service_url.clone();
    view! {
        <tr data-url=url data-status=status>
            <td>{reg.service_name}</td>
            <td class="url">{reg.service_url}</td>
            <td><span class=format!("badge badge-{status}")>{status}</span></td>
            <td class="number">{last}</td>
            <td class="number">{latency}</td>
            <td class="number">{instance.consecutive_failures}</td>
            <td>{requires}</td>
            <td>
                <span class="strip" role="img" aria-label=summary.clone() title=summary>
                    {checks
                        .into_iter()
                        .map(|check| {
                            let class = if check.ok { "tick ok" } else { "tick failed" };
                            view! { <span class=class></span> }
                        })
                        .collect_view()}
                </span>
            </td>
        </tr>
    }
}

/// Applies one registry event to the rows, keyed by instance URL.
pub fn apply(rows: &mut BTreeMap<String, InstanceInfo>, event: RegistryEvent) {
    match event {
        RegistryEvent::Snapshot { instances, .. } => {
            *rows = instances
                .into_iter()
                .map(|i| (i.registration.service_url.clone(), i))
                .collect();
        }
        RegistryEvent::Registered { instance, .. } => {
            rows.insert(instance.registration.service_url.clone(), instance);
        }
        RegistryEvent::Deregistered { url, .. } => {
            rows.remove(&url);
        }
        RegistryEvent::StatusChanged { url, status, .. } => {
            if let Some(row) = rows.get_mut(&url) {
                row.status = status;
            }
        }
        RegistryEvent::Heartbeats { results, .. } => {
            for result in results {
                if let Some(row) = rows.get_mut(&result.url) {
                    record(row, result);
                }
            }
        }
    }
}

fn record(row: &mut InstanceInfo, check: CheckResult) {
    row.last_check_at = Some(check.at.clone());
    if check.latency_ms.is_some() {
        row.last_latency_ms = check.latency_ms;
    }
    row.consecutive_failures = if check.ok {
        0
    } else {
        row.consecutive_failures + 1
    };
    row.recent_checks.push(check);
    let excess = row.recent_checks.len().saturating_sub(STRIP);
    row.recent_checks.drain(..excess);
}
