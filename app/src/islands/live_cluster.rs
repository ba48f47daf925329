//! The registry page's cluster panel, asked again every second: a node or an etcd member
//! that dies or returns shows within a second or two, without a reload.

use leptos::prelude::*;

use leptos::server_fn::ServerFn;

use crate::components::cluster_panel::{ClusterNodes, ClusterTables, NodeView};

/// How often the panel asks again.
const EVERY_MS: u64 = 1000;

/// The panel as the server drew it (`nodes`, or the `problem` asking them), redrawn from
/// each newer answer.
#[island]
pub fn LiveCluster(nodes: Vec<NodeView>, problem: Option<String>) -> impl IntoView {
    let shown = RwSignal::new((nodes, problem));
    let anchor = crate::live::Anchor::new();
    Effect::new(move |_| {
        // One question at a time: a slow answer is not piled on.
        let ask = || crate::live::call::<Vec<NodeView>>(ClusterNodes::PATH, &[]);
        let refresh = crate::live::refresher(ask, move |answer| {
            shown.set(match answer {
                Ok(nodes) => (nodes, None),
                Err(reason) => (Vec::new(), Some(reason)),
            });
        });
        // Only while the panel is on the page (see `live::Anchor`).
        let ask = move || {
            if crate::live::on_page(anchor) {
                refresh();
            }
        };
        if let Ok(handle) =
            set_interval_with_handle(ask, std::time::Duration::from_millis(EVERY_MS))
        {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <p class="cluster-live" hidden node_ref=anchor></p>
        {move || {
            let (nodes, problem) = shown.get();
            view! { <ClusterTables nodes problem/> }
        }}
    }
}
