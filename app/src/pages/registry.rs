//! `/registry`: the cluster panel ([`crate::components::cluster_panel`]: registry nodes
//! and etcd), a link to the system's Prometheus if the portal knows one
//! ([`crate::components::monitoring`]), the service map and a table of every registered
//! instance with its recent heartbeats. `?service=LogService` (or a click on the map)
//! shows one service's instances only.
//!
//! The map and the table are the [`LiveRegistry`] island: drawn here on the server, then
//! redrawn in the browser as the registry's events arrive. Below them, the
//! [`Timeline`] of the last hour; `?at=<RFC 3339 time or Unix seconds>` (its scrubber, or
//! a link to one of its changes) draws the map and the table as they were then, from the
//! registry's history, and not live.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::registry_instances,
    components::{
        cluster_panel::ClusterPanel,
        instance_table::InstanceTable,
        keyed::{IslandEnd, Keyed, key_of},
        monitoring::MonitoringLinks,
        service_map::ServiceMap,
        timeline::{Timeline, TimelineData, parse_at, registry_timeline},
    },
    format,
    islands::live_registry::LiveRegistry,
    live,
};

#[component]
pub fn RegistryPage() -> impl IntoView {
    let query = use_query_map();
    let service = query.with_untracked(|query| {
        query
            .get("service")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    });
    // A moment asked for: the map and the table as they were then, not live.
    let asked = query.with_untracked(|query| {
        query
            .get("at")
            .map(|at| at.trim().to_owned())
            .filter(|at| !at.is_empty())
    });
    let (moment, bad_moment) = match asked.as_deref().map(parse_at) {
        Some(Ok(at)) => (Some(at), None),
        Some(Err(reason)) => (None, Some(reason)),
        None => (None, None),
    };
    let timeline = Resource::new(|| (), move |_| registry_timeline(moment));
    view! {
        <Title text="Registry"/>
        <h1>"Registry"</h1>
        <ClusterPanel/>
        <MonitoringLinks/>
        {bad_moment.map(|reason| view! {
            <div class="notice notice-error" role="alert"><p>{reason}</p></div>
        })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let service = service.clone();
                Suspend::new(async move {
                    let data = timeline.await.map_err(|err| format::server_error(&err));
                    // One drawing, keyed by what it shows: the islands router diffs the
                    // next page into this one node by node, which goes wrong where they
                    // differ in shape (a moment's map and timeline against another's),
                    // and it replaces only the first keyed list it meets (see `Keyed`).
                    let key = key_of(&(&data, &service, moment.map(f64::to_bits)));
                    view! {
                        <Keyed key>
                            {match moment {
                                Some(at) => Either::Left(at_moment(at, &data, service.clone())),
                                None => Either::Right(live_view(service.clone())),
                            }}
                            {match data.clone() {
                                Ok(data) => Either::Left(view! { <Timeline data service=service.clone()/> }),
                                Err(reason) => Either::Right(view! {
                                    <section class="timeline" aria-labelledby="timeline-heading">
                                        <h2 id="timeline-heading">"Timeline"</h2>
                                        <p class="notice">{reason}</p>
                                    </section>
                                }),
                            }}
                        </Keyed>
                    }
                })
            }}
        </Suspense>
    }
}

/// The map and the table as they were at `at`, from the registry's history.
fn at_moment(
    at: f64,
    data: &Result<TimelineData, String>,
    service: Option<String>,
) -> impl IntoView + use<> {
    let then = match data {
        Ok(data) => data.then.clone().unwrap_or_else(|| Ok(Vec::new())),
        // Why is said once, in the timeline below.
        Err(_) => {
            Err("The registry as it was then cannot be drawn: see the timeline below.".to_owned())
        }
    };
    view! {
        <p class="live-state">
            {format!("The registry at {} UTC, from its history: not live. ", format::moment(at))}
            <a href="/registry">"Back to live"</a>
        </p>
        {match then {
            Ok(then) => Either::Left(view! {
                <h2 id="map-heading">"Services"</h2>
                <ServiceMap instances=then.clone() selected=service.clone()/>
                <h2 id="instances-heading">"Instances"</h2>
                <InstanceTable instances=then service now=at/>
            }),
            Err(reason) => Either::Right(view! { <p class="notice">{reason}</p> }),
        }}
    }
}

/// The map and the table, live: the [`LiveRegistry`] island.
fn live_view(service: Option<String>) -> impl IntoView {
    let instances = Resource::new(|| (), |_| registry_instances());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let service = service.clone();
                Suspend::new(async move {
                    let (instances, problem) = match instances.await {
                        Ok(list) => (list, None),
                        Err(err) => (Vec::new(), Some(crate::format::server_error(&err))),
                    };
                    let now = live::now_millis();
                    view! {
                        // A filter asked for is a new island: see `Keyed`.
                        <Keyed key=service.clone()>
                            <LiveRegistry instances=instances.clone() now problem=problem.clone() service=service.clone()/>
                            <IslandEnd/>
                        </Keyed>
                    }
                })
            }}
        </Suspense>
    }
}
