//! `make soak`: instances of our own service runtime (200 by default) register, deregister
//! and are killed at random against a real `registryservice` process for a while (10
//! minutes; CI runs 2). It fails (exit code 1) unless, every time the churn stops:
//!
//! - the registry lists as passing exactly the instances that are up (nothing lost);
//! - every instance's view of each service it requires equals the registry's (no patch
//!   missed or applied out of order), within [`SETTLE`];
//!
//! and unless the registry's tokio tasks, open sockets and resident memory, read from its
//! `/metrics` with every instance up and settled, grow by at most [`MAX_GROWTH`] between a
//! checkpoint after a warm-up (a fifth of the run, and at least [`WARM_UP_AT_LEAST`]) and
//! the end.
//!
//! A killed instance is one whose listener and open connections are closed at once, with no
//! deregistration, as `kill -9` would leave it; it comes back on the same URL. Flapping is
//! off (`--flap-threshold 0`, on every node of a cluster too): the churn would rightly
//! hold its busiest instances out. A
//! disagreement is reported with the instance's last events (starts, kills, patches).
//!
//! With `--cluster` (`make soak-cluster`) the registry is three `registryservice` nodes on
//! a three-member etcd, and every [`FAULT_EVERY`] of churn a fault chosen at random strikes
//! for [`FAULT_FOR`] while the churn goes on ([`Fault`]: a node or the leader killed with
//! `kill -9`, a node paused with SIGSTOP past its lease, an etcd member killed); then it is
//! healed (the node or member started again, the node resumed), the churn stops, and every
//! node must list exactly the instances that are up and every instance's view must equal
//! the registry's. The nodes restart, so their growth is not measured there.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::Method,
    middleware::{self, Next},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use server::runtime::{Instance, InstanceSpec, RegistryClient, Watchdog};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use wire::registry::InstanceInfo;

use testkit::{Child, Etcd};

use crate::procs::{self, ANY_PORT, wait_up};

/// How long the views may take to agree once the churn stops.
const SETTLE: Duration = Duration::from_secs(30);
/// The most a resource may grow between the checkpoints.
const MAX_GROWTH: f64 = 0.10;
/// How many service names the instances share.
const SERVICES: usize = 10;
/// At most this share of instances is down at once, below the registry's
/// self-preservation threshold (half), so the registry evicts as it normally would.
const MAX_DOWN: f64 = 0.2;
/// Time between two churn actions.
const ACTION_EVERY: Duration = Duration::from_millis(50);
/// The shortest warm-up: past the time the registry's replay journal fills (its memory
/// grows, by design, until then).
const WARM_UP_AT_LEAST: Duration =
    Duration::from_secs(server::registry::journal::RETAIN_FOR.as_secs() + 15);
/// Events kept per instance for a report.
const JOURNAL_LENGTH: usize = 30;
/// With `--cluster`: churn between two faults.
const FAULT_EVERY: Duration = Duration::from_secs(20);
/// With `--cluster`: how long a fault lasts before it is healed (past the 3 s lease).
const FAULT_FOR: Duration = Duration::from_secs(5);

/// `bench soak`'s flags (`make soak`, `make soak-cluster`).
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long the churn runs.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Instances of the service runtime (at least one for each of the 10 service names).
    #[arg(long, default_value_t = 200, value_parser = at_least_services)]
    instances: usize,
    /// Repeats a run's choices: the seed an earlier run printed [default: from the clock].
    #[arg(long)]
    seed: Option<u64>,
    /// Three registry nodes on a three-member etcd, with a fault every 20 s
    /// (`make soak-cluster`).
    #[arg(long)]
    cluster: bool,
}

fn at_least_services(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(n) if n >= SERVICES => Ok(n),
        _ => Err(format!("a whole number of at least {SERVICES}")),
    }
}

/// A small deterministic generator (xorshift), so a run's choices can be repeated with
/// `--seed`.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The last events of each instance (starts, kills, patches received), by port.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<HashMap<u16, VecDeque<String>>>>);

impl Journal {
    fn note(&self, port: u16, what: String) {
        let mut journal = self.0.lock().unwrap();
        let events = journal.entry(port).or_default();
        if events.len() == JOURNAL_LENGTH {
            events.pop_front();
        }
        let at = humantime::format_rfc3339_millis(SystemTime::now());
        events.push_back(format!("{at} {what}"));
    }

    fn of(&self, port: u16) -> String {
        self.0
            .lock()
            .unwrap()
            .get(&port)
            .map(|events| events.iter().cloned().collect::<Vec<_>>().join("\n    "))
            .unwrap_or_default()
    }
}

