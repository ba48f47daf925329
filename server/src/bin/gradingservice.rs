//! `gradingservice`: the grading service on its own (default 127.0.0.1:6000), registered
//! as `GradingService`, requiring `LogService` and logging every change through it, as the
//! original's `cmd/gradingservice` ran it.

use std::{process::ExitCode, sync::Arc};

use clap::Parser;
use server::{
    grading::{self, GradingConfig, GradingService},
    http::{serve, shutdown::Background, token::ReadsArgs},
    runtime::{self, ServiceArgs, log_shipper::LogShipper},
};
use wire::registry::{GRADING_SERVICE, LOG_SERVICE};

const PROGRAM: &str = "gradingservice";

/// The grading service of distributed.
#[derive(Debug, Parser)]
#[command(version)]
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
    let shipper = runtime::log_shipper::init_shipping(GRADING_SERVICE, None);
    run(Args::parse(), shipper)
        .await
        .unwrap_or_else(|code| code)
}

async fn run(args: Args, shipper: Arc<LogShipper>) -> Result<ExitCode, ExitCode> {
    let mut endpoints = args.service.resolve(PROGRAM, 6000)?;
    let background = Background::new();
    let service = GradingService::start(&args.grading, background.stopping())
        .await
        .map_err(|err| serve::fail(PROGRAM, err))?;
    let listener = serve::bind(PROGRAM, endpoints.addr).await?;
    endpoints.listening_on(&listener);
    let instance = endpoints.instance(GRADING_SERVICE, &[LOG_SERVICE]);
    background.spawn(shipper.run(
        GRADING_SERVICE.into(),
        instance.providers().clone(),
        endpoints.token.clone(),
        background.stopping(),
    ));
    tracing::info!(
        "grading service serving on {}/students",
        endpoints.public_url
    );
    let health = service.health();
    Ok(runtime::serve(
        PROGRAM,
        listener,
        args.service
            .token
            .access(&args.reads)
            .guard(grading::router(service), "grades"),
        health,
        &args.service.http,
        vec![instance],
        background,
    )
    .await)
}
