//! `portal`: the teacher portal on its own (default 127.0.0.1:8080), registered as
//! `Portal`, requiring `LogService` and `GradingService`, as the original's `cmd/portal`
//! ran it. It serves the site cargo-leptos built (`--site-root`, default `target/site`).

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use server::{
    portal::{self, PortalBackend},
    runtime::{
        self, Instance, InstanceSpec, RegistryClient, ServiceArgs, Watchdog,
        log_shipper::{LogShipper, ShipLayer},
    },
    serve, site, telemetry,
};
use tokio_util::sync::CancellationToken;

const NAME: &str = "Portal";
const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The teacher portal of distributed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,

    #[command(flatten)]
    site: site::SiteArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let shipper = LogShipper::new(10_000);
    telemetry::init_with(Some(ShipLayer::new(
        shipper.clone(),
        NAME,
        tracing::Level::INFO,
    )));
    let args = Args::parse();
    let addr = args.service.addr_or(DEFAULT_ADDR);
    let (public_url, registry) = match (
        args.service.public_url_for(addr),
        args.service.registry_base(),
    ) {
        (Ok(public_url), Ok(registry)) => (public_url, registry),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("portal: {err}");
            return ExitCode::from(2);
        }
    };
    if !std::path::Path::new(&args.site.site_root)
        .join("pkg")
        .is_dir()
    {
        eprintln!(
            "portal: warning: {}/pkg does not exist; run `cargo leptos build --release` (or pass --site-root) so pages can load their script and styles",
            args.site.site_root
        );
    }
    let listener = match serve::bind("portal", addr).await {
        Ok(listener) => listener,
        Err(code) => return code,
    };
    let instance = Instance::new(
        InstanceSpec::standalone(NAME, &["LogService", "GradingService"], &public_url),
        RegistryClient::new(&registry),
        Watchdog::default(),
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(shipper.run(NAME.into(), instance.providers().clone(), shutdown.clone()));
    let backend = PortalBackend::new(instance.providers().clone(), &registry, shutdown.clone());
    let app = portal::router(backend, args.site.leptos_options(addr));
    tracing::info!("portal serving on {public_url}");
    runtime::serve("portal", listener, app, vec![instance], shutdown).await
}
