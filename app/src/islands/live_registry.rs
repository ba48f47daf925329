//! The registry page's live view: the service map and the instance table, redrawn in the
//! browser from the registry's list each time its event stream (relayed by the portal at
//! [`EVENTS_URL`]) says something changed, so an instance that starts, stops or fails
//! shows within a second, without a reload.

use leptos::prelude::*;

use crate::{
    api::RegistryInstances,
    components::{instance_table::InstanceTable, service_map::ServiceMap},
    live,
    wire::registry::InstanceInfo,
};

/// The event stream the view follows.
pub const EVENTS_URL: &str = "/portal/events/registry";

/// The map and the table as the server drew them (`instances` at `now`, milliseconds
/// since the epoch, or the `problem` asking for them), only `service`'s instances in the
/// table if it is set.
#[island]
pub fn LiveRegistry(
    instances: Vec<InstanceInfo>,
    now: f64,
    problem: Option<String>,
    service: Option<String>,
) -> impl IntoView {
    let shown = RwSignal::new((instances, now));
    let problem = RwSignal::new(problem);
    let live = RwSignal::new(false);
    let anchor = live::Anchor::new();

    Effect::new(move |_| {
        use leptos::server_fn::ServerFn;
        let ask = || live::call::<Vec<InstanceInfo>>(RegistryInstances::PATH, &[]);
        let refresh = live::refresher(ask, move |answer| match answer {
            Ok(list) => {
                shown.set((list, live::now_millis()));
                problem.set(None);
            }
            Err(reason) => problem.set(Some(reason)),
        });
        live::follow(
            EVENTS_URL,
            &[
                "snapshot",
                "registered",
                "deregistered",
                "status_changed",
                "heartbeats",
                "flapping",
                "unavailable",
            ],
            anchor,
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
        <p class="live-state" aria-live="polite" node_ref=anchor>
            {move || if live.get() { "Live: following the registry's events." } else { "Not live yet: showing the registry as the page was loaded." }}
        </p>
        {move || problem.get().map(|problem| view! {
            <div class="notice notice-error" role="alert">
                <h2>"The registry is unavailable"</h2>
                <p>{problem}</p>
                <p>"This page reconnects by itself."</p>
            </div>
        })}
        <h2 id="map-heading">"Services"</h2>
        {
            let service = service.clone();
            move || {
                let (instances, _) = shown.get();
                view! { <ServiceMap instances selected=service.clone()/> }
            }
        }
        <h2 id="instances-heading">"Instances"</h2>
        {move || {
            let (instances, now) = shown.get();
            view! { <InstanceTable instances service=service.clone() now/> }
        }}
    }
}
