//! The service runtime: what every service does around its own routes, as the original's
//! `service.Start` and registry client did, and more.
//!
//! | module | owns |
//! | --- | --- |
//! | [`args`] | `--addr`, `--public-url`, `--registry-url` |
//! | [`instance`] | one registered instance: its endpoints, registering, staying registered |
//! | [`providers`] | the cache of required services' instances, and failover calls |
//! | [`registry_client`] | the registry's API as a client |
//! | [`log_shipper`] | shipping `tracing` records to the `LogService`, and installing the subscriber that does ([`log_shipper::init_shipping`]) |
//!
//! [`serve`] puts it together: it serves the service's router beside each instance's
//! heartbeat and update routes, registers in the background (only once the listener is
//! up), and on Ctrl-C or SIGTERM deregisters first, then lets its background tasks finish
//! (the log shipper's last delivery among them), stops accepting, lets requests in flight
//! finish and returns success. Every binary serves through it, the registry service with
//! no instance of its own.

pub mod args;
pub mod instance;
pub mod log_shipper;
pub mod providers;
pub mod registry_client;

use std::{process::ExitCode, sync::Arc};

use tokio::net::TcpListener;

use crate::{
    http::{limits::HttpLimits, routes::Routes, shutdown::Background},
    ops::health::Health,
};

pub use args::{Endpoints, ServiceArgs};
pub use instance::{Instance, InstanceSpec, Watchdog};
pub use providers::{CallError, PatchKind, Providers};
pub use registry_client::RegistryClient;

/// Serves `app` and the instances' routes on `listener` until the process is asked to
/// stop. See the module documentation for the order of events. The one way a binary
/// serves: one with no instance to register (the registry service) passes none, and is
/// served until Ctrl-C or SIGTERM.
pub async fn serve(
    program: &str,
    listener: TcpListener,
    app: Routes,
    health: Health,
    limits: &HttpLimits,
    instances: Vec<Arc<Instance>>,
    background: Background,
) -> ExitCode {
    let app = instances
        .iter()
        .fold(app, |app, instance| app.merge(instance.routes()));
    for instance in &instances {
        tracing::info!(
            service = %instance.spec().name,
            url = %instance.spec().url,
            "started"
        );
        background.spawn(instance.clone().run(background.stopping()));
    }
    let stop = async move {
        crate::http::shutdown::signal().await;
        for instance in &instances {
            tracing::info!(service = %instance.spec().name, "stopping");
        }
        // Every instance leaves before any deregisters: one's deregistration must not
        // patch another (the log service out of the grading service's providers) while
        // their last records are still to be shipped.
        for instance in &instances {
            instance.leave();
        }
        // Deregister before anything else, so dependents are told now rather than after
        // the registry's heartbeat checks fail.
        futures::future::join_all(instances.iter().map(|instance| instance.deregister())).await;
    };
    crate::http::serve::serve_until(program, listener, app, health, limits, stop, background).await
}
