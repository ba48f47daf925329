//! The layout every page shares: skip link, site header with navigation, and the main
//! landmark. On narrow screens the navigation folds behind a "Menu" button.

use leptos::prelude::*;
use leptos_router::components::A;

/// The pages the navigation links to, in order: (path, label).
const NAV_LINKS: &[(&str, &str)] = &[
    ("/students", "Grade Book"),
    ("/registry", "Registry"),
    ("/logs", "Logs"),
];

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let (menu_open, set_menu_open) = signal(false);

    // Effects run only in the browser, after hydration: the attribute tells scripts
    // (and the end-to-end tests) that the page is now interactive.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <a class="brand" href="/students">"distributed"</a>
            <button
                type="button"
                class="menu-toggle"
                aria-controls="site-nav"
                aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| set_menu_open.update(|open| *open = !*open)
            >
                "Menu"
            </button>
            <nav id="site-nav" aria-label="Main" class:open=menu_open>
                <ul>
                    {NAV_LINKS
                        .iter()
                        .map(|(href, label)| {
                            view! {
                                <li>
                                    <A href=*href on:click=move |_| set_menu_open.set(false)>
                                        {*label}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
        </header>
        <main id="main" tabindex="-1">
            {children()}
        </main>
    }
}
