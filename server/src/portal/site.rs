//! The teacher portal's web site: where cargo-leptos put the compiled files, and the
//! axum router that server-renders the Leptos pages and serves `/pkg/*` and `public/`.
//!
//! cargo-leptos passes its settings as `LEPTOS_*` environment variables; the flags here
//! read the same variables, so a binary built by plain `cargo build` runs the same way
//! when given them (or the defaults) by hand.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use axum::{
    body::Body,
    http::StatusCode,
    response::{Redirect, Response},
    routing::get,
};
use leptos::config::LeptosOptions;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list_with_exclusions};
use tower_http::timeout::TimeoutLayer;

use crate::http::routes::Routes;

/// The longest a page or server function may take.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(15);

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

    /// A page of the Prometheus that scrapes this system, which the registry page links to
    /// (`make cluster` gives http://127.0.0.1:9090/classic/targets, the targets page of
    /// Debian's Prometheus).
    #[arg(long, env = "PROMETHEUS_URL", value_parser = parse_web_url)]
    pub prometheus_url: Option<String>,
}

/// Parses an http:// or https:// URL.
fn parse_web_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not a web address: write one such as http://127.0.0.1:9090"
        )),
    }
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

    /// What the registry page links to.
    pub fn monitoring(&self) -> app::components::monitoring::Monitoring {
        app::components::monitoring::Monitoring {
            prometheus: self.prometheus_url.clone(),
        }
    }
}

/// The app's routes, generated once per process.
///
/// Generating them runs the app with resource loading suppressed by a process-global flag
/// (leptos-rs/leptos#4773): a page whose resource is first polled on another thread in
/// that window would wait forever. Generating the list once, before anything is served,
/// keeps that window from ever overlapping a render. `/` is left out: the server answers it
/// with a plain redirect to the Grade Book (the app routes it too, for client-side
/// navigation).
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES
        .get_or_init(|| {
            generate_route_list_with_exclusions(
                app::App,
                Some(EXCLUDED.iter().map(|&path| path.into()).collect()),
            )
        })
        .clone()
}

/// The app's routes the server answers itself.
const EXCLUDED: &[&str] = &["/"];

/// The paths Leptos routes for `listings`: every server function's, then every page's
/// but [`EXCLUDED`] (as `leptos_routes_with_context` leaves them out).
fn leptos_paths(listings: &[AxumRouteListing]) -> Vec<String> {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .chain(listings.iter().map(AxumRouteListing::path))
        .filter(|path| !EXCLUDED.contains(path))
        .map(str::to_owned)
        .collect()
}

/// The portal's pages, its server functions and its static files. Routes it does not
/// know fall through to the static files and then to the app's 404 page. `context`
/// provides what pages and server functions need (the portal's backend).
pub fn router(
    options: LeptosOptions,
    context: impl Fn() + Clone + Send + Sync + 'static,
) -> Routes {
    let listings = routes();
    Routes::new()
        .route("/", get(|| async { Redirect::to("/students") }))
        .added_by(leptos_paths(&listings), |router| {
            router.leptos_routes_with_context(&options, listings, context.clone(), {
                let options = options.clone();
                move || app::shell(options.clone())
            })
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context,
            app::shell,
        ))
        .with_state(options)
        .layer(axum::middleware::map_response(bad_arguments_are_400))
        // A page or server function that cannot finish (a service that accepts but never
        // answers is already cut off by the backend's own timeouts) still gets an answer.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            PAGE_TIMEOUT,
        ))
}

/// Leptos answers every server function error with a 500, even arguments that did not
/// decode (`Args|...`, `Deserialization|...`): those are the caller's fault, so they become
/// a 400 with the same body (which the page's client decodes as before).
async fn bad_arguments_are_400(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::from("the error could not be read"));
    };
    if bytes.starts_with(b"Args|") || bytes.starts_with(b"Deserialization|") {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, Body::from(bytes))
}
