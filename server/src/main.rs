//! `server`: the all-in-one process that `make run` and `cargo leptos watch` start. On one
//! address (default 127.0.0.1:3000) it hosts the registry (`/services`), the log service
//! (`/log`), the grading service (`/grading/students`) and the teacher portal (`/students`,
//! `/registry`, `/logs`). Its services register with its own registry over HTTP, like any
//! other service, so the registry lists them too, and the grading service ships its log
//! records to the log service.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use app::teacher::server_side::TeacherLogin as _;
use clap::Parser;
use server::{
    grading::{self, GradingConfig, GradingService},
    http::{
        limits::HttpLimits,
        serve,
        shutdown::Background,
        token::{Access, ReadsArgs, TokenArgs},
    },
    logs::{self, LogConfig, LogService},
    portal::{
        self, PortalBackend, site,
        teacher_login::{self, TeacherArgs},
    },
    registry::{self, Registry, RegistryConfig},
    runtime::{
        self, Instance, InstanceSpec, RegistryClient, Watchdog, args::given_public_url,
        log_shipper::LogShipper,
    },
};
use wire::registry::{GRADING_SERVICE, LOG_SERVICE, PORTAL};

/// The all-in-one server of distributed.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,

    /// Base URL its services register under, as others reach it [default: http://<addr>].
    #[arg(long, env = "PUBLIC_URL")]
    public_url: Option<String>,

    #[command(flatten)]
    site: site::SiteArgs,

    #[command(flatten)]
    registry: RegistryConfig,

    #[command(flatten)]
    log: LogConfig,

    #[command(flatten)]
    grading: GradingConfig,

    #[command(flatten)]
    http: HttpLimits,

    #[command(flatten)]
    token: TokenArgs,

    #[command(flatten)]
    reads: ReadsArgs,

    #[command(flatten)]
    teacher: TeacherArgs,
}

const PROGRAM: &str = "server";

/// Where the grading service is mounted.
const GRADING_PREFIX: &str = "/grading";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.teacher.hash_teacher_password {
        return teacher_login::print_hash_of_stdin(PROGRAM);
    }
    let shipper = runtime::log_shipper::init_shipping(GRADING_SERVICE, Some("server::grading"));
    run(args, shipper).await.unwrap_or_else(|code| code)
}

async fn run(args: Args, shipper: Arc<LogShipper>) -> Result<ExitCode, ExitCode> {
    let given_url = given_public_url(PROGRAM, args.public_url.as_deref())?;
    args.token.check_exposure(PROGRAM, args.addr)?;
    server::runtime::args::check_reachable(PROGRAM, given_url.is_some(), args.addr)?;

    let teachers = args.teacher.logins(PROGRAM)?;
    if teachers.required() && !args.registry.etcd.is_empty() && args.token.token().is_none() {
        // The internal token below is this process's alone: the other nodes of a registry
        // on etcd would take registrations it does not guard, and its portal would trust
        // their instances.
        eprintln!(
            "{PROGRAM}: a teacher login with --etcd needs --token (or DISTRIBUTED_TOKEN), the \
             same for every registry node and service, so that no node takes a registration \
             anonymously"
        );
        return Err(ExitCode::from(2));
    }
    let background = Background::new();
    let log = LogService::start(&args.log, background.stopping())
        .map_err(|err| serve::fail(PROGRAM, err))?;
    let grading = GradingService::start(&args.grading, background.stopping())
        .await
        .map_err(|err| serve::fail(PROGRAM, err))?;
    // DNS first: a port it cannot have stops the process before it says it listens.
    let dns =
        registry::dns::bind_if_asked(PROGRAM, &args.registry, &args.token, &args.reads).await?;
    let listener = serve::bind(PROGRAM, args.addr).await?;
    let addr = listener.local_addr().unwrap_or(args.addr);
    let public_url = given_url.unwrap_or_else(|| format!("http://{addr}"));

    // With a teacher login, grades change only through it, so nothing else of this
    // process may be changed anonymously either: without --token, it makes a random
    // token that only its own services, clients and patches know. That closes the
    // grading API's writes, and also the registry's writes and every patch route, so no
    // anonymous client can add an instance (or forge a patch naming one) that the portal
    // would then send the token to. Reads stay open.
    let internal_token = match args.token.token() {
        None if teachers.required() => Some(teacher_login::random_token()),
        given => given.map(str::to_owned),
    };
    let token = internal_token.as_deref();
    let (registry, registry_health) =
        Registry::start(&args.registry, token, &public_url, &background)
            .await
            .map_err(|err| serve::fail(PROGRAM, server::errors::report(&err)))?;
    if let Some(dns) = dns {
        registry::dns::serve(dns, registry.clone(), args.registry.dns_ttl, &background);
    }
    let own_registry = RegistryClient::with_token(&public_url, token);
    let grading_url = format!("{public_url}{GRADING_PREFIX}");
    let log_instance = Instance::new(
        InstanceSpec::hosted(LOG_SERVICE, &[], &public_url, &public_url),
        own_registry.clone(),
        Watchdog::default(),
    );
    let grading_instance = Instance::new(
        InstanceSpec::hosted(GRADING_SERVICE, &[LOG_SERVICE], &grading_url, &public_url),
        own_registry.clone(),
        Watchdog::default(),
    );
    // The portal's pages are at the root; its own API (live streams) under /portal, which
    // is also the URL it registers under, distinct from the log service's.
    let portal_instance = Instance::new(
        InstanceSpec::hosted(
            PORTAL,
            &[LOG_SERVICE, GRADING_SERVICE],
            &format!("{public_url}/portal"),
            &public_url,
        ),
        own_registry,
        Watchdog::default(),
    );
    let backend = PortalBackend::new(
        portal_instance.providers().clone(),
        RegistryClient::with_token(&public_url, token),
        token,
        background.stopping(),
    );
    background.spawn(shipper.run(
        GRADING_SERVICE.into(),
        grading_instance.providers().clone(),
        token.map(str::to_owned),
        background.stopping(),
    ));
    let instances = vec![log_instance, grading_instance, portal_instance];
    let access = Access::new(token, args.reads.token_reads);
    let health = log.health().and(grading.health()).and(registry_health);
    let app = access
        .guard(registry::router(registry), "registry")
        .merge(access.guard(logs::router(log), "log"))
        .nest(
            GRADING_PREFIX,
            access.guard(grading::router(grading), "grades"),
        )
        .merge(portal::router(
            backend,
            teachers,
            args.site.monitoring(),
            args.site.leptos_options(addr),
        ));

    tracing::info!("serving on {public_url}");
    Ok(runtime::serve(
        PROGRAM, listener, app, health, &args.http, instances, background,
    )
    .await)
}
