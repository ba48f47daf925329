//! The process's metrics, in Prometheus text on `GET /metrics`: every binary serves them,
//! through [`crate::http::serve`]. There is one set per process ([`global`]), each metric
//! counted where the work is done; a service whose figures live in its own state (the
//! registry's instances by service and status) adds a collector, and what the process
//! itself uses (tokio tasks, open sockets, memory) is read at each scrape.
//!
//! | metric | what | defined in |
//! | --- | --- | --- |
//! | `http_requests_total{route,method,status}` | requests answered, by matched route | here |
//! | `registry_instances{service,status}` | registered instances (registry) | [`crate::registry::metrics`] |
//! | `registry_revision` | the revision of the registry's state, as `Registry-Revision` gives it (registry) | [`crate::registry::metrics`] |
//! | `registry_heartbeat_seconds` | heartbeat round trips, a histogram (registry) | here |
//! | `registry_patches_sent_total`, `registry_patches_failed_total` | patch deliveries (registry) | here |
//! | `registry_leader` | 1 on the node that checks and patches (registry; a lone one always) | [`crate::registry::metrics`] |
//! | `registry_leader_write_failures_total` | decisions etcd refused the leader (registry on etcd) | here |
//! | `registry_etcd_compactions_total` | compactions of etcd's history this node made as leader (registry on etcd) | here |
//! | `registry_dns_queries_total{rcode}` | DNS queries answered, by response code (registry with `--dns-addr`) | here |
//! | `registry_consul_queries_held` | Consul blocking queries held now, at most 1,024 (registry) | here |
//! | `registry_flapping_total` | times an instance began flapping (registry) | here |
//! | `registry_instances_flapping{service}` | instances flapping now, held out of discovery (registry) | [`crate::registry::metrics`] |
//! | `registry_history_events_written_total`, `registry_history_records_skipped_total`, `registry_history_write_failures_total` | the registry's history: changes recorded, records skipped at start-up (torn or corrupt), failed writes (registry with a history) | here |
//! | `log_records_written_total` | records stored (log service) | here |
//! | `log_records_dropped_total{reason}` | records the log shipper dropped: `buffer_full`, or `refused` by the log service (every service) | here |
//! | `tokio_alive_tasks`, `process_*` | what the process uses | here (`ProcessCollector`) |

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use axum::{
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::http::routes::Routes;

/// The content type of Prometheus' text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The labels of `http_requests_total`. Counting a request allocates nothing: routes are
/// the route table's shared patterns ([`crate::http::routes`]) and methods are static.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/students/{id}`), so ids do not make new series; `unmatched`
    /// for requests no route took.
    pub route: Arc<str>,
    pub method: &'static str,
    pub status: u16,
}

/// The label of `log_records_dropped_total`: why the shipper gave records up.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub reason: DropReason,
}

/// Why the log shipper dropped a record.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DropReason {
    /// Its buffer was full (the log service was away too long): the oldest went.
    BufferFull,
    /// The log service refused the record itself (400 or 413): sending it again cannot help.
    Refused,
}

impl DropReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::Refused => "refused",
        }
    }
}

impl prometheus_client::encoding::EncodeLabelValue for DropReason {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// The labels of `registry_dns_queries_total`: the response code's name, from a fixed set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DnsLabels {
    pub rcode: &'static str,
}

/// The metrics of this process.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub http_requests: Family<RequestLabels, Counter>,
    pub heartbeat_seconds: Histogram,
    pub patches_sent: Counter,
    pub patches_failed: Counter,
    pub leader_write_failures: Counter,
    pub etcd_compactions: Counter,
    pub log_records_written: Counter,
    pub log_records_dropped: Family<DropLabels, Counter>,
    pub dns_queries: Family<DnsLabels, Counter>,
    pub consul_queries_held: Gauge,
    pub history_events_written: Counter,
    pub history_records_skipped: Counter,
    pub history_write_failures: Counter,
    pub instances_flapped: Counter,
}

