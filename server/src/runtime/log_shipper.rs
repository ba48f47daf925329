//! Ships a service's log records to the central `LogService`.
//!
//! [`ShipLayer`] is a `tracing` layer: it formats each record as the original client did,
//! `[ServiceName] - <message>`, and puts it in a bounded buffer, never blocking the code
//! that logged. When the buffer is full the oldest record is dropped and counted.
//! [`LogShipper::run`] sends the buffer in batches (the log service's batch form of
//! `POST /log`) to an instance the providers cache knows, off every request path. While no
//! log service is known, or it cannot be reached, records wait in the buffer (they
//! always reach stderr through the ordinary formatter too); the drop count is reported
//! with the next delivered batch.
//!
//! A refusal (400 or 413) is final for the records it names, and must not hold up the
//! rest: a refused batch is split in halves until the refused records stand alone, every
//! acceptable record is shipped, and only the refused ones are dropped, counted in
//! `log_records_dropped_total{reason="refused"}` and said once on stderr. Any other
//! failure (unreachable, 5xx, 401) is temporary: the batch goes back to the buffer.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use parking_lot::Mutex;

use reqwest::StatusCode;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context};

use super::providers::{CallError, Providers};
use crate::http::client::ClientError;
use crate::ops::metrics::DropReason;
use wire::registry::LOG_SERVICE;

/// The content type of the log service's batch form: one JSON string per line.
pub const BATCH_CONTENT_TYPE: &str = "application/x-ndjson";
/// The most records in one batch.
const MAX_BATCH: usize = 1000;
/// The longest a record waits for companions before its batch is sent.
const LINGER: Duration = Duration::from_millis(200);
/// Back-off while the log service is unknown or failing.
const RETRY: Duration = Duration::from_secs(1);
/// How long one delivery may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a refusal's body read for its reason.
const MAX_REFUSAL_BYTES: usize = 4096;

/// How many log records a service keeps while its log service is away.
pub const SHIPPING_BUFFER: usize = 10_000;

/// Installs the stderr subscriber ([`crate::ops::telemetry`]) and ships the
/// INFO-and-above records of service `name` (only those of targets starting with
/// `only_target`, if given) to the log service. Returns the shipper, whose `run` task the
/// caller starts once it knows its providers. Call once, first thing in `main`.
pub fn init_shipping(name: &str, only_target: Option<&str>) -> Arc<LogShipper> {
    let shipper = LogShipper::new(SHIPPING_BUFFER);
    let layer = ShipLayer::new(shipper.clone(), name, Level::INFO);
    let level = tracing_subscriber::filter::LevelFilter::from_level(layer.level());
    let layer = match only_target {
        Some(prefix) => layer.only_target(prefix),
        None => layer,
    };
    crate::ops::telemetry::init_with(layer, level);
    shipper
}

/// The buffer between the layer and the sending task.
pub struct LogShipper {
    buffer: Mutex<VecDeque<String>>,
    capacity: usize,
    dropped: AtomicU64,
    ready: Notify,
    /// Whether a refused record has been reported on stderr yet (it is said once).
    said_refused: std::sync::atomic::AtomicBool,
}

/// How the log service answered one request.
enum Answer {
    Stored,
    /// 400 or 413: these records will never be taken.
    Refused {
        status: StatusCode,
        reason: String,
    },
}

impl LogShipper {
    pub fn new(capacity: usize) -> Arc<LogShipper> {
        Arc::new(LogShipper {
            buffer: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            ready: Notify::new(),
            said_refused: Default::default(),
        })
    }

    /// Queues one formatted record, dropping the oldest if the buffer is full.
    pub fn push(&self, record: String) {
        let mut buffer = self.buffer.lock();
        if buffer.len() >= self.capacity {
            buffer.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
            crate::ops::metrics::global().log_records_dropped(DropReason::BufferFull, 1);
        }
        buffer.push_back(record);
        drop(buffer);
        self.ready.notify_one();
    }

