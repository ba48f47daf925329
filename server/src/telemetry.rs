//! Logging set-up shared by every binary: `tracing` records to stderr, filtered by
//! `RUST_LOG` (default `info`), and, for services that ship their logs, to a
//! [`ShipLayer`] as well.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::runtime::log_shipper::ShipLayer;

/// Installs the stderr subscriber. Call once, first thing in `main`.
pub fn init() {
    init_with(None);
}

/// Installs the stderr subscriber and, if given, the layer that ships records to the
/// log service.
pub fn init_with(ship: Option<ShipLayer>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(ship)
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
}
