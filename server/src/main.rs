//! `server`: the all-in-one process that `make run` and `cargo leptos watch` start. On one
//! address (default 127.0.0.1:3000) it hosts the registry (`/services`) and the teacher
//! portal.

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use server::{
    registry::{self, Registry, RegistryConfig},
    serve, shutdown, site, telemetry,
};
use tokio_util::sync::CancellationToken;

/// The all-in-one server of distributed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,

    #[command(flatten)]
    site: site::SiteArgs,

    #[command(flatten)]
    registry: RegistryConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let args = Args::parse();
    let listener = match serve::bind("server", args.addr).await {
        Ok(listener) => listener,
        Err(code) => return code,
    };

    let shutdown = CancellationToken::new();
    let registry = Registry::start(&args.registry, shutdown.clone());
    let app = registry::router(registry).merge(site::router(args.site.leptos_options(args.addr)));

    tracing::info!("serving on http://{}", args.addr);
    serve::run("server", listener, app, shutdown::signal(), shutdown).await
}
