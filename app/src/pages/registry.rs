//! `/registry`: the cluster panel ([`crate::components::cluster_panel`]: registry nodes
//! and etcd), a link to the system's Prometheus if the portal knows one
//! ([`crate::components::monitoring`]), the service map and a table of every registered
//! instance with its recent heartbeats. `?service=LogService` (or a click on the map)
//! shows one service's instances only.
//!
//! The map and the table are the [`LiveRegistry`] island: drawn here on the server, then
//! redrawn in the browser as the registry's events arrive. Above them, the
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
        keyed::{IslandEnd, Keyed},
        monitoring::MonitoringLinks,
        service_map::ServiceMap,
        timeline::{Timeline, parse_at, registry_timeline},
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
    let timeline_service = service.clone();
    let drawn = match moment {
        Some(at) => Either::Left(view! {
            <Suspense fallback=|| view! { <p>"Reading the registry's history…"</p> }>
                {move || {
                    let service = service.clone();
                    Suspend::new(async move {
                        let said = view! {
                            <p class="live-state">
                                {format!("The registry at {} UTC, from its history: not live. ", format::clock(at))}
                                <a href="/registry">"Back to live"</a>
                            </p>
                        };
                        match timeline.await {
                            Ok(data) => {
                                let then = data.then.unwrap_or_default();
                                Either::Left(view! {
                                    {said}
                                    <h2 id="map-heading">"Services"</h2>
                                    <ServiceMap instances=then.clone() selected=service.clone()/>
                                    <h2 id="instances-heading">"Instances"</h2>
                                    <InstanceTable instances=then service now=at/>
                                })
                            }
                            // Why is said once, in the timeline above.
                            Err(_) => Either::Right(view! {
                                {said}
                                <p class="notice">"The registry as it was then cannot be drawn: see the timeline above."</p>
                            }),
                        }
                    })
                }}
            </Suspense>
        }),
        None => Either::Right(live_view(service)),
    };
    view! {
        <Title text="Registry"/>
        <h1>"Registry"</h1>
        <ClusterPanel/>
        <MonitoringLinks/>
        {bad_moment.map(|reason| view! {
            <div class="notice notice-error" role="alert"><p>{reason}</p></div>
        })}
        <Suspense fallback=|| view! { <p>"Reading the registry's history…"</p> }>
            {move || {
                let service = timeline_service.clone();
                Suspend::new(async move {
                    match timeline.await {
                        Ok(data) => Either::Left(view! { <Timeline data service/> }),
                        Err(err) => Either::Right(view! {
                            <section class="timeline" aria-labelledby="timeline-heading">
                                <h2 id="timeline-heading">"Timeline"</h2>
                                <p class="notice">{format::server_error(&err)}</p>
                            </section>
                        }),
                    }
                })
            }}
        </Suspense>
        {drawn}
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