    /// Records waiting to be sent.
    pub fn pending(&self) -> usize {
        self.buffer.lock().len()
    }

    /// Records dropped since the last report.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends batches to the log service (with `token`, if any) until `shutdown`, then makes
    /// one last attempt.
    pub async fn run(
        self: Arc<Self>,
        name: String,
        providers: Arc<Providers>,
        token: Option<String>,
        shutdown: CancellationToken,
    ) {
        let client = crate::http::client::with_timeout(CALL_TIMEOUT, token.as_deref());
        let mut stopping = false;
        loop {
            if !stopping && self.pending() == 0 {
                tokio::select! {
                    () = self.ready.notified() => {}
                    () = shutdown.cancelled() => stopping = true,
                }
                if !stopping {
                    // Let a burst gather into one batch.
                    tokio::time::sleep(LINGER).await;
                }
            }
            stopping |= shutdown.is_cancelled();
            match self.send_batch(&name, &providers, &client).await {
                Ok(true) => continue,
                Ok(false) if stopping => return,
                Err(err) if stopping => {
                    // The last attempt failed: what is left is on stderr already.
                    eprintln!(
                        "[{name}] log shipping: stopping with {} records not shipped: {err}",
                        self.pending()
                    );
                    return;
                }
                Ok(false) => {}
                Err(err) => {
                    // Said on stderr only: a record about failing to ship would be shipped.
                    eprintln!(
                        "[{name}] log shipping: {err}; {} records buffered",
                        self.pending()
                    );
                }
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = shutdown.cancelled() => stopping = true,
            }
        }
    }

