//! The teacher portal: the Leptos application shared by the server (which renders every
//! page, feature `ssr`) and the browser (which hydrates its islands, feature `hydrate`).
//!
//! The portal is built from islands (Leptos' `islands` feature): pages and components
//! are rendered on the server only and ship no code; the parts that move after the page
//! has loaded are islands, the only code in the WASM. The islands router keeps
//! navigation client-side. Where each kind of thing lives:
//!
//! | module | owns |
//! |---|---|
//! | [`pages`] | one module per route: the page's component and its server functions |
//! | [`components`] | parts of pages: layout, charts, service map, tables, notices |
//! | [`islands`] | what moves: live views, search as you type, the forms that change something, the menu |
//! | [`api`] | server functions that change grades and students, and those the islands and pages share (the registry's list) |
//! | [`teacher`] | the teacher's login, session and CSRF token, and their server functions |
//! | [`backend`] | (server) how server functions reach the services through the registry |
//! | [`live`] | (browser) following an event stream; asking again without piling up |
//! | [`plain_form`] | forms that work without JavaScript, and taking them over with it |
//! | [`format`] | how numbers, times, revisions and URLs are written |
//!
//! The JSON types shared with the services are the `wire` crate's, re-exported as
//! [`wire`]. No markup is built from strings anywhere here: every view is `view!`, so
//! every text is escaped by construction (a test, `tests/no_string_markup.rs`, keeps it
//! so).

// The typed view trees of the islands nest deeper than the compiler's default allows.
#![recursion_limit = "256"]

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
pub mod format;
pub mod islands;
pub mod live;
pub mod pages;
pub mod plain_form;
#[cfg(test)]
mod snapshot;
pub mod teacher;
/// The wire types, in their own crate: re-exported so the pages read `crate::wire::…`.
pub use wire;

use leptos::prelude::*;
use leptos_meta::{Link, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Redirect, Route, Router, Routes},
    path,
};

/// The name cargo-leptos gives the generated files (`/pkg/distributed.{js,wasm,css}`); it
/// is `name` in the workspace's `[[workspace.metadata.leptos]]`.
pub const OUTPUT_NAME: &str = "distributed";

/// The HTML document around the app, rendered on the server for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true islands_router=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: stylesheet, router and the pages inside the shared layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href=format!("/pkg/{OUTPUT_NAME}.css")/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title formatter=|page: String| format!("{page} · distributed")/>
        <Router>
            <components::layout::Layout>
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=path!("/") view=|| view! { <Redirect path="/students"/> }/>
                    <Route path=path!("/students") view=pages::students::Students ssr=SsrMode::Async/>
                    <Route path=path!("/students/:id") view=pages::student::StudentPage ssr=SsrMode::Async/>
                    <Route path=path!("/registry") view=pages::registry::RegistryPage ssr=SsrMode::Async/>
                    <Route path=path!("/logs") view=pages::logs::LogsPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                </Routes>
            </components::layout::Layout>
        </Router>
    }
}
