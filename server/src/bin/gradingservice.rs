//! `gradingservice`: the grading service on its own (default 127.0.0.1:6000), registered
//! as `GradingService`, requiring `LogService` and logging every change through it, as the
//! original's `cmd/gradingservice` ran it.

use std::{process::ExitCode, sync::Arc};

use clap::Parser;
use server::{
    access::ReadsArgs,
    grading::{self, GradingConfig, GradingService},
    runtime::{self, ServiceArgs, log_shipper::LogShipper},
    serve, telemetry,
};
use tokio_util::sync::CancellationToken;

const PROGRAM: &str = "gradingservice";
const NAME: &str = "GradingService";

/// The grading service of distributed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,

    #[command(flatten)]
    grading: GradingConfig,

    #[command(flatten)]
    reads: ReadsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let shipper = telemetry::init_shipping(NAME, None);
    run(Args::parse(), shipper)
        .await
        .unwrap_or_else(|code| code)
}

async fn run(args: Args, shipper: Arc<LogShipper>) -> Result<ExitCode, ExitCode> {
    let mut endpoints = args.service.resolve(PROGRAM, 6000)?;
    let service = GradingService::start(&args.grading)
        .await
        .map_err(|err| serve::fail(PROGRAM, err))?;
    let listener = serve::bind(PROGRAM, endpoints.addr).await?;
    endpoints.listening_on(&listener);
    let instance = endpoints.instance(NAME, &["LogService"]);
    let shutdown = CancellationToken::new();
    let shipping = tokio::spawn(shipper.run(
        NAME.into(),
        instance.providers().clone(),
        endpoints.token.clone(),
        shutdown.clone(),
    ));
    tracing::info!(
        "grading service serving on {}/students",
        endpoints.public_url
    );
    let health = service.health();
    let code = runtime::serve(
        PROGRAM,
        listener,
        args.service
            .token
            .access(&args.reads)
            .guard(grading::router(service), "grades"),
        health,
        &args.service.http,
        vec![instance],
        shutdown,
    )
    .await;
    let _ = shipping.await;
    Ok(code)
}
