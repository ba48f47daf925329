//! Logging set-up shared by every binary: `tracing` records to stderr, filtered by
//! `RUST_LOG` (default `info,hickory_server=error`), and, for services that ship their logs, to the runtime's
//! shipping layer as well ([`crate::runtime::log_shipper`]). `RUST_LOG` filters only what
//! reaches stderr: the shipping layer has its own level, so a quiet terminal never hides a
//! service's changes from the log service.
//!
//! The request log, one line per request (method, URI, status, latency), is written by
//! a layer in front of every service ([`crate::http::stack::access_log`]): at DEBUG by default, so
//! a default run stays quiet and fast (a line per heartbeat, or per log write, costs a
//! busy service a fifth of its throughput), at INFO with `--access-log`. Those lines are
//! never shipped (see the shipper's quiet targets). The DNS server (hickory) writes two
//! INFO lines per query, and a warning per odd packet (which anyone can send): by default
//! only its errors reach stderr.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, Layer, Registry, filter::LevelFilter, fmt, prelude::*};

/// Installs the stderr subscriber. Call once, first thing in `main`.
pub fn init() {
    install(None::<LevelFilter>, LevelFilter::OFF);
}

/// Installs the stderr subscriber and `extra`, a layer that sees the records at `level`
/// and above whatever `RUST_LOG` says (the runtime's log shipper:
/// [`crate::runtime::log_shipper::init_shipping`]). Call once, first thing in `main`.
pub fn init_with<L>(extra: L, level: LevelFilter)
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    install(Some(extra), level);
}

fn install<L>(extra: Option<L>, level: LevelFilter)
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,hickory_server=error"));
    tracing_subscriber::registry()
        .with(extra.map(|layer| layer.with_filter(level)))
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(filter),
        )
        .init();
}
