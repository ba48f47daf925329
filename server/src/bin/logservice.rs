//! `logservice`: the log service on its own (default 127.0.0.1:4000), registered as
//! `LogService`, as the original's `cmd/logservice` ran it.

use std::process::ExitCode;

use clap::Parser;
use server::{
    logs::{self, LogConfig, LogService},
    runtime::{self, ServiceArgs},
    serve, telemetry,
};
use tokio_util::sync::CancellationToken;

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
    let endpoints = match args.service.resolve("logservice", 4000) {
        Ok(endpoints) => endpoints,
        Err(code) => return code,
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
    let listener = match serve::bind("logservice", endpoints.addr).await {
        Ok(listener) => listener,
        Err(code) => return code,
    };
    let instance = endpoints.instance("LogService", &[]);
    tracing::info!(
        "log service serving on {}/log, writing {}",
        endpoints.public_url,
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
