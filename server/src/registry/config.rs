//! The registry's settings: heartbeat timing, eviction, patch delivery, its history. Every
//! flag has an environment variable too; durations are written like `1s`, `800ms`, `1m`.

use std::time::Duration;

/// Settings of the registry service.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryConfig {
    /// How often each instance's HeartbeatURL is checked.
    #[arg(long, env = "REGISTRY_HEARTBEAT_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// How long one heartbeat check may take before it counts as failed.
    #[arg(long, env = "REGISTRY_HEARTBEAT_TIMEOUT", default_value = "800ms", value_parser = parse_duration)]
    pub heartbeat_timeout: Duration,

    /// Consecutive failed checks after which an instance becomes critical and leaves
    /// discovery.
    #[arg(long, env = "REGISTRY_HEARTBEAT_FAILURES", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub heartbeat_failures: u32,

    /// How long a critical instance is still checked (and may come back) before it is
    /// dropped.
    #[arg(long, env = "REGISTRY_DEREGISTER_AFTER", default_value = "1m", value_parser = parse_duration)]
    pub deregister_after: Duration,

    /// Status changes within --flap-window that make an instance flapping: held out of
    /// discovery (its dependents told it left) until it has passed for a whole window.
    /// 0 turns this off.
    #[arg(long, env = "REGISTRY_FLAP_THRESHOLD", default_value_t = 4)]
    pub flap_threshold: u32,

    /// The window --flap-threshold counts status changes in, and how long a flapping
    /// instance must pass to be given out again.
    #[arg(long, env = "REGISTRY_FLAP_WINDOW", default_value = "2m", value_parser = parse_duration)]
    pub flap_window: Duration,

    /// How many heartbeat checks may be in flight at once.
    #[arg(long, env = "REGISTRY_HEARTBEAT_CONCURRENCY", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub heartbeat_concurrency: u32,

    /// Self-preservation: when more than this fraction of the checked hosts fail in one
    /// round (every instance on them failing: more likely the registry's own network
    /// than all of them at once), evictions are held until a round's failure rate falls
    /// to it again. Hosts, not instances, so that many dead instances registered on one
    /// machine cannot switch it on.
    #[arg(long, env = "REGISTRY_SELF_PRESERVATION_THRESHOLD", default_value_t = 0.5,
          value_parser = parse_fraction)]
    pub self_preservation_threshold: f64,

    /// Self-preservation applies only when instances on at least this many distinct
    /// hosts are checked.
    #[arg(
        long,
        env = "REGISTRY_SELF_PRESERVATION_MIN_HOSTS",
        default_value_t = 3
    )]
    pub self_preservation_min_hosts: usize,

    /// The most instances the registry holds; a registration of one more is refused
    /// with 503 and the reason (an instance registering again is always taken).
    #[arg(long, env = "REGISTRY_MAX_INSTANCES", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_instances: u64,

    /// How long one patch delivery may take.
    #[arg(long, env = "REGISTRY_PATCH_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub patch_timeout: Duration,

    /// How many times a failed patch delivery is retried (with doubling back-off) before
    /// the target is left until its next change or its next passing heartbeat.
    #[arg(long, env = "REGISTRY_PATCH_RETRIES", default_value_t = 4)]
    pub patch_retries: u32,

    /// Keep the registry's state in etcd, at these client URLs (comma-separated, such as
    /// `http://127.0.0.1:2379,http://127.0.0.1:22379`), shared by every registry node
    /// given the same ones. Without it the state is in this process's memory.
    #[arg(long, env = "REGISTRY_ETCD", value_delimiter = ',', value_parser = parse_etcd_endpoint)]
    pub etcd: Vec<String>,

    /// The key prefix the registry's state lives under in etcd.
    #[arg(long, env = "REGISTRY_ETCD_PREFIX", default_value = "/distributed/")]
    pub etcd_prefix: String,

    /// With --etcd: the lease of the node that runs the checks (the leader). When it
    /// stops renewing it, another node takes over within this time.
    #[arg(long, env = "REGISTRY_LEADER_LEASE", default_value = "3s", value_parser = parse_lease)]
    pub leader_lease: Duration,

    /// With --etcd: how much of etcd's history the registry keeps (the leader compacts
    /// what is older, every quarter of this, at most every 5 minutes). A live stream
    /// resumed on another node within it is replayed from that history; beyond it, the
    /// client is sent a snapshot. Without compaction etcd grows until its quota stops
    /// every write.
    #[arg(long, env = "REGISTRY_ETCD_HISTORY", default_value = "1h", value_parser = parse_duration)]
    pub etcd_history: Duration,

    /// Answer DNS for `<service>.service.consul` on this address, over UDP and TCP, as
    /// Consul's agents do on 127.0.0.1:8600 (`make run` and `make cluster` turn it on
    /// there). Off unless given.
    #[arg(long, env = "REGISTRY_DNS_ADDR")]
    pub dns_addr: Option<std::net::SocketAddr>,

    /// How long resolvers may keep a DNS answer (its records' TTL, and how long an absence
    /// is remembered). 0, the default, as in Consul: every lookup asks again, so a dead
    /// instance is gone from the next answer.
    #[arg(long, env = "REGISTRY_DNS_TTL", default_value = "0s", value_parser = parse_ttl)]
    pub dns_ttl: Duration,

    /// Keep the registry's history (every registration, departure and change of status,
    /// with its time) in this folder, so that `GET /history` and `GET /services?at=` answer
    /// across restarts. `off` keeps none. One registry per folder.
    #[arg(long, env = "REGISTRY_HISTORY_DIR", default_value = "./registry-history",
          value_parser = parse_history_dir)]
    pub history_dir: HistoryDir,

    /// How long the history is kept.
    #[arg(long, env = "REGISTRY_HISTORY_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub history_retention: Duration,

    /// The most disk the history may take (its oldest events go first), e.g. `1GiB`.
    #[arg(long, env = "REGISTRY_HISTORY_MAX_SIZE", default_value = "1GiB",
          value_parser = parse_history_size)]
    pub history_max_size: u64,
}

