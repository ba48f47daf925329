//! The notice a page shows when a service it needs cannot be reached. It says so plainly
//! and, in the browser, asks for the page again every few seconds
//! ([`RetrySoon`](crate::islands::retry::RetrySoon)), so the page recovers by itself when
//! the service returns.

use leptos::prelude::*;

use crate::{components::keyed::IslandEnd, islands::retry::RetrySoon};

#[component]
pub fn Unavailable(
    /// What is missing, e.g. "grading service".
    what: &'static str,
    /// Why, as the server said it.
    error: String,
) -> impl IntoView {
    view! {
        <div class="notice notice-error" role="alert">
            <h2>{format!("The {what} is unavailable")}</h2>
            <p>{crate::format::server_error(&error)}</p>
            <RetrySoon/>
            <IslandEnd/>
        </div>
    }
}
