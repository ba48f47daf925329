//! Logging set-up shared by every binary: `tracing` records to stderr, filtered by
//! `RUST_LOG` (default `info`), and, for services that ship their logs, to a
//! [`ShipLayer`] as well. `RUST_LOG` filters only what reaches stderr: the shipping layer
//! has its own level, so a quiet terminal never hides a service's changes from the log
//! service.
//!
//! The request log, one line per request (method, URI, status, latency), is written by
//! the guard in front of every service ([`crate::http::limits`]): at DEBUG by default, so
//! a default run stays quiet and fast (a line per heartbeat, or per log write, costs a
//! busy service a fifth of its throughput), at INFO with `--access-log`. Those lines are
//! never shipped (see the shipper's quiet targets).

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, filter::LevelFilter, fmt, prelude::*};

use std::sync::Arc;

use crate::runtime::log_shipper::{LogShipper, ShipLayer};

/// Log records a service keeps while its log service is away.
pub const SHIPPING_BUFFER: usize = 10_000;

/// Installs the stderr subscriber and ships the INFO-and-above records of service `name`
/// (only those of targets starting with `only_target`, if given) to the log service.
/// Returns the shipper, whose `run` task the caller starts once it knows its providers.
pub fn init_shipping(name: &str, only_target: Option<&str>) -> Arc<LogShipper> {
    let shipper = LogShipper::new(SHIPPING_BUFFER);
    let layer = ShipLayer::new(shipper.clone(), name, tracing::Level::INFO);
    init_with(Some(match only_target {
        Some(prefix) => layer.only_target(prefix),
        None => layer,
    }));
    shipper
}

/// Installs the stderr subscriber. Call once, first thing in `main`.
pub fn init() {
    init_with(None);
}

/// Installs the stderr subscriber and, if given, the layer that ships records to the
/// log service.
fn init_with(ship: Option<ShipLayer>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ship = ship.map(|layer| {
        let level = LevelFilter::from_level(layer.level());
        layer.with_filter(level)
    });
    tracing_subscriber::registry()
        .with(ship)
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(filter),
        )
        .init();
}
