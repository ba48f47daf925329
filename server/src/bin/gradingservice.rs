//! `gradingservice`: the grading service on its own (default 127.0.0.1:6000), registered
//! as `GradingService`, requiring `LogService` and logging every change through it, as the
//! original's `cmd/gradingservice` ran it.

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use server::{
    grading::{self, GradingConfig, GradingService},
    runtime::{
        self, Instance, InstanceSpec, RegistryClient, ServiceArgs, Watchdog,
        log_shipper::{LogShipper, ShipLayer},
    },
    serve, telemetry,
};
use tokio_util::sync::CancellationToken;

const NAME: &str = "GradingService";
const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6000);
/// Log records kept while the log service is away.
const LOG_BUFFER: usize = 10_000;

/// The grading service of distributed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,

    #[command(flatten)]
    grading: GradingConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    let shipper = LogShipper::new(LOG_BUFFER);
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
            eprintln!("gradingservice: {err}");
            return ExitCode::from(2);
        }
    };
    let service = match GradingService::start(&args.grading).await {
        Ok(service) => service,
        Err(err) => {
            eprintln!(
                "gradingservice: cannot open the database {}: {err}. Pass a writable path with --database.",
                args.grading.database.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let listener = match serve::bind("gradingservice", addr).await {
        Ok(listener) => listener,
        Err(code) => return code,
    };
    let instance = Instance::new(
        InstanceSpec::standalone(NAME, &["LogService"], &public_url),
        RegistryClient::new(&registry),
        Watchdog::default(),
    );
    let shutdown = CancellationToken::new();
    let shipping =
        tokio::spawn(shipper.run(NAME.into(), instance.providers().clone(), shutdown.clone()));
    tracing::info!("grading service serving on {public_url}/students");
    let code = runtime::serve(
        "gradingservice",
        listener,
        grading::router(service),
        vec![instance],
        shutdown,
    )
    .await;
    let _ = shipping.await;
    code
}
