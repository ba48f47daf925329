//! The notice a page shows when a service it needs cannot be reached. It says so plainly
//! and, in the browser, retries every few seconds, so the page recovers by itself when
//! the service returns.

use std::time::Duration;

use leptos::prelude::*;

/// How often a page retries a service that was unavailable.
pub const RETRY_EVERY: Duration = Duration::from_secs(3);

#[component]
pub fn Unavailable(
    /// What is missing, e.g. "grading service".
    what: &'static str,
    /// Why, as the server said it.
    error: String,
    /// Called every [`RETRY_EVERY`] while the notice is shown.
    retry: impl Fn() + Clone + 'static,
) -> impl IntoView {
    Effect::new(move |_| {
        let retry = retry.clone();
        if let Ok(handle) = set_interval_with_handle(retry, RETRY_EVERY) {
            on_cleanup(move || handle.clear());
        }
    });
    let error = crate::format::server_error(&error);
    view! {
        <div class="notice notice-error" role="alert">
            <h2>{format!("The {what} is unavailable")}</h2>
            <p>{error}</p>
            <p>"This page tries again by itself every few seconds."</p>
        </div>
    }
}
