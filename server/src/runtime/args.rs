//! The flags every service binary shares: where it listens, the URL it registers under,
//! where the registry is, its request limits and its token. Each has an environment
//! variable.

use std::{
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
    sync::Arc,
};

use super::{Instance, InstanceSpec, RegistryClient, Watchdog};

/// Flags common to `logservice`, `gradingservice` and `portal`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Address to listen on [default: the service's own port on 127.0.0.1].
    #[arg(long, env = "SERVICE_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Base URL to register, as other services reach this one [default: http://<addr>].
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Base URL of the registry; for a registry cluster, one or more nodes' URLs
    /// separated by commas (one live node is enough: the others are learned from it).
    #[arg(long, env = "REGISTRY_URL", default_value = "http://127.0.0.1:3000")]
    pub registry_url: String,

    #[command(flatten)]
    pub http: crate::http::limits::HttpLimits,

    #[command(flatten)]
    pub token: crate::http::token::TokenArgs,
}

/// A standalone service's resolved flags.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The base URL it registers under.
    pub public_url: String,
    /// The registry nodes' base URLs, separated by commas.
    pub registry: String,
    /// The shared secret its clients send, if any.
    pub token: Option<String>,
    /// Whether `public_url` was made from `addr` (no `--public-url`).
    public_url_from_addr: bool,
}

impl Endpoints {
    /// Takes the address `listener` was bound to (a port 0 becomes the free port it got),
    /// and the public URL with it unless `--public-url` was given.
    pub fn listening_on(&mut self, listener: &tokio::net::TcpListener) {
        if let Ok(bound) = listener.local_addr() {
            self.addr = bound;
            if self.public_url_from_addr {
                self.public_url = format!("http://{bound}");
            }
        }
    }

    /// The instance a standalone service registers, as the original did: `/heartbeat`
    /// and `/services` at its public URL.
    pub fn instance(&self, name: &str, required: &[&str]) -> Arc<Instance> {
        Instance::new(
            InstanceSpec::standalone(name, required, &self.public_url),
            RegistryClient::with_token(&self.registry, self.token.as_deref()),
            Watchdog::default(),
        )
    }
}

impl ServiceArgs {
    /// Resolves the flags of `program`, whose default port on 127.0.0.1 is
    /// `default_port`. A bad flag, or an address beyond loopback without a token or
    /// `--open`, is explained on stderr and becomes exit code 2.
    pub fn resolve(&self, program: &str, default_port: u16) -> Result<Endpoints, ExitCode> {
        let addr = self.addr_or(SocketAddr::from((Ipv4Addr::LOCALHOST, default_port)));
        self.token.check_exposure(program, addr)?;
        check_reachable(program, self.public_url.is_some(), addr)?;
        let resolved = self.public_url_for(addr).and_then(|public_url| {
            Ok(Endpoints {
                addr,
                public_url,
                registry: self.registry_base()?,
                token: self.token.token().map(str::to_owned),
                public_url_from_addr: self.public_url.is_none(),
            })
        });
        resolved.map_err(|err| {
            eprintln!("{program}: {}", crate::errors::report(&err));
            ExitCode::from(2)
        })
    }

    /// The address to listen on, `default` unless `--addr` was given.
    pub fn addr_or(&self, default: SocketAddr) -> SocketAddr {
        self.addr.unwrap_or(default)
    }

    /// The base URL to register for a service listening on `addr`, without a trailing
    /// slash; an error names the flag to fix.
    pub fn public_url_for(&self, addr: SocketAddr) -> Result<String, BadUrl> {
        let url = match &self.public_url {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => format!("http://{addr}"),
        };
        check_public_url(&url)?;
        Ok(url)
    }

    /// The registry nodes' base URLs, without trailing slashes, separated by commas; an
    /// error names the flag to fix.
    pub fn registry_base(&self) -> Result<String, BadUrl> {
        let mut urls = Vec::new();
        for url in self.registry_url.split(',') {
            let url = url.trim().trim_end_matches('/');
            check_http_url("--registry-url", url)?;
            urls.push(url);
        }
        Ok(urls.join(","))
    }
}

