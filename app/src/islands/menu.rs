//! The site header's "Menu" button (on narrow screens the navigation folds behind it),
//! and [`HydratedMark`], which tells scripts that the page's islands are live.

use leptos::prelude::*;

/// The navigation (`children`, drawn on the server) and the button that shows or hides
/// it on narrow screens.
#[island]
pub fn Menu(children: Children) -> impl IntoView {
    let (open, set_open) = signal(false);
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
        <nav
            id="site-nav"
            aria-label="Main"
            class:open=open
            on:click=move |event| {
                // A link followed closes the menu.
                if event_target::<leptos::web_sys::Element>(&event).tag_name() == "A" {
                    set_open.set(false);
                }
            }
        >
            {children()}
        </nav>
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
