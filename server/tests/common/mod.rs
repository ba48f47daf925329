//! Helpers for the HTTP-level tests: a registry on an ephemeral port, fake services
//! with real listeners, and a small Server-Sent Events reader.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use futures::StreamExt;
use server::{
    http::Background,
    registry::{self, Registry, RegistryConfig},
};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use wire::registry::{Patch, PatchEntry};

/// Settings that make heartbeat tests quick.
pub fn fast_config() -> RegistryConfig {
    RegistryConfig {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(300),
        heartbeat_failures: 2,
        deregister_after: Duration::from_secs(60),
        patch_timeout: Duration::from_millis(500),
        patch_retries: 2,
        ..RegistryConfig::default()
    }
}

/// A registry serving on 127.0.0.1 at an ephemeral port.
pub struct TestRegistry {
    pub url: String,
    pub registry: Registry,
    background: Background,
}

impl TestRegistry {
    pub async fn start(config: RegistryConfig) -> TestRegistry {
        let background = Background::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (registry, _) = Registry::start(&config, None, &url, &background)
            .await
            .unwrap();
        let app = axum::Router::from(registry::router(registry.clone()));
        let stop = background.stopping();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .unwrap();
        });
        TestRegistry {
            url,
            registry,
            background,
        }
    }

    pub fn services(&self) -> String {
        format!("{}/services", self.url)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.background.stop();
    }
}

/// A fresh directory for one test's files, kept for the rest of the run (the test's
/// processes may outlive its scope) and deleted by the next run. See
/// [`testkit::TestDir::for_the_run`].
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    testkit::TestDir::for_the_run(tag)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A client that does not follow redirects (and sends no token).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A service instance with a real listener: answers `GET /heartbeat` (200 while
/// healthy) and records the patches POSTed to `/services`. It can be closed and
/// reopened on the same port.
pub struct FakeService {
    pub addr: SocketAddr,
    pub url: String,
    pub healthy: Arc<AtomicBool>,
    patches_tx: mpsc::UnboundedSender<Patch>,
    pub patches: mpsc::UnboundedReceiver<Patch>,
    server: Option<(CancellationToken, JoinHandle<()>)>,
}

#[derive(Clone)]
struct FakeState {
    healthy: Arc<AtomicBool>,
    patches: mpsc::UnboundedSender<Patch>,
}

impl FakeService {
    pub async fn start() -> FakeService {
        FakeService::start_on("127.0.0.1").await
    }

    /// A fake service listening on `ip` (an address of a test's own network).
    pub async fn start_on(ip: &str) -> FakeService {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (patches_tx, patches) = mpsc::unbounded_channel();
        let mut service = FakeService {
            addr,
            url: format!("http://{addr}"),
            healthy: Arc::new(AtomicBool::new(true)),
            patches_tx,
            patches,
            server: None,
        };
        service.serve(listener);
        service
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = FakeState {
            healthy: self.healthy.clone(),
            patches: self.patches_tx.clone(),
        };
        let app = Router::new()
            .route(
                "/heartbeat",
                get(|State(state): State<FakeState>| async move {
                    if state.healthy.load(Ordering::SeqCst) {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }),
            )
            .route(
                "/services",
                axum::routing::post(|State(state): State<FakeState>, body: String| async move {
                    let patch: Patch = serde_json::from_str(&body).expect("a patch");
                    let _ = state.patches.send(patch);
                    StatusCode::OK
                }),
            )
            .with_state(state);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await
                .unwrap();
        });
        self.server = Some((stop, task));
    }

    /// Closes the listener and every connection, as a killed process would.
    pub async fn close(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            stop.cancel();
            task.await.unwrap();
        }
    }

    /// Listens again on the same port.
    pub async fn reopen(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// A registration JSON for this instance.
    pub fn registration(&self, name: &str, required: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "ServiceName": name,
            "ServiceURL": self.url,
            "RequiredServices": required,
            "ServiceUpdateURL": format!("{}/services", self.url),
            "HeartbeatURL": format!("{}/heartbeat", self.url),
        })
    }

    /// The next patch received, waiting at most `within`.
    pub async fn next_patch(&mut self, within: Duration) -> Patch {
        tokio::time::timeout(within, self.patches.recv())
            .await
            .expect("no patch arrived in time")
            .expect("patch channel open")
    }

    /// Asserts that no patch arrives for `during`.
    pub async fn no_patch(&mut self, during: Duration) {
        if let Ok(Some(patch)) = tokio::time::timeout(during, self.patches.recv()).await {
            panic!("unexpected patch: {patch:?}");
        }
    }
}