/// A `--public-url` given to `program`, without a trailing slash, or `None` if none was
/// given (the binary then makes one from the address it binds). A URL that is not an
/// absolute http(s) URL is explained on stderr and becomes exit code 2.
pub fn given_public_url(program: &str, given: Option<&str>) -> Result<Option<String>, ExitCode> {
    let Some(url) = given.map(|url| url.trim().trim_end_matches('/').to_owned()) else {
        return Ok(None);
    };
    check_public_url(&url).map_err(|err| {
        eprintln!("{program}: {}", crate::errors::report(&err));
        ExitCode::from(2)
    })?;
    Ok(Some(url))
}

/// Checks a `--public-url`: an absolute http(s) URL whose host the registry will take
/// (not a link-local or the unspecified address, which no other machine reaches).
fn check_public_url(url: &str) -> Result<(), BadUrl> {
    check_http_url("--public-url", url)?;
    let parsed = reqwest::Url::parse(url).map_err(|_| BadUrl::NotHttp {
        flag: "--public-url",
        url: url.to_owned(),
    })?;
    if let Some(reason) = parsed
        .host()
        .and_then(|host| crate::registry::validate::forbidden_host(&host))
    {
        return Err(BadUrl::Unreachable {
            reason,
            url: url.to_owned(),
        });
    }
    Ok(())
}

/// Why a URL flag is refused; each names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadUrl {
    #[error("{flag} must be an absolute http(s) URL such as http://127.0.0.1:3000, got {url:?}")]
    NotHttp { flag: &'static str, url: String },
    #[error(
        "--public-url must be an address other services reach this one at, not {reason}: {url:?}"
    )]
    Unreachable { reason: &'static str, url: String },
}

/// A process listening on the unspecified address (`0.0.0.0`, `::`) without
/// `--public-url` would register `http://0.0.0.0:…`, which reaches nobody else (and
/// which the registry refuses): that is said on stderr, naming the flag, and becomes
/// exit code 2.
pub fn check_reachable(
    program: &str,
    public_url_given: bool,
    addr: SocketAddr,
) -> Result<(), ExitCode> {
    if public_url_given || !addr.ip().is_unspecified() {
        return Ok(());
    }
    eprintln!(
        "{program}: listening on {addr}, other services cannot reach http://{addr}: give \
         --public-url (or PUBLIC_URL) with the address they reach this one at, such as \
         http://192.0.2.10:{}",
        addr.port()
    );
    Err(ExitCode::from(2))
}

/// Checks that `url`, given to `flag`, is an absolute http(s) URL with a host; the error
/// names the flag and shows an example. Every binary checks its URL flags with this.
///
/// # Errors
/// Anything else: a relative URL, another scheme, no host.
pub fn check_http_url(flag: &'static str, url: &str) -> Result<(), BadUrl> {
    match reqwest::Url::parse(url) {
        // (The parser drops tabs and newlines; a URL that holds them is not what was meant.)
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https")
                && parsed.has_host()
                && !url.chars().any(char::is_control) =>
        {
            Ok(())
        }
        _ => Err(BadUrl::NotHttp {
            flag,
            url: url.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ServiceArgs;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        service: ServiceArgs,
    }

    fn registry(value: &str) -> Result<String, String> {
        Args::parse_from(["test", "--registry-url", value])
            .service
            .registry_base()
            .map_err(|err| err.to_string())
    }

    #[test]
    fn the_registry_may_be_several_nodes() {
        assert_eq!(registry("http://a:3000/"), Ok("http://a:3000".into()));
        assert_eq!(
            registry("http://a:3000, http://b:3010/"),
            Ok("http://a:3000,http://b:3010".into())
        );
        for bad in [
            "http://a:3000,ftp://b",
            "http://a:3000,",
            "a:3000",
            "http://a:3000/\nx",
        ] {
            let err = registry(bad).unwrap_err();
            assert!(err.starts_with("--registry-url must be"), "{bad}: {err}");
        }
    }
}