/// One simulated instance: a name, a fixed URL, and while up, its runtime and server.
struct Sim {
    name: String,
    required: Vec<String>,
    port: u16,
    running: Option<Running>,
}

struct Running {
    instance: Arc<Instance>,
    stop: CancellationToken,
    server: JoinHandle<()>,
}

impl Sim {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self, registry: &str, journal: &Journal) {
        let listener = bind(self.port).await;
        journal.note(self.port, "started".into());
        let required: Vec<&str> = self.required.iter().map(String::as_str).collect();
        let instance = Instance::new(
            InstanceSpec::standalone(&self.name, &required, &self.url()),
            RegistryClient::new(registry),
            Watchdog::default(),
        );
        let stop = CancellationToken::new();
        let routes = journaled(instance.routes().into(), self.port, journal.clone());
        let server = tokio::spawn(serve_until(listener, routes, stop.clone()));
        tokio::spawn(instance.clone().run(stop.clone()));
        self.running = Some(Running {
            instance,
            stop,
            server,
        });
    }

    /// Closes the listener and every connection, without deregistering.
    async fn kill(&mut self, journal: &Journal) {
        journal.note(self.port, "killed".into());
        if let Some(running) = self.running.take() {
            running.stop.cancel();
            let _ = running.server.await;
        }
    }

    async fn deregister(&mut self, journal: &Journal) {
        if let Some(running) = &self.running {
            running.instance.deregister().await;
        }
        journal.note(self.port, "deregistered".into());
        self.kill(journal).await;
    }
}

/// `routes`, noting each patch received in the journal.
fn journaled(routes: Router, port: u16, journal: Journal) -> Router {
    routes.layer(middleware::from_fn(move |request: Request, next: Next| {
        let journal = journal.clone();
        async move {
            if request.method() != Method::POST {
                return next.run(request).await;
            }
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            journal.note(port, format!("patch {}", String::from_utf8_lossy(&bytes)));
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }))
}

/// Binds 127.0.0.1:`port`, waiting out a port still held by a closing socket.
async fn bind(port: u16) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("soak: cannot listen on 127.0.0.1:{port} again");
}

/// Serves `app` until `stop`; then drops every open connection at once, as a killed
/// process would (dropping the JoinSet aborts the connection tasks).
async fn serve_until(listener: TcpListener, app: Router, stop: CancellationToken) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let service = TowerToHyperService::new(
                    app.clone()
                        .map_request(|request: Request<hyper::body::Incoming>| request.map(Body::new)),
                );
                connections.spawn(async move {
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stop.cancelled() => return,
        }
    }
}

/// What the registry uses, from its `/metrics`.
#[derive(Debug, Clone, Copy)]
struct Usage {
    tasks: f64,
    sockets: f64,
    memory: f64,
}

async fn usage(client: &reqwest::Client, registry: &str) -> Usage {
    let text = client
        .get(format!("{registry}/metrics"))
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .expect("the registry answers /metrics")
        .text()
        .await
        .unwrap();
    let gauge = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("/metrics has no {name}"))
    };
    Usage {
        tasks: gauge("tokio_alive_tasks"),
        sockets: gauge("process_open_sockets"),
        memory: gauge("process_resident_memory_bytes"),
    }
}

