//! The process's metrics, in Prometheus text on `GET /metrics`: every binary serves them,
//! through [`crate::serve`]. One registry a process ([`global`]); each service adds what
//! it counts, and what the process itself uses (tokio tasks, open sockets, memory) is read
//! at each scrape.

use std::sync::{Mutex, OnceLock};

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::gauge::ConstGauge,
    registry::Registry,
};

/// The content type of Prometheus' text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics of this process.
pub struct Metrics {
    registry: Mutex<Registry>,
}

/// This process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        Metrics {
            registry: Mutex::new(registry),
        }
    }

    /// Adds metrics that are read at each scrape.
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry
            .lock()
            .unwrap()
            .register_collector(Box::new(collector));
    }

    /// Every metric, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry.lock().unwrap())
            .expect("writing to a String cannot fail");
        text
    }
}

/// `GET /metrics`.
pub fn router() -> Router {
    Router::new().route("/metrics", get(serve_metrics))
}

async fn serve_metrics() -> Response {
    let mut response = global().render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
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