pub fn entry(name: &str, url: &str) -> PatchEntry {
    PatchEntry {
        name: name.into(),
        url: url.into(),
    }
}

pub fn added(entries: Vec<PatchEntry>) -> Patch {
    Patch {
        added: entries,
        removed: vec![],
    }
}

pub fn removed(entries: Vec<PatchEntry>) -> Patch {
    Patch {
        added: vec![],
        removed: entries,
    }
}

pub async fn register(client: &reqwest::Client, registry: &str, body: &serde_json::Value) {
    let response = client.post(registry).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: String,
    /// The SSE id (a registry's `<revision>.<index>`); none for a live-only event.
    pub id: Option<String>,
    pub data: String,
}

/// Reads Server-Sent Events from a streaming response.
pub struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

/// A registry event id `<revision>.<index>` as a pair that orders as the ids do (a plain
/// `<revision>`, a snapshot's, is all of that revision).
pub fn event_order(id: &str) -> (u64, u32) {
    match id.split_once('.') {
        Some((revision, index)) => (revision.parse().unwrap(), index.parse().unwrap()),
        None => (id.parse().unwrap(), u32::MAX),
    }
}

impl SseReader {
    pub async fn open(
        client: &reqwest::Client,
        url: &str,
        last_event_id: Option<&str>,
    ) -> SseReader {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseReader {
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> SseEvent {
        tokio::time::timeout(within, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut event = SseEvent {
                        name: "message".into(),
                        id: None,
                        data: String::new(),
                    };
                    let mut any = false;
                    for line in block.lines() {
                        if let Some(value) = line.strip_prefix("event:") {
                            event.name = value.trim().into();
                            any = true;
                        } else if let Some(value) = line.strip_prefix("id:") {
                            event.id = Some(value.trim().to_owned());
                        } else if let Some(value) = line.strip_prefix("data:") {
                            event
                                .data
                                .push_str(value.strip_prefix(' ').unwrap_or(value));
                            any = true;
                        }
                    }
                    if any {
                        return event;
                    }
                    continue;
                }
                let chunk = self.stream.next().await.expect("stream open").unwrap();
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("no event arrived in time")
    }

    /// Whether the stream ends (keep-alive comments and events skipped) within `within`.
    pub async fn ends(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            while let Some(chunk) = self.stream.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await
        .is_ok()
    }

    /// The next event that is not a heartbeat round.
    pub async fn next_change(&mut self, within: Duration) -> SseEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await;
            if event.name != "heartbeats" {
                return event;
            }
        }
    }
}

/// One of our binaries as a child process ([`testkit::Child`]: killed when dropped, so a
/// test that fails half-way leaves nothing behind). Started with `--addr 127.0.0.1:0`, it
/// takes a free port and says which on stdout; [`Process::spawn`] waits for that line, so
/// no test races another for a port.
pub struct Process {
    pub child: testkit::Child,
    /// Its base URL, `http://127.0.0.1:<port>`, as it said it listens.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// The directory it was started in, where its relative paths point.
    pub dir: std::path::PathBuf,
}

impl Process {
    pub fn start(binary: &str, args: &[&str], dir: &std::path::Path) -> Process {
        Process::start_with_env(binary, args, dir, &[])
    }

    /// [`Process::start`] with extra environment variables.
    pub fn start_with_env(
        binary: &str,
        args: &[&str],
        dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Process {
        let mut command = Command::new(binary);
        command
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stderr(Stdio::inherit());
        Process::spawn(command)
    }

    /// Starts `command` (its stdout is taken over) and waits until it says where it
    /// listens; panics if it exits first.
    pub fn spawn(command: Command) -> Process {
        let dir = command
            .get_current_dir()
            .map_or_else(|| std::env::current_dir().unwrap(), Into::into);
        let child = testkit::Child::listening(command, 1);
        Process {
            url: child.url(),
            port: child.addr().port(),
            child,
            dir,
        }
    }

    /// `registryservice` on a free port.
    pub fn registry(dir: &std::path::Path) -> Process {
        Process::registry_with(dir, &[])
    }

    /// `registryservice` on a free port, with `extra` flags.
    pub fn registry_with(dir: &std::path::Path, extra: &[&str]) -> Process {
        Process::registry_on(0, dir, extra)
    }

    /// `registryservice` on 127.0.0.1:`port` (a restart on the port it had), with `extra`
    /// flags.
    pub fn registry_on(port: u16, dir: &std::path::Path, extra: &[&str]) -> Process {
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["--addr", addr.as_str()];
        args.extend_from_slice(extra);
        Process::start(env!("CARGO_BIN_EXE_registryservice"), &args, dir)
    }

    pub fn kill(&mut self) {
        self.child.kill();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.child.terminate()
    }
}

/// `GET url`'s JSON answer, which must be a 200.
pub async fn get_json<T: serde::de::DeserializeOwned>(url: String) -> T {
    let answer = client().get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200, "GET {url}");
    answer.json().await.unwrap()
}

