//! `/registry`: the cluster panel ([`crate::components::cluster_panel`]: registry nodes
//! and etcd), a link to the system's Prometheus if the portal knows one
//! ([`crate::components::monitoring`]), the service map and a table of every registered
//! instance with its recent heartbeats. `?service=LogService` (or a click on the map)
//! shows one service's instances only.
//!
//! The map and the table are the [`LiveRegistry`] island: drawn here on the server, then
//! redrawn in the browser as the registry's events arrive.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::registry_instances,
    components::{
        cluster_panel::ClusterPanel,
        keyed::{IslandEnd, Keyed},
        monitoring::MonitoringLinks,
    },
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
    let instances = Resource::new(|| (), |_| registry_instances());
    view! {
        <Title text="Registry"/>
        <h1>"Registry"</h1>
        <ClusterPanel/>
        <MonitoringLinks/>
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
