//! Shown with a notice that a service is unavailable: the page is asked for again every
//! [`RETRY_EVERY`], so it recovers by itself when the service returns.

use std::time::Duration;

use leptos::prelude::*;

/// How often a page retries a service that was unavailable.
pub const RETRY_EVERY: Duration = Duration::from_secs(3);

/// Reloads the page every [`RETRY_EVERY`] while it is shown.
#[island]
pub fn RetrySoon() -> impl IntoView {
    let anchor = crate::live::Anchor::new();
    Effect::new(move |_| {
        if let Ok(handle) = set_timeout_with_handle(
            move || {
                // Not if the visitor has gone to another page (see `live::Anchor`).
                if crate::live::on_page(anchor) {
                    let _ = window().location().reload();
                }
            },
            RETRY_EVERY,
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    view! { <p node_ref=anchor>"This page tries again by itself every few seconds."</p> }
}
