//! `logservice`: the log service on its own (default 127.0.0.1:4000), registered as
//! `LogService`, as the original's `cmd/logservice` ran it.

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use server::{
    logs::{self, LogConfig, LogService},
    runtime::{self, Instance, InstanceSpec, RegistryClient, ServiceArgs, Watchdog},
    serve, telemetry,
};
use tokio_util::sync::CancellationToken;

const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4000);

/// The log service of distributed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,

    #[command(flatten)]
    log: LogConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    // The log service keeps its own records on stderr: shipping them to itself would
    // log every write.
    telemetry::init();
    let args = Args::parse();
    let addr = args.service.addr_or(DEFAULT_ADDR);
    let (public_url, registry) = match (
        args.service.public_url_for(addr),
        args.service.registry_base(),
    ) {
        (Ok(public_url), Ok(registry)) => (public_url, registry),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("logservice: {err}");
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    let service = match LogService::start(&args.log, shutdown.clone()) {
        Ok(service) => service,
        Err(err) => {
            eprintln!(
                "logservice: cannot open the log file {}: {err}. Pass a writable path with --log-file.",
                args.log.log_file.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let listener = match serve::bind("logservice", addr).await {
        Ok(listener) => listener,
        Err(code) => return code,
    };
    let instance = Instance::new(
        InstanceSpec::standalone("LogService", &[], &public_url),
        RegistryClient::new(&registry),
        Watchdog::default(),
    );
    tracing::info!(
        "log service serving on {public_url}/log, writing {}",
        args.log.log_file.display()
    );
    runtime::serve(
        "logservice",
        listener,
        logs::router(service),
        vec![instance],
        shutdown,
    )
    .await
}
