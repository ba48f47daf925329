//! The teacher portal: the Leptos application shared by the server (which renders it,
//! feature `ssr`) and the browser (which hydrates it, feature `hydrate`).
//!
//! This crate owns the HTML shell, the routes and the shared layout. Each page lives in
//! its own module under [`pages`]; [`api`] holds the server functions they call. The
//! JSON types shared with the services are the `wire` crate's, re-exported as [`wire`].

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod charts;
pub mod cluster_panel;
pub mod format;
pub mod layout;
pub mod live;
pub mod monitoring;
pub mod pages;
pub mod plain_form;
pub mod service_map;
#[cfg(test)]
mod snapshot;
pub mod teacher;
pub mod unavailable;
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
                <HydrationScripts options/>
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
            <layout::Layout>
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=path!("/") view=|| view! { <Redirect path="/students"/> }/>
                    <Route path=path!("/students") view=pages::students::Students ssr=SsrMode::Async/>
                    <Route path=path!("/students/:id") view=pages::student::StudentPage ssr=SsrMode::Async/>
                    <Route path=path!("/registry") view=pages::registry::RegistryPage ssr=SsrMode::Async/>
                    <Route path=path!("/logs") view=pages::logs::LogsPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                </Routes>
            </layout::Layout>
        </Router>
    }
}
