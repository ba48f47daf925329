//! The `/registry` page's link to the Prometheus that scrapes the system, when the portal
//! is told of one (`--prometheus-url`; `make cluster` starts one that finds every
//! instance through the registry's `GET /prometheus/targets`). Nothing is shown without
//! it. The address comes from the portal's own flags, never from a registration: an
//! anonymous registrant must not be able to put a link on the teacher's page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the portal knows of the system's monitoring, provided to the server functions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Monitoring {
    /// A page of a Prometheus, such as `http://127.0.0.1:9090/classic/targets` (the page of
    /// its targets in Debian's build, which has only the classic UI).
    pub prometheus: Option<String>,
}

/// The Prometheus the portal was told of, if any.
#[server]
pub async fn monitoring_links() -> Result<Monitoring, ServerFnError> {
    Ok(use_context::<Monitoring>().unwrap_or_default())
}

/// "Metrics: Prometheus scrapes every instance the registry lists", or nothing.
#[component]
pub fn MonitoringLinks() -> impl IntoView {
    let known = Resource::new(|| (), |_| monitoring_links());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                known.await.ok().and_then(|known| known.prometheus).map(|page| {
                    view! {
                        <p class="monitoring">
                            "Metrics: "
                            <a href=page rel="external">"Prometheus"</a>
                            " scrapes every instance the registry lists."
                        </p>
                    }
                })
            })}
        </Suspense>
    }
}