/// This process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let metrics = Metrics {
            registry: Mutex::new(Registry::default()),
            http_requests: Family::default(),
            // 1 ms to about 2 s.
            heartbeat_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 12)),
            patches_sent: Counter::default(),
            patches_failed: Counter::default(),
            leader_write_failures: Counter::default(),
            etcd_compactions: Counter::default(),
            log_records_written: Counter::default(),
            log_records_dropped: Family::default(),
            dns_queries: Family::default(),
            consul_queries_held: Gauge::default(),
            history_events_written: Counter::default(),
            history_records_skipped: Counter::default(),
            history_write_failures: Counter::default(),
            instances_flapped: Counter::default(),
        };
        {
            let mut registry = metrics.registry.lock();
            registry.register(
                "http_requests",
                "HTTP requests answered, by route, method and status",
                metrics.http_requests.clone(),
            );
            registry.register(
                "registry_heartbeat_seconds",
                "Heartbeat round trips, in seconds",
                metrics.heartbeat_seconds.clone(),
            );
            registry.register(
                "registry_patches_sent",
                "Patches delivered to dependents",
                metrics.patches_sent.clone(),
            );
            registry.register(
                "registry_patches_failed",
                "Patches that could not be delivered, after their retries",
                metrics.patches_failed.clone(),
            );
            registry.register(
                "registry_leader_write_failures",
                "Decisions of the cluster's leader (a status change, a drop) that etcd did not take: \
                 a quota alarm or an oversized request holds failure detection until fixed",
                metrics.leader_write_failures.clone(),
            );
            registry.register(
                "registry_etcd_compactions",
                "Compactions of etcd's history made by this node while it led (--etcd-history)",
                metrics.etcd_compactions.clone(),
            );
            registry.register(
                "log_records_written",
                "Log records stored by the log service",
                metrics.log_records_written.clone(),
            );
            registry.register(
                "log_records_dropped",
                "Log records the log shipper dropped: its buffer full, or refused by the log service",
                metrics.log_records_dropped.clone(),
            );
            registry.register(
                "registry_dns_queries",
                "DNS queries the registry answered, by response code (NOERROR, NXDOMAIN, REFUSED, ...)",
                metrics.dns_queries.clone(),
            );
            registry.register(
                "registry_consul_queries_held",
                "Consul blocking queries held now, waiting for a change (at most 1,024)",
                metrics.consul_queries_held.clone(),
            );
            registry.register(
                "registry_history_events_written",
                "Changes the registry recorded in its history (--history-dir)",
                metrics.history_events_written.clone(),
            );
            registry.register(
                "registry_history_records_skipped",
                "History records found torn or corrupt at start-up, and skipped",
                metrics.history_records_skipped.clone(),
            );
            registry.register(
                "registry_history_write_failures",
                "Writes to the registry's history that failed (a full disk, say): it is failing until it writes again",
                metrics.history_write_failures.clone(),
            );
            registry.register(
                "registry_flapping",
                "Times an instance began flapping (--flap-threshold status changes within --flap-window) and was held out of discovery",
                metrics.instances_flapped.clone(),
            );
            registry.register_collector(Box::new(ProcessCollector));
        }
        metrics
    }

    /// Counts `n` log records the shipper dropped, for `reason`.
    pub fn log_records_dropped(&self, reason: DropReason, n: u64) {
        self.log_records_dropped
            .get_or_create(&DropLabels { reason })
            .inc_by(n);
    }

    /// Counts one DNS query answered with `code`.
    pub fn dns_query(&self, code: hickory_server::proto::op::ResponseCode) {
        use hickory_server::proto::op::ResponseCode;
        // As dig writes them.
        let rcode = match code {
            ResponseCode::NoError => "NOERROR",
            ResponseCode::FormErr => "FORMERR",
            ResponseCode::ServFail => "SERVFAIL",
            ResponseCode::NXDomain => "NXDOMAIN",
            ResponseCode::NotImp => "NOTIMP",
            ResponseCode::Refused => "REFUSED",
            ResponseCode::BADVERS => "BADVERS",
            _ => "other",
        };
        self.dns_queries.get_or_create(&DnsLabels { rcode }).inc();
    }

    /// Adds metrics that are read at each scrape.
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry.lock().register_collector(Box::new(collector));
    }

    /// Every metric, in Prometheus' text format (version 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry.lock())
            .expect("writing to a String cannot fail");
        openmetrics_to_text(&text)
    }
}

