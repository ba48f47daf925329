//! The flags every binary shares for how requests may arrive and how they are logged
//! ([`HttpLimits`]): `--request-timeout`, `--access-log` and `--max-connections`. The
//! layers that apply them to each request are in [`crate::http::stack`]; the connection
//! limit and hyper's own limits (more than 100 header fields, headers beyond its read
//! buffer of [`crate::http::serve::MAX_READ_BUFFER`]: a bare 431) are applied by
//! [`crate::http::serve`].

use std::time::Duration;

/// The limits on how requests arrive, and how they are logged, shared by every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimits {
    /// How long a client may take to send a request, headers and body (slower: 408).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Log one line per request (method, URI, status, latency) at INFO. Without it those
    /// lines are DEBUG (`RUST_LOG=debug` shows them); refusals and errors are said at INFO
    /// either way.
    #[arg(long, env = "ACCESS_LOG")]
    pub access_log: bool,

    /// The most connections open at once; more are refused at once (503) until some
    /// close. Never more than half the process's open-file limit, so the files and
    /// outgoing connections a service needs always have room.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

/// `--max-connections` unless given.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            request_timeout: Duration::from_secs(30),
            access_log: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl HttpLimits {
    /// The most connections to keep open: `--max-connections`, but at most half the
    /// open-file limit (`ulimit -n`).
    pub fn connection_limit(&self) -> usize {
        let wanted = self.max_connections as usize;
        // No current limit (unlimited): the flag's.
        match rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
            Some(open_files) => wanted.min((open_files / 2).max(1) as usize),
            None => wanted,
        }
    }
}