/// The URLs the registry lists as passing for `name`.
async fn passing(client: &reqwest::Client, registry: &str, name: &str) -> Option<BTreeSet<String>> {
    let instances: Vec<InstanceInfo> = client
        .get(format!("{registry}/services/{name}"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        instances
            .into_iter()
            .map(|info| info.registration.service_url)
            .collect(),
    )
}

/// Where the registry, the truth and the instances' views disagree; empty when they agree.
async fn disagreements(
    client: &reqwest::Client,
    registry: &str,
    sims: &[Sim],
    journal: &Journal,
) -> Vec<String> {
    let mut listed = HashMap::new();
    for s in 0..SERVICES {
        let name = format!("Soak{s}");
        let Some(urls) = passing(client, registry, &name).await else {
            return vec!["the registry did not answer".into()];
        };
        listed.insert(name, urls);
    }
    let up = |url: &String| {
        sims.iter()
            .any(|sim| sim.url() == *url && sim.running.is_some())
    };
    let describe = |urls: Vec<&String>| {
        urls.into_iter()
            .map(|url| format!("{url} ({})", if up(url) { "up" } else { "down" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut wrong = Vec::new();
    for (name, urls) in &listed {
        let truth: BTreeSet<String> = sims
            .iter()
            .filter(|sim| sim.name == *name && sim.running.is_some())
            .map(Sim::url)
            .collect();
        if truth != *urls {
            wrong.push(format!(
                "the registry lists as passing {name} [{}], but up are [{}]",
                describe(urls.iter().collect()),
                describe(truth.iter().collect()),
            ));
        }
    }
    for sim in sims {
        let Some(running) = &sim.running else {
            continue;
        };
        for required in &sim.required {
            let view: BTreeSet<String> = running
                .instance
                .providers()
                .all(required)
                .into_iter()
                .collect();
            let registry_view = &listed[required];
            if view != *registry_view {
                wrong.push(format!(
                    "{} sees {} {required} instances, the registry lists {}; only in its view: [{}]; missing from it: [{}]; its last events:\n    {}",
                    sim.url(),
                    view.len(),
                    registry_view.len(),
                    describe(view.difference(registry_view).collect()),
                    describe(registry_view.difference(&view).collect()),
                    journal.of(sim.port),
                ));
            }
        }
    }
    wrong
}

/// Waits until everything agrees (on every node of `registry`, a comma-separated list);
/// gives how long that took, or ends the run with what still disagrees after [`SETTLE`].
async fn settle(
    client: &reqwest::Client,
    registry: &str,
    sims: &[Sim],
    journal: &Journal,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        let mut wrong = Vec::new();
        for node in registry.split(',') {
            for problem in disagreements(client, node, sims, journal).await {
                wrong.push(format!("{node}: {problem}"));
            }
        }
        if wrong.is_empty() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > SETTLE {
            return Err(format!(
                "still {} disagreements after {SETTLE:?}:\n{}",
                wrong.len(),
                wrong.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[derive(Default, Debug)]
struct Tally {
    starts: usize,
    deregistrations: usize,
    kills: usize,
}

/// Random actions until `until`: start a down instance, or deregister or kill an up one
/// (keeping at most [`MAX_DOWN`] down).
async fn churn(
    sims: &mut [Sim],
    registry: &str,
    journal: &Journal,
    random: &mut Random,
    until: Instant,
    tally: &mut Tally,
) {
    let max_down = (sims.len() as f64 * MAX_DOWN) as usize;
    while Instant::now() < until {
        let i = random.below(sims.len());
        let down = sims.iter().filter(|sim| sim.running.is_none()).count();
        if sims[i].running.is_none() {
            sims[i].start(registry, journal).await;
            tally.starts += 1;
        } else if down < max_down {
            if random.below(2) == 0 {
                sims[i].deregister(journal).await;
                tally.deregistrations += 1;
            } else {
                sims[i].kill(journal).await;
                tally.kills += 1;
            }
        }
        tokio::time::sleep(ACTION_EVERY).await;
    }
}

async fn all_up(sims: &mut [Sim], registry: &str, journal: &Journal) {
    for sim in sims.iter_mut().filter(|sim| sim.running.is_none()) {
        sim.start(registry, journal).await;
    }
}

fn growth(from: f64, to: f64) -> f64 {
    (to - from) / from.max(1.0)
}

/// `bench soak`: runs the soak, and exits 1 with the reason if it fails (once every process
/// it started has been stopped and its temp dirs deleted).
pub async fn soak(args: SoakArgs) {
    let failed = {
        let _cleanup = crate::procs::TempDirs;
        run(args).await
    };
    if let Err(failure) = failed {
        eprintln!("soak: FAILED: {failure}");
        std::process::exit(1);
    }
}

async fn run(settings: SoakArgs) -> Result<(), String> {
    let seed = settings.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1
    });
    eprintln!(
        "soak: {} instances for {}{} (seed {})",
        settings.instances,
        humantime::format_duration(settings.duration),
        if settings.cluster {
            ", on a cluster with a fault every 20 s"
        } else {
            ""
        },
        seed
    );
    let mut random = Random(seed);
    let mut cluster = None;
    let mut single = None;
    let registry = if settings.cluster {
        let started = Cluster::start().await;
        let urls = started.urls();
        cluster = Some(started);
        urls
    } else {
        let mut args = ANY_PORT.map(str::to_owned).to_vec();
        args.extend(["--history-dir".to_owned(), crate::registry::history_dir()]);
        // No flapping: the churn kills and revives an instance more often than
        // --flap-threshold in --flap-window, which would rightly hold it out of the lookups
        // this compares with what is up (that rule has tests of its own).
        args.extend(["--flap-threshold".to_owned(), "0".to_owned()]);
        let process = procs::start("registryservice", &args);
        let url = process.url();
        single = Some(process);
        url
    };
    for node in registry.split(',') {
        wait_up(&format!("{node}/services")).await;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let journal = Journal::default();
    let mut sims: Vec<Sim> = (0..settings.instances)
        .map(|i| Sim {
            name: format!("Soak{}", i % SERVICES),
            required: vec![
                format!("Soak{}", (i + 1) % SERVICES),
                format!("Soak{}", (i + 4) % SERVICES),
            ],
            port: 0,
            running: None,
        })
        .collect();
    // Ports an instance comes back to when started again, where no outgoing connection
    // takes a killed one's port meanwhile (see testkit::ports).
    for sim in &mut sims {
        sim.port = testkit::ports::reserve();
    }
    let started = Instant::now();
    all_up(&mut sims, &registry, &journal).await;
    let took = settle(&client, &registry, &sims, &journal).await?;
    eprintln!("soak: all {} up and agreeing after {took:.1?}", sims.len());

    let mut tally = Tally::default();
    if let Some(cluster) = &mut cluster {
        let end = started + settings.duration;
        let mut faults = 0;
        while Instant::now() < end {
            churn(
                &mut sims,
                &registry,
                &journal,
                &mut random,
                (Instant::now() + FAULT_EVERY).min(end),
                &mut tally,
            )
            .await;
            let fault = cluster.strike(&client, &mut random).await;
            eprintln!("soak: fault: {fault}");
            churn(
                &mut sims,
                &registry,
                &journal,
                &mut random,
                Instant::now() + FAULT_FOR,
                &mut tally,
            )
            .await;
            cluster.heal().await;
            let down = sims.iter().filter(|sim| sim.running.is_none()).count();
            let took = settle(&client, &registry, &sims, &journal).await?;
            faults += 1;
            eprintln!(
                "soak: healed ({fault}); {down} instances down, every view on every node agrees after {took:.1?}; {tally:?}"
            );
        }
        all_up(&mut sims, &registry, &journal).await;
        let took = settle(&client, &registry, &sims, &journal).await?;
        eprintln!("soak: all up and agreeing after {took:.1?}");
        for sim in &mut sims {
            sim.deregister(&journal).await;
        }
        println!(
            "soak: passed: {} instances on a cluster for {}: {} starts, {} deregistrations, {} kills, {faults} faults; after each, every view on every node agreed",
            settings.instances,
            humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())),
            tally.starts,
            tally.deregistrations,
            tally.kills
        );
        return Ok(());
    }
    let _single = single;
    let warm_up = started + (settings.duration / 5).max(WARM_UP_AT_LEAST);
    churn(
        &mut sims,
        &registry,
        &journal,
        &mut random,
        warm_up,
        &mut tally,
    )
    .await;
    all_up(&mut sims, &registry, &journal).await;
    settle(&client, &registry, &sims, &journal).await?;
    let before = usage(&client, &registry).await;
    eprintln!("soak: checkpoint after the warm-up: {before:?}");

    let end = started + settings.duration;
    let mut rounds = 0;
    while Instant::now() < end {
        // Stop the churn now and then, to check the views with instances down too.
        let pause = (Instant::now() + settings.duration / 4).min(end);
        churn(
            &mut sims,
            &registry,
            &journal,
            &mut random,
            pause,
            &mut tally,
        )
        .await;
        let down = sims.iter().filter(|sim| sim.running.is_none()).count();
        let took = settle(&client, &registry, &sims, &journal).await?;
        rounds += 1;
        eprintln!("soak: round {rounds}: {down} down, all views agree after {took:.1?}; {tally:?}");
    }
    all_up(&mut sims, &registry, &journal).await;
    let took = settle(&client, &registry, &sims, &journal).await?;
    let after = usage(&client, &registry).await;
    eprintln!("soak: all up and agreeing after {took:.1?}; at the end: {after:?}");

    let mut failed = Vec::new();
    for (what, from, to) in [
        ("tokio tasks", before.tasks, after.tasks),
        ("open sockets", before.sockets, after.sockets),
        ("resident memory", before.memory, after.memory),
    ] {
        let grew = growth(from, to);
        eprintln!("soak: {what}: {from} -> {to} ({:+.1}%)", grew * 100.0);
        if grew > MAX_GROWTH {
            failed.push(format!("{what} grew {:.1}%", grew * 100.0));
        }
    }
    for sim in &mut sims {
        sim.deregister(&journal).await;
    }
    if !failed.is_empty() {
        return Err(failed.join("; "));
    }
    println!(
        "soak: passed: {} instances for {}: {} starts, {} deregistrations, {} kills; every view agreed after each of {rounds} rounds",
        settings.instances,
        humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())),
        tally.starts,
        tally.deregistrations,
        tally.kills
    );
    Ok(())
}

/// `--cluster`: three registry nodes on a three-member etcd, each on a port it keeps
/// across restarts.
struct Cluster {
    etcd: Etcd,
    nodes: Vec<Node>,
    /// The fault now in effect, until healed.
    struck: Option<Fault>,
}

struct Node {
    port: u16,
    endpoints: String,
    /// The nodes' `--history-dir`.
    history: String,
    process: Option<Child>,
}

/// A fault of the cluster soak.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `kill -9` of the node with this index.
    KillNode(usize),
    /// `kill -9` of the node that leads (this index).
    KillLeader(usize),
    /// SIGSTOP of this node, past its lease; SIGCONT to heal.
    Pause(usize),
    /// `kill -9` of this etcd member.
    KillMember(usize),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::KillNode(n) => write!(f, "node {n} killed"),
            Fault::KillLeader(n) => write!(f, "the leader (node {n}) killed"),
            Fault::Pause(n) => write!(f, "node {n} paused (SIGSTOP) past its lease"),
            Fault::KillMember(n) => write!(f, "etcd member {n} killed"),
        }
    }
}

impl Node {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        self.process = Some(procs::start(
            "registryservice",
            &[
                "--addr".to_owned(),
                format!("127.0.0.1:{}", self.port),
                "--etcd".to_owned(),
                self.endpoints.clone(),
                // Each node in a folder named after its address inside this one, found
                // again when it restarts on its port.
                "--history-dir".to_owned(),
                self.history.clone(),
                // No flapping, as for one registry (see the module's doc).
                "--flap-threshold".to_owned(),
                "0".to_owned(),
            ],
        ));
    }

    fn process(&self) -> &Child {
        self.process.as_ref().expect("a paused node runs")
    }
}

