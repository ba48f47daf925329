//! `registryservice`: the registry on its own (default 127.0.0.1:3000), as the original's
//! `cmd/registryservice` ran it.

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use server::{
    http::{
        limits::HttpLimits,
        serve,
        shutdown::Background,
        token::{ReadsArgs, TokenArgs},
    },
    ops::telemetry,
    registry::{self, Registry, RegistryConfig},
    runtime::{self, args::given_public_url},
};

const PROGRAM: &str = "registryservice";

/// The registry service of distributed.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "REGISTRY_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,

    /// Base URL clients and the other registry nodes reach this one at [default:
    /// http://<addr>].
    #[arg(long, env = "PUBLIC_URL")]
    public_url: Option<String>,

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
    run(Args::parse()).await.unwrap_or_else(|code| code)
}

async fn run(args: Args) -> Result<ExitCode, ExitCode> {
    let given_url = given_public_url(PROGRAM, args.public_url.as_deref())?;
    args.token.check_exposure(PROGRAM, args.addr)?;
    server::runtime::args::check_reachable(PROGRAM, given_url.is_some(), args.addr)?;
    // DNS first: a port it cannot have stops the process before it says it listens.
    let dns =
        registry::dns::bind_if_asked(PROGRAM, &args.registry, &args.token, &args.reads).await?;
    let listener = serve::bind(PROGRAM, args.addr).await?;
    let addr = listener.local_addr().unwrap_or(args.addr);
    let public_url = given_url.unwrap_or_else(|| format!("http://{addr}"));
    let background = Background::new();
    let (registry, health) =
        Registry::start(&args.registry, args.token.token(), &public_url, &background)
            .await
            .map_err(|err| serve::fail(PROGRAM, server::errors::report(&err)))?;
    if let Some(dns) = dns {
        registry::dns::serve(dns, registry.clone(), args.registry.dns_ttl, &background);
    }
    tracing::info!("registry serving on {public_url}/services");
    Ok(runtime::serve(
        PROGRAM,
        listener,
        args.token
            .access(&args.reads)
            .guard(registry::router(registry), "registry"),
        health,
        &args.http,
        Vec::new(),
        background,
    )
    .await)
}
