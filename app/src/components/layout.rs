//! The layout every page shares: skip link, site header with navigation, and the main
//! landmark. On narrow screens the navigation folds behind a "Menu" button (the
//! [`Menu`] island); the links are plain anchors, which the islands router follows
//! without a reload.

use leptos::prelude::*;

use crate::islands::menu::{HydratedMark, Menu};

/// The pages the navigation links to, in order: (path, label).
const NAV_LINKS: &[(&str, &str)] = &[
    ("/students", "Grade Book"),
    ("/registry", "Registry"),
    ("/logs", "Logs"),
];

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <a class="brand" href="/students">"distributed"</a>
            <Menu>
                <ul>
                    {NAV_LINKS
                        .iter()
                        .map(|(href, label)| view! { <li><a href=*href>{*label}</a></li> })
                        .collect_view()}
                </ul>
            </Menu>
        </header>
        <main id="main" tabindex="-1">
            {children()}
        </main>
        <HydratedMark/>
    }
}
