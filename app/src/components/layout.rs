//! The layout every page shares: skip link, site header with navigation, and the main
//! landmark. On narrow screens the navigation folds behind a "Menu" button (the
//! [`Menu`] island); the links are plain anchors, which the islands router follows
//! without a reload.

use leptos::prelude::*;

use crate::{
    components::keyed::IslandEnd,
    islands::menu::{HydratedMark, Menu},
};

/// The pages the navigation links to, in order: (path, label).
const NAV_LINKS: &[(&str, &str)] = &[
    ("/students", "Grade Book"),
    ("/registry", "Registry"),
    ("/logs", "Logs"),
];

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let path = leptos_router::hooks::use_location()
        .pathname
        .get_untracked();
    // A page and the pages below it (a student's page is in the Grade Book). Always
    // written ("false" for the others): the router's diff sets attributes but never
    // removes one, so a link once current would stay marked.
    let current = move |href: &str| {
        if path == href || path.starts_with(&format!("{href}/")) {
            "page"
        } else {
            "false"
        }
    };
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <a class="brand" href="/students">"distributed"</a>
            <Menu/>
            <IslandEnd/>
            // Always with a class, which the router's diff resets: a menu opened on a
            // narrow screen closes on the next page.
            <nav id="site-nav" class="site-nav" aria-label="Main">
                <ul>
                    {NAV_LINKS
                        .iter()
                        .map(|(href, label)| {
                            view! { <li><a href=*href aria-current=current(href)>{*label}</a></li> }
                        })
                        .collect_view()}
                </ul>
            </nav>
        </header>
        <main id="main" tabindex="-1">
            {children()}
        </main>
        <HydratedMark/>
        <IslandEnd/>
    }
}
