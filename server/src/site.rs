//! The teacher portal's web site: where cargo-leptos put the compiled files, and the
//! axum router that server-renders the Leptos pages and serves `/pkg/*` and `public/`.
//!
//! cargo-leptos passes its settings as `LEPTOS_*` environment variables; the flags here
//! read the same variables, so a binary built by plain `cargo build` runs the same way
//! when given them (or the defaults) by hand.

use std::net::SocketAddr;

use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};

/// Where the site's compiled files are and how the page scripts find them.
#[derive(Debug, Clone, clap::Args)]
pub struct SiteArgs {
    /// Directory holding the site cargo-leptos built (`pkg/`, favicon, ...).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Base name of the generated JS, WASM and CSS files.
    #[arg(long, env = "LEPTOS_OUTPUT_NAME", default_value = app::OUTPUT_NAME)]
    pub output_name: String,

    /// Port of cargo-leptos' live-reload socket (used by `cargo leptos watch`).
    #[arg(long, env = "LEPTOS_RELOAD_PORT", default_value_t = 3001)]
    pub reload_port: u32,
}

impl SiteArgs {
    /// The Leptos options for a site served at `addr`.
    pub fn leptos_options(&self, addr: SocketAddr) -> LeptosOptions {
        LeptosOptions::builder()
            .output_name(self.output_name.as_str())
            .site_root(self.site_root.as_str())
            .site_addr(addr)
            .reload_port(self.reload_port)
            .build()
    }
}

/// The portal's pages, its server functions and its static files. Routes it does not
/// know fall through to the static files and then to the app's 404 page.
pub fn router(options: LeptosOptions) -> Router {
    let routes = generate_route_list(app::App);
    Router::new()
        .leptos_routes(&options, routes, {
            let options = options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(app::shell))
        .with_state(options)
}
