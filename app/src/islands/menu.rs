//! The site header's "Menu" button (on narrow screens the navigation folds behind it),
//! and [`HydratedMark`], which tells scripts that the page's islands are live.

use leptos::prelude::*;

/// The button that shows or hides the navigation (`#site-nav`) on narrow screens. The
/// navigation itself is the server's, outside the island, so the islands router updates
/// which page it marks current; a link followed in it closes it.
#[island]
pub fn Menu() -> impl IntoView {
    let (open, set_open) = signal(false);
    Effect::new(move |_| {
        let open = open.get();
        if let Some(nav) = document().get_element_by_id("site-nav") {
            let _ = nav.class_list().toggle_with_force("open", open);
        }
    });
    let closes = window_event_listener(leptos::ev::click, move |event| {
        let Some(target) = event.target().and_then(|t| {
            leptos::wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Element>(t).ok()
        }) else {
            return;
        };
        if target.closest("#site-nav a").ok().flatten().is_some() {
            set_open.set(false);
        }
    });
    on_cleanup(move || closes.remove());
    view! {
        <button
            type="button"
            class="menu-toggle"
            aria-controls="site-nav"
            aria-expanded=move || open.get().to_string()
            on:click=move |_| set_open.update(|open| *open = !*open)
        >
            "Menu"
        </button>
    }
}

/// Sets `data-hydrated="true"` on the body once the islands before it are hydrated (they
/// are hydrated in document order, and this one comes last): the end-to-end tests wait
/// for it before they click.
#[island]
pub fn HydratedMark() -> impl IntoView {
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