/// prometheus-client writes OpenMetrics, where a counter's family is named without the
/// `_total` of its samples and the text ends with `# EOF`. Prometheus' own text format
/// (what `/metrics` says it serves, and what `promtool check metrics` reads) names
/// the family as its samples: without that, every counter reads as having no help text.
/// So a counter's `# HELP` and `# TYPE` lines take the `_total`, and `# EOF` (and any
/// `# UNIT`) go.
fn openmetrics_to_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let family = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match family {
            Some(renamed) => text.push_str(renamed.trim_end()),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// `GET /metrics`.
pub fn router() -> Routes {
    Routes::new().route("/metrics", get(serve_metrics))
}

/// One request being counted into `http_requests_total`: [`RequestCount::start`] when it
/// arrives, [`RequestCount::finish`] with its answer's status.
pub struct RequestCount {
    /// The pattern of the route it took ([`crate::http::routes`]); `None` for none.
    route: Option<Arc<str>>,
    method: &'static str,
}

/// A counter of `http_requests_total` by its route, method and status.
type CounterAtHand = (Arc<str>, &'static str, u16, Counter);

/// The most counters a thread keeps at hand (routes × methods × statuses seen).
const MAX_COUNTERS_AT_HAND: usize = 256;

thread_local! {
    /// The counters this thread has counted into, by route, method and status: found by
    /// comparing a few short strings, where the family would hash the labels and take a
    /// lock on every request.
    static COUNTERS: std::cell::RefCell<Vec<CounterAtHand>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl RequestCount {
    pub fn start(method: &Method, route: Option<Arc<str>>) -> RequestCount {
        // Only the methods a client of ours uses get their own series; any other word a
        // client makes up would otherwise add one.
        let method = match method.as_str() {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            "PATCH" => "PATCH",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        RequestCount { route, method }
    }

    pub fn finish(self, status: StatusCode) {
        let route = self.route.unwrap_or_else(unmatched);
        let (method, status) = (self.method, status.as_u16());
        COUNTERS.with_borrow_mut(|counters| {
            let at_hand = counters
                .iter()
                .find(|(r, m, s, _)| *s == status && *m == method && *r == route);
            if let Some((.., counter)) = at_hand {
                counter.inc();
                return;
            }
            let labels = RequestLabels {
                route,
                method,
                status,
            };
            let counter = global().http_requests.get_or_create(&labels).clone();
            counter.inc();
            if counters.len() < MAX_COUNTERS_AT_HAND {
                counters.push((labels.route, method, status, counter));
            }
        });
    }
}

async fn serve_metrics() -> Response {
    let mut response = global().render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// The `route` label of a request no route took.
fn unmatched() -> Arc<str> {
    static UNMATCHED: OnceLock<Arc<str>> = OnceLock::new();
    UNMATCHED.get_or_init(|| Arc::from("unmatched")).clone()
}

/// What the process uses, read from tokio and `/proc/self` at each scrape (on other
/// systems, only the tokio figure).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut gauge = |name: &str, help: &str, value: Option<i64>| {
            let Some(value) = value else { return Ok(()) };
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
        };
        let tasks = tokio::runtime::Handle::try_current()
            .ok()
            .map(|runtime| runtime.metrics().num_alive_tasks() as i64);
        gauge(
            "tokio_alive_tasks",
            "Tasks alive in the tokio runtime.",
            tasks,
        )?;
        let (fds, sockets) = open_files();
        gauge("process_open_fds", "Open file descriptors.", fds)?;
        gauge(
            "process_open_sockets",
            "Open sockets (connections and listeners).",
            sockets,
        )?;
        gauge(
            "process_resident_memory_bytes",
            "Resident memory.",
            status_kib("VmRSS:").map(|kib| kib * 1024),
        )?;
        gauge("process_threads", "OS threads.", status_kib("Threads:"))
    }
}

/// How many file descriptors are open, and how many of them are sockets.
fn open_files() -> (Option<i64>, Option<i64>) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return (None, None);
    };
    let (mut fds, mut sockets) = (0, 0);
    for entry in entries.flatten() {
        fds += 1;
        if std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        {
            sockets += 1;
        }
    }
    (Some(fds), Some(sockets))
}

/// A number field of `/proc/self/status` (memory figures are in KiB).
fn status_kib(field: &str) -> Option<i64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