/// Whether `GET url` answers with a body that contains `text` (false while nothing
/// answers), for waiting on a page or a record to show.
pub async fn shows(url: String, text: &str) -> bool {
    match client().get(url).send().await {
        Ok(answer) => answer.text().await.is_ok_and(|body| body.contains(text)),
        Err(_) => false,
    }
}

/// Waits until `base` answers `GET path` (a process just started).
pub async fn wait_up(base: &str, path: &str) {
    let client = client();
    until(&format!("{base}{path} to answer"), || {
        let request = client.get(format!("{base}{path}")).send();
        async move { request.await.is_ok() }
    })
    .await;
}

/// How long [`eventually`] waits before it gives up: long enough that only a hang or a
/// real failure reaches it on a loaded machine. Timing targets belong in `make bench`.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `check` returns `Some`, polling every 20 ms, and returns what it gave;
/// panics naming `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `check` holds (see [`eventually`]).
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// A proxy in front of a service that can hold the next `POST` (a patch) on the way, as a
/// slow network does: the sender times out, and the patch still arrives when the test
/// releases it. Everything else passes straight through.
pub struct HoldingProxy {
    pub url: String,
    state: Arc<ProxyState>,
}

struct ProxyState {
    target: String,
    armed: AtomicBool,
    held: tokio::sync::Semaphore,
    release: tokio::sync::Semaphore,
    /// The held request was forwarded (and answered, or refused).
    delivered: tokio::sync::Semaphore,
    http: reqwest::Client,
}

impl HoldingProxy {
    /// A proxy on a free port forwarding to `target` (a base URL).
    pub async fn start(target: &str) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProxyState {
            target: target.trim_end_matches('/').to_owned(),
            armed: AtomicBool::new(false),
            held: tokio::sync::Semaphore::new(0),
            release: tokio::sync::Semaphore::new(0),
            delivered: tokio::sync::Semaphore::new(0),
            http: client(),
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        HoldingProxy { url, state }
    }

    /// Holds the next `POST` until [`HoldingProxy::release`].
    pub fn hold_next_post(&self) {
        self.state.armed.store(true, Ordering::SeqCst);
    }

    /// Waits until a `POST` is being held.
    pub async fn holding(&self) {
        self.state.held.acquire().await.unwrap().forget();
    }

    /// Lets the held `POST` through, and waits until the service behind has answered it.
    pub async fn release(&self) {
        self.state.release.add_permits(1);
        self.state.delivered.acquire().await.unwrap().forget();
    }
}

async fn forward(
    State(proxy): State<Arc<ProxyState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
) -> StatusCode {
    let hold = method == axum::http::Method::POST && proxy.armed.swap(false, Ordering::SeqCst);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    // Its own task: the sender giving up (closing its connection) must not cancel it.
    let task = tokio::spawn(async move {
        if hold {
            proxy.held.add_permits(1);
            proxy.release.acquire().await.unwrap().forget();
        }
        let mut request = proxy
            .http
            .request(method, format!("{}{path}", proxy.target))
            .body(body);
        for (name, value) in &headers {
            if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let status = request
            .send()
            .await
            .map_or(StatusCode::BAD_GATEWAY, |answer| answer.status());
        if hold {
            proxy.delivered.add_permits(1);
        }
        status
    });
    task.await.unwrap_or(StatusCode::BAD_GATEWAY)
}

/// A dependent built on the runtime, requiring `Provider` and registering with
/// `registries` (one node's URL or several, comma-separated), whose heartbeats and patches
/// come through a [`HoldingProxy`] (its `ServiceUpdateURL` is the proxy's).
pub async fn dependent_behind_proxy(
    registries: &str,
) -> (Arc<server::runtime::Instance>, HoldingProxy) {
    use server::runtime::{Instance, InstanceSpec, RegistryClient, Watchdog};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let proxy = HoldingProxy::start(&url).await;
    let mut spec = InstanceSpec::standalone("Dependent", &["Provider"], &url);
    spec.endpoint_base = proxy.url.clone();
    let instance = Instance::new(spec, RegistryClient::new(registries), Watchdog::default());
    let routes = Router::from(instance.routes());
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    tokio::spawn(instance.clone().run(CancellationToken::new()));
    (instance, proxy)
}
