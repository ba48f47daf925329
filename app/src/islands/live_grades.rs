//! Grades changed elsewhere (another tab, another teacher, the API), shown without a
//! reload: the island follows the grading service's event stream (relayed by the portal
//! at [`EVENTS_URL`]) and, a moment after each burst of changes, has the islands router
//! fetch the page again and diff it in. The page stays the server's: the island draws no
//! table, so it costs the WASM almost nothing.

use leptos::prelude::*;

use crate::live;

/// The event stream the island follows.
pub const EVENTS_URL: &str = "/portal/events/grades";

/// Follows the grade book's changes and redraws the page around it.
#[island]
pub fn FollowGrades() -> impl IntoView {
    let live_now = RwSignal::new(false);
    let anchor = live::Anchor::new();
    // The fetch after the stream opens, until it is sent; a handle is a number, stored
    // as sync data, as the server renders this island too.
    let after_open = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move |_| {
        live::follow(
            EVENTS_URL,
            &crate::wire::grading::GRADE_EVENTS,
            anchor,
            // A burst of changes is one fetch (see `refresh_page`).
            move |_name: &str, _data: String| live::refresh_page(),
            move |up: bool| {
                live_now.set(up);
                // Changes made while the stream was connecting (or away) were told to
                // nobody: fetch the page once it is open; but not if it opened only to
                // say the grading service is unavailable (the `unavailable` event comes
                // right after), or every retry would fetch it. Only this island's own
                // timer is dropped: a refresh a form asked for still happens.
                if let Some(handle) = after_open.get_value() {
                    handle.clear();
                }
                let handle = up
                    .then(|| set_timeout_with_handle(live::refresh_page, live::SETTLE).ok())
                    .flatten();
                after_open.set_value(handle);
            },
        );
    });
    view! {
        <p class="live-state" aria-live="polite" node_ref=anchor>
            {move || if live_now.get() { "Live: changes made elsewhere appear here." } else { "Not live yet." }}
        </p>
    }
}
