//! `/`: what the system is and which services it runs.

use leptos::prelude::*;
use leptos_meta::Title;

/// The services of the system: (name, what it does).
const SERVICES: &[(&str, &str)] = &[
    (
        "Registry",
        "Services register here, learn which instances of the services they need exist, and are health-checked by heartbeats.",
    ),
    (
        "Log service",
        "A central, durable log that every service writes to.",
    ),
    (
        "Grading service",
        "Students and their grades, kept in an embedded database.",
    ),
    (
        "Teacher portal",
        "This site: grades, the live registry and the logs.",
    ),
];

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <Title text="Overview"/>
        <h1>"distributed"</h1>
        <p class="lede">
            "A hub-and-spoke system of small services: a registry at the centre, and services that "
            "find each other through it."
        </p>
        <h2>"Services"</h2>
        <ul class="cards">
            {SERVICES
                .iter()
                .map(|(name, what)| {
                    view! {
                        <li class="card">
                            <h3>{*name}</h3>
                            <p>{*what}</p>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
