//! `registryservice`: the registry on its own (default 127.0.0.1:3000), as the original's
//! `cmd/registryservice` ran it.

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use server::{
    http::{
        access::{ReadsArgs, TokenArgs},
        limits::HttpLimits,
        serve,
        shutdown::{self, Background},
    },
    ops::{health::Health, telemetry},
    registry::{self, Registry, RegistryConfig},
};

const PROGRAM: &str = "registryservice";

/// The registry service of distributed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "REGISTRY_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,

    #[command(flatten)]
    registry: RegistryConfig,

    #[command(flatten)]
    http: HttpLimits,

    #[command(flatten)]
    token: TokenArgs,

    #[command(flatten)]
    reads: ReadsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let args = Args::parse();
    let listener = match serve::bind(PROGRAM, args.addr).await {
        Ok(listener) => listener,
        Err(code) => return code,
    };
    let background = Background::new();
    let registry = Registry::start(&args.registry, args.token.token(), &background);
    tracing::info!(
        "registry serving on http://{}/services",
        listener.local_addr().unwrap_or(args.addr)
    );
    serve::run(
        PROGRAM,
        listener,
        args.token
            .access(&args.reads)
            .guard(registry::router(registry), "registry"),
        Health::new(),
        &args.http,
        shutdown::signal(),
        background,
    )
    .await
}
