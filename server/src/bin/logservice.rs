//! `logservice`: the log service on its own (default 127.0.0.1:4000), registered as
//! `LogService`, as the original's `cmd/logservice` ran it.

use std::process::ExitCode;

use clap::Parser;
use server::{
    http::{serve, shutdown::Background, token::ReadsArgs},
    logs::{self, LogConfig, LogService},
    ops::telemetry,
    runtime::{self, ServiceArgs},
};
use wire::registry::LOG_SERVICE;

const PROGRAM: &str = "logservice";

/// The log service of distributed.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,

    #[command(flatten)]
    log: LogConfig,

    #[command(flatten)]
    reads: ReadsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    // The log service keeps its own records on stderr: shipping them to itself would
    // log every write.
    telemetry::init();
    run(Args::parse()).await.unwrap_or_else(|code| code)
}

async fn run(args: Args) -> Result<ExitCode, ExitCode> {
    let mut endpoints = args.service.resolve(PROGRAM, 4000)?;
    let background = Background::new();
    let service = LogService::start(&args.log, background.stopping())
        .map_err(|err| serve::fail(PROGRAM, err))?;
    let listener = serve::bind(PROGRAM, endpoints.addr).await?;
    endpoints.listening_on(&listener);
    let instance = endpoints.instance(LOG_SERVICE, &[]);
    tracing::info!(
        "log service serving on {}/log, writing {}",
        endpoints.public_url,
        args.log.log_file.display()
    );
    let health = service.health();
    Ok(runtime::serve(
        PROGRAM,
        listener,
        args.service
            .token
            .access(&args.reads)
            .guard(logs::router(service), "log"),
        health,
        &args.service.http,
        vec![instance],
        background,
    )
    .await)
}