    /// Sends one batch; `Ok(false)` if there was nothing to send.
    async fn send_batch(
        &self,
        name: &str,
        providers: &Providers,
        client: &reqwest::Client,
    ) -> Result<bool, CallError> {
        let mut batch: Vec<String> = {
            let mut buffer = self.buffer.lock();
            let take = buffer.len().min(MAX_BATCH);
            buffer.drain(..take).collect()
        };
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            batch.push(format!(
                "[{name}] - WARN {dropped} log records were dropped: the buffer was full"
            ));
        }
        if batch.is_empty() {
            return Ok(false);
        }
        if let Err((handled, err)) = self.deliver(name, providers, client, &batch).await {
            // Put what was not handled back in front of anything logged meanwhile, in
            // order. If the buffer has no room for all of it, its oldest records are
            // dropped and counted.
            let mut buffer = self.buffer.lock();
            let rest = &batch[handled..];
            let room = self.capacity.saturating_sub(buffer.len());
            let lost = rest.len().saturating_sub(room);
            for record in rest.iter().skip(lost).rev() {
                buffer.push_front(record.clone());
            }
            self.dropped.fetch_add(lost as u64, Ordering::Relaxed);
            crate::ops::metrics::global().log_records_dropped(DropReason::BufferFull, lost as u64);
            return Err(err);
        }
        Ok(true)
    }

    /// Ships `batch` in order, splitting a refused part in halves until each refused
    /// record stands alone, and dropping only those. On a temporary failure, says how many
    /// leading records were handled (stored or refused) before it.
    async fn deliver(
        &self,
        name: &str,
        providers: &Providers,
        client: &reqwest::Client,
        batch: &[String],
    ) -> Result<(), (usize, CallError)> {
        let mut handled = 0;
        // Parts still to send, the next one last; together they are `batch[handled..]`.
        let mut parts = vec![batch];
        while let Some(part) = parts.pop() {
            match self.post(providers, client, part).await {
                Ok(Answer::Stored) => handled += part.len(),
                Ok(Answer::Refused { status, reason }) if part.len() == 1 => {
                    handled += 1;
                    crate::ops::metrics::global().log_records_dropped(DropReason::Refused, 1);
                    if !self.said_refused.swap(true, Ordering::Relaxed) {
                        // Said on stderr only: a record about failing to ship would be shipped.
                        eprintln!(
                            "[{name}] log shipping: the log service refused a record ({status}: \
                             {reason}); it is dropped. Refused records are counted in \
                             log_records_dropped_total{{reason=\"refused\"}} and not said again."
                        );
                    }
                }
                Ok(Answer::Refused { .. }) => {
                    let (first, second) = part.split_at(part.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
                Err(err) => return Err((handled, err)),
            }
        }
        Ok(())
    }

    /// One `POST /log` of `records` in the batch form.
    async fn post(
        &self,
        providers: &Providers,
        client: &reqwest::Client,
        records: &[String],
    ) -> Result<Answer, CallError> {
        let mut body = String::new();
        for record in records {
            body.push_str(&serde_json::to_string(record).expect("strings serialise"));
            body.push('\n');
        }
        providers
            .call(LOG_SERVICE, |url| {
                let request = client
                    .post(format!("{url}/log"))
                    .header(reqwest::header::CONTENT_TYPE, BATCH_CONTENT_TYPE)
                    .body(body.clone());
                async move {
                    let response = request.send().await?;
                    if response.status().is_success() {
                        return Ok(Answer::Stored);
                    }
                    match ClientError::refusal(response, MAX_REFUSAL_BYTES).await {
                        ClientError::Refused { status, reason }
                            if status == StatusCode::BAD_REQUEST
                                || status == StatusCode::PAYLOAD_TOO_LARGE =>
                        {
                            Ok(Answer::Refused { status, reason })
                        }
                        other => Err(other),
                    }
                }
            })
            .await
    }
}

/// The `tracing` layer that feeds a [`LogShipper`].
pub struct ShipLayer {
    shipper: Arc<LogShipper>,
    name: String,
    /// Records below this level are not shipped.
    level: Level,
    /// If set, only records whose target starts with this are shipped (for a process
    /// that hosts several services, like the all-in-one server).
    only_target: Option<String>,
}

impl ShipLayer {
    pub fn new(shipper: Arc<LogShipper>, name: &str, level: Level) -> ShipLayer {
        ShipLayer {
            shipper,
            name: name.to_owned(),
            level,
            only_target: None,
        }
    }

    /// The least severe level shipped.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Ships only the records of targets starting with `prefix` (a module path).
    pub fn only_target(mut self, prefix: &str) -> ShipLayer {
        self.only_target = Some(prefix.to_owned());
        self
    }
}

/// Targets whose records are never shipped: the HTTP stack underneath the shipper, and the
/// per-request lines (the access log and refusals, and the DNS server's two lines per
/// query), which stay in the process's own log.
const QUIET_TARGETS: &[&str] = &[
    "hickory",
    "hyper",
    "reqwest",
    "h2",
    "tower",
    "rustls",
    "server::http::stack",
];

impl<S: Subscriber> Layer<S> for ShipLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        if *meta.level() > self.level || QUIET_TARGETS.iter().any(|quiet| target.starts_with(quiet))
        {
            return;
        }
        let mut visitor = Message::default();
        event.record(&mut visitor);
        // A record that names its service (the runtime's lifecycle records: started,
        // registered, a provider added or removed, deregistered, stopping) ships under
        // that name, whatever the target filter: in the all-in-one server each hosted
        // service's life shows as its own.
        let name = match visitor.service.take() {
            Some(service) => service,
            None if self
                .only_target
                .as_ref()
                .is_some_and(|only| !target.starts_with(only.as_str())) =>
            {
                return;
            }
            None => self.name.clone(),
        };
        let level = meta.level();
        self.shipper.push(format!(
            "[{name}] - {level} {}{}",
            visitor.message, visitor.fields
        ));
    }
}

/// The field a record names its service with (see [`ShipLayer`]'s `on_event`).
pub const SERVICE_FIELD: &str = "service";

#[derive(Default)]
struct Message {
    message: String,
    fields: String,
    service: Option<String>,
}

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            SERVICE_FIELD => self.service = Some(value.to_owned()),
            name => {
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            SERVICE_FIELD => self.service = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}