/// Where the registry keeps its history, if anywhere (`--history-dir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryDir {
    Off,
    At(std::path::PathBuf),
}

/// Parses `--history-dir`: a folder, or `off`.
fn parse_history_dir(text: &str) -> Result<HistoryDir, String> {
    match text.trim() {
        "" => Err("write a folder, such as ./registry-history, or off".into()),
        "off" => Ok(HistoryDir::Off),
        dir => Ok(HistoryDir::At(dir.into())),
    }
}

/// Parses `--history-max-size`: at least 1MiB (a segment is an eighth of it).
fn parse_history_size(text: &str) -> Result<u64, String> {
    let size = crate::logs::parse_size(text)?;
    if size < 1024 * 1024 {
        return Err("must be at least 1MiB".into());
    }
    Ok(size)
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_millis(800),
            heartbeat_failures: 2,
            deregister_after: Duration::from_secs(60),
            flap_threshold: 4,
            flap_window: Duration::from_secs(120),
            heartbeat_concurrency: 1024,
            self_preservation_threshold: 0.5,
            self_preservation_min_hosts: 3,
            max_instances: 10_000,
            patch_timeout: Duration::from_secs(2),
            patch_retries: 4,
            etcd: Vec::new(),
            etcd_prefix: "/distributed/".into(),
            leader_lease: Duration::from_secs(3),
            etcd_history: Duration::from_secs(3600),
            dns_addr: None,
            dns_ttl: Duration::ZERO,
            // Off unless asked for: a registry made in code (a test's) writes no files.
            history_dir: HistoryDir::Off,
            history_retention: Duration::from_secs(7 * 86_400),
            history_max_size: 1024 * 1024 * 1024,
        }
    }
}

/// Parses an etcd client URL: `http://host:port` (or `https://`).
fn parse_etcd_endpoint(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    match reqwest::Url::parse(text) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https") && url.has_host() && url.path() == "/" =>
        {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an etcd client URL: write one such as http://127.0.0.1:2379"
        )),
    }
}

/// Parses a leader lease: whole seconds, at least 2 (etcd leases count in seconds, and a
/// leader renews its lease three times in each lease period).
fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = parse_duration(text)?;
    if lease.as_secs() < 2 || lease.subsec_nanos() != 0 {
        return Err("must be whole seconds, at least 2s (etcd leases count in seconds)".into());
    }
    Ok(lease)
}

/// Parses a DNS TTL: whole seconds (DNS counts in seconds), 0 allowed, at most a day.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text)
        .map_err(|err| format!("{err}: write a duration such as 0s, 5s or 1m"))?;
    if ttl.subsec_nanos() != 0 || ttl > Duration::from_secs(86_400) {
        return Err("must be whole seconds, at most 1d (DNS counts TTLs in seconds)".into());
    }
    Ok(ttl)
}

/// Parses a fraction above 0 and at most 1 (1 turns self-preservation off).
fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 1.0 => Ok(value),
        _ => Err("write a fraction above 0 and at most 1, such as 0.5".into()),
    }
}

/// Parses a duration such as `1s`, `800ms` or `1m 30s`; zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|err| format!("{err}: write a duration such as 1s, 800ms or 1m"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}