impl Cluster {
    /// A three-member etcd, and three nodes on it on ports they come back to.
    async fn start() -> Cluster {
        let etcd = procs::etcd("soak", 3).await;
        let history = crate::registry::history_dir();
        let mut nodes: Vec<Node> = (0..3)
            .map(|_| Node {
                port: testkit::ports::reserve(),
                endpoints: etcd.endpoints(),
                history: history.clone(),
                process: None,
            })
            .collect();
        for node in &mut nodes {
            node.start();
        }
        Cluster {
            etcd,
            nodes,
            struck: None,
        }
    }

    /// Every node's URL, comma-separated.
    fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Strikes a fault chosen at random; says which.
    async fn strike(&mut self, client: &reqwest::Client, random: &mut Random) -> Fault {
        let fault = match random.below(4) {
            0 => Fault::KillNode(random.below(self.nodes.len())),
            1 => {
                let mut leader = None;
                for (index, node) in self.nodes.iter().enumerate() {
                    let metrics = client.get(format!("{}/metrics", node.url())).send().await;
                    if let Ok(answer) = metrics
                        && let Ok(text) = answer.text().await
                        && text.lines().any(|line| line == "registry_leader 1")
                    {
                        leader = Some(index);
                    }
                }
                match leader {
                    Some(index) => Fault::KillLeader(index),
                    None => Fault::KillNode(random.below(self.nodes.len())),
                }
            }
            2 => Fault::Pause(random.below(self.nodes.len())),
            _ => Fault::KillMember(random.below(self.etcd.members().len())),
        };
        match fault {
            Fault::KillNode(n) | Fault::KillLeader(n) => self.nodes[n].process = None,
            Fault::Pause(n) => self.nodes[n].process().pause(),
            Fault::KillMember(n) => self.etcd.member(n).kill(),
        }
        self.struck = Some(fault);
        fault
    }

    /// Undoes the fault in effect, and waits until what it struck answers again.
    async fn heal(&mut self) {
        match self.struck.take() {
            Some(Fault::KillNode(n) | Fault::KillLeader(n)) => {
                self.nodes[n].start();
                wait_answering(&format!("{}/services", self.nodes[n].url())).await;
            }
            Some(Fault::Pause(n)) => self.nodes[n].process().resume(),
            Some(Fault::KillMember(n)) => {
                let member = self.etcd.member(n);
                member.start();
                assert!(
                    member.wait_healthy().await,
                    "soak: etcd member {n} did not come back"
                );
            }
            None => {}
        }
    }
}

/// Waits until `url` answers 200 (a node answers 503 until it has loaded the state).
async fn wait_answering(url: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|answer| answer.status().is_success())
        {
            return;
        }
        assert!(
            started.elapsed() < SETTLE,
            "soak: {url} did not answer within {SETTLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
