//! Search as you type: the Grade Book's search form (drawn on the server, a plain GET
//! form that works with JavaScript off) asks for its result a moment after each
//! keystroke or change of order, and the islands router diffs the answer in without a
//! reload. The field keeps its focus and what is typed, as the router leaves this island
//! alone; after Back or Forward the form shows the search of the page shown.

use std::time::Duration;

use leptos::{html, prelude::*};

use crate::pages::students::{Order, link};

/// How long typing must pause before the search is sent: one question per word, not
/// per key.
const PAUSE: Duration = Duration::from_millis(250);

/// The form in `children`, whose search (`q`) and order (`sort`) are followed after each
/// pause in typing.
#[island]
pub fn SearchAsYouType(children: Children) -> impl IntoView {
    // A handle is a number: stored as sync data, as the server renders this island too.
    let pending = StoredValue::new(None::<TimeoutHandle>);
    let go = NodeRef::<html::A>::new();
    let changed = move |event: leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        let Some(form) = event
            .target()
            .and_then(|target| target.dyn_into::<leptos::web_sys::Element>().ok())
            .and_then(|field| field.closest("form").ok().flatten())
            .and_then(|form| form.dyn_into::<leptos::web_sys::HtmlFormElement>().ok())
        else {
            return;
        };
        if let Some(handle) = pending.get_value() {
            handle.clear();
        }
        let handle = set_timeout_with_handle(
            move || {
                let Ok(data) = leptos::web_sys::FormData::new_with_form(&form) else {
                    return;
                };
                let field = |name| data.get(name).as_string().unwrap_or_default();
                let to = link(&field("q"), Order::parse(&field("sort")), 1);
                // A click on a link is what the islands router follows: this one goes to
                // the search's first page, with only the parameters it needs.
                if let Some(go) = go.get_untracked() {
                    go.set_href(&to);
                    go.click();
                }
            },
            PAUSE,
        );
        pending.set_value(handle.ok());
    };
    // Back and Forward show another search's page, diffed in by the router around this
    // island: the form is set to that search too, even in the field (a browser's Back
    // does not move the focus), and a search still waiting for its pause is dropped, or
    // it would undo the Back. Only the browser's own `popstate` counts: the live Grade
    // Book's refresh dispatches one too (untrusted), and must not undo typing. So does
    // `live::go_to`, which never goes to `/students?…` (it follows a login, a logout or
    // a new student to their page); one that did would need to set the form itself.
    let back = window_event_listener(leptos::ev::popstate, move |event| {
        if !event.is_trusted() {
            return;
        }
        if let Some(handle) = pending.get_value() {
            handle.clear();
            pending.set_value(None);
        }
        #[cfg(feature = "hydrate")]
        {
            let search = window().location().search().unwrap_or_default();
            let param = |name: &str| {
                search
                    .trim_start_matches('?')
                    .split('&')
                    .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                    .and_then(|value| {
                        js_sys::decode_uri_component(&value.replace('+', " "))
                            .ok()
                            .map(String::from)
                    })
                    .unwrap_or_default()
            };
            // What the server's form shows for this address (see `SearchForm`).
            let shown = [
                ("q", param("q").trim().to_owned()),
                ("sort", Order::parse(&param("sort")).as_str().to_owned()),
            ];
            for (id, value) in shown {
                if let Some(field) = document().get_element_by_id(id) {
                    let _ = js_sys::Reflect::set(&field, &"value".into(), &value.into());
                }
            }
        }
    });
    on_cleanup(move || back.remove());
    view! {
        <div class="grade-book-search" on:input=changed>
            {children()}
            <a node_ref=go href="/students" hidden tabindex="-1" aria-hidden="true"></a>
        </div>
    }
}
