//! `portal`: the teacher portal on its own (default 127.0.0.1:8080), registered as
//! `Portal`, requiring `LogService` and `GradingService`, as the original's `cmd/portal`
//! ran it. It serves the site cargo-leptos built (`--site-root`, default `target/site`).

use std::{process::ExitCode, sync::Arc};

use app::teacher::server_side::TeacherLogin as _;
use clap::Parser;
use server::{
    http::{serve, shutdown::Background},
    ops::health::Health,
    portal::{
        self, PortalBackend, site,
        teacher_login::{self, TeacherArgs},
    },
    runtime::{self, ServiceArgs, log_shipper::LogShipper},
};
use wire::registry::{GRADING_SERVICE, LOG_SERVICE, PORTAL};

const PROGRAM: &str = "portal";

/// The teacher portal of distributed.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,

    #[command(flatten)]
    site: site::SiteArgs,

    #[command(flatten)]
    teacher: TeacherArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.teacher.hash_teacher_password {
        return teacher_login::print_hash_of_stdin(PROGRAM);
    }
    let shipper = runtime::log_shipper::init_shipping(PORTAL, None);
    run(args, shipper).await.unwrap_or_else(|code| code)
}

async fn run(args: Args, shipper: Arc<LogShipper>) -> Result<ExitCode, ExitCode> {
    let mut endpoints = args.service.resolve(PROGRAM, 8080)?;
    let teachers = args.teacher.logins(PROGRAM)?;
    if !std::path::Path::new(&args.site.site_root)
        .join("pkg")
        .is_dir()
    {
        eprintln!(
            "{PROGRAM}: warning: {}/pkg does not exist; run `make build` (or pass --site-root) so pages can load their script and styles",
            args.site.site_root
        );
    }
    let listener = serve::bind(PROGRAM, endpoints.addr).await?;
    endpoints.listening_on(&listener);
    let instance = endpoints.instance(PORTAL, &[LOG_SERVICE, GRADING_SERVICE]);
    let background = Background::new();
    background.spawn(shipper.run(
        PORTAL.into(),
        instance.providers().clone(),
        endpoints.token.clone(),
        background.stopping(),
    ));
    if teachers.required() {
        background.spawn(portal::warn_if_grades_open(
            instance.providers().clone(),
            background.stopping(),
        ));
    }
    let backend = PortalBackend::new(
        instance.providers().clone(),
        instance.registry().clone(),
        endpoints.token.as_deref(),
        background.stopping(),
    );
    let app = portal::router(
        backend,
        teachers,
        args.site.monitoring(),
        args.site.leptos_options(endpoints.addr),
    );
    tracing::info!("portal serving on {}", endpoints.public_url);
    Ok(runtime::serve(
        PROGRAM,
        listener,
        app,
        Health::new(),
        &args.service.http,
        vec![instance],
        background,
    )
    .await)
}
