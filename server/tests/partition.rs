//! A registry cluster under network partitions. Each registry node runs in a network
//! namespace of the test's own (as root, with `ip netns`), with two links: one to the
//! clients' network (the test, its fake services, the other nodes) and one to etcd's. A
//! partition takes a node's etcd link down, leaving its clients' link up: the node is cut
//! off from etcd but not from its clients. Traffic goes only to 127.0.0.1 and to the
//! namespaces and bridges the test made, which are deleted when it ends.
//!
//! Where `ip netns` is missing, the test says so and passes without running. Anywhere
//! else it needs root (CAP_NET_ADMIN) and fails, saying so, without it.

mod common;

use std::{
    collections::BTreeSet,
    path::Path,
    process::{Command, Stdio},
};

use common::{FakeService, PATIENCE, Process, client, entry, eventually, until};
use wire::registry::{InstanceInfo, PatchEntry, STALE_HEADER, Status};

/// Runs `ip` with `args`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The test's own networks: a bridge for the clients (10.77.<n>.0/24), one for etcd
/// (10.78.<n>.0/24), and a namespace per node with a link to each. Deleted when dropped.
struct Lab {
    tag: String,
    net: u8,
    nodes: usize,
}

impl Lab {
    /// `nodes` namespaces on two new bridges; `None` (said on stderr) where namespaces
    /// cannot be made here.
    fn new(nodes: usize) -> Option<Lab> {
        // Short names (interfaces take 15 bytes) and subnets, unique to this test
        // process and to each of its labs (tests run at once).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2;
        let pid = std::process::id();
        let tag = format!("dp{}{k}", pid % 10_000);
        let net = (20 + (pid % 100) * 2 + k) as u8;
        let lab = Lab { tag, net, nodes };
        if !ip(&["netns", "list"]) {
            eprintln!("partition: `ip netns` is not available here; this test cannot run");
            return None;
        }
        let ok = lab.build();
        assert!(
            ok,
            "cannot build the test's network namespaces (as root, ip netns)"
        );
        Some(lab)
    }

    fn build(&self) -> bool {
        let (c, e) = (format!("{}c", self.tag), format!("{}e", self.tag));
        let mut ok = ip(&["link", "add", &c, "type", "bridge"])
            && ip(&["link", "add", &e, "type", "bridge"])
            && ip(&[
                "addr",
                "add",
                &format!("10.77.{}.1/24", self.net),
                "dev",
                &c,
            ])
            && ip(&[
                "addr",
                "add",
                &format!("10.78.{}.1/24", self.net),
                "dev",
                &e,
            ])
            && ip(&["link", "set", &c, "up"])
            && ip(&["link", "set", &e, "up"]);
        for n in 0..self.nodes {
            let ns = self.ns(n);
            ok = ok && ip(&["netns", "add", &ns]);
            ok = ok && ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
            for (bridge, subnet, side) in [(&c, 77, 'c'), (&e, 78, 'e')] {
                let (outer, inner) = (
                    format!("{}{side}{n}", self.tag),
                    format!("{}{side}{n}i", self.tag),
                );
                ok =
                    ok && ip(&[
                        "link", "add", &outer, "type", "veth", "peer", "name", &inner,
                    ]) && ip(&["link", "set", &outer, "master", bridge])
                        && ip(&["link", "set", &outer, "up"])
                        && ip(&["link", "set", &inner, "netns", &ns])
                        && ip(&[
                            "netns",
                            "exec",
                            &ns,
                            "ip",
                            "addr",
                            "add",
                            &format!("10.{subnet}.{}.{}/24", self.net, 10 + n),
                            "dev",
                            &inner,
                        ])
                        && ip(&["netns", "exec", &ns, "ip", "link", "set", &inner, "up"]);
            }
        }
        ok
    }

    fn ns(&self, n: usize) -> String {
        format!("{}n{n}", self.tag)
    }

    /// The address of node `n` on the clients' network.
    fn node_ip(&self, n: usize) -> String {
        format!("10.77.{}.{}", self.net, 10 + n)
    }

    /// The test's own address on the clients' network.
    fn client_ip(&self) -> String {
        format!("10.77.{}.1", self.net)
    }

    /// etcd's address on its network.
    fn etcd_ip(&self) -> String {
        format!("10.78.{}.1", self.net)
    }

    /// Cuts node `n` off from etcd (`false`), or joins it again (`true`).
    fn etcd_link(&self, n: usize, up: bool) {
        let inner = format!("{}e{n}i", self.tag);
        let state = if up { "up" } else { "down" };
        assert!(ip(&[
            "netns",
            "exec",
            &self.ns(n),
            "ip",
            "link",
            "set",
            &inner,
            state
        ]));
    }

    /// `registryservice` in node `n`'s namespace, on its clients' address.
    fn node(&self, n: usize, dir: &Path, etcd: &str) -> Process {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(n)])
            .arg(env!("CARGO_BIN_EXE_registryservice"))
            // Not loopback, and no token: a test's own network, open on purpose.
            .args([
                "--addr",
                &format!("{}:0", self.node_ip(n)),
                "--etcd",
                etcd,
                "--open",
            ])
            .current_dir(dir);
        Process::spawn(command)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in 0..self.nodes {
            // A veth goes with its peer; deleted here rather than when the kernel gets
            // round to tearing the namespace down.
            for side in ['c', 'e'] {
                ip(&["link", "del", &format!("{}{side}{n}", self.tag)]);
            }
            ip(&["netns", "del", &self.ns(n)]);
        }
        ip(&["link", "del", &format!("{}c", self.tag)]);
        ip(&["link", "del", &format!("{}e", self.tag)]);
    }
}

/// A single-member etcd whose clients reach it at `lab`'s etcd address (and 127.0.0.1).
async fn etcd(lab: &Lab, dir: &Path) -> testkit::Etcd {
    let ip = lab.etcd_ip().parse().expect("an IP address");
    testkit::Etcd::options().also_at(ip).start(dir).await
}

async fn leads(node: &Process) -> Option<bool> {
    let metrics = client()
        .get(format!("{}/metrics", node.url))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    metrics.lines().find_map(|line| match line {
        "registry_leader 1" => Some(true),
        "registry_leader 0" => Some(false),
        _ => None,
    })
}

async fn passing(node: &Process, name: &str) -> Option<BTreeSet<String>> {
    let answer = client()
        .get(format!("{}/services", node.url))
        .send()
        .await
        .ok()?;
    let instances: Vec<InstanceInfo> = answer.json().await.ok()?;
    Some(
        instances
            .into_iter()
            .filter(|i| i.registration.service_name == name && i.status == Status::Passing)
            .map(|i| i.registration.service_url)
            .collect(),
    )
}

/// Folds `service`'s patches into `view` until it equals `expected`.
async fn view_becomes(
    service: &mut FakeService,
    view: &mut BTreeSet<PatchEntry>,
    expected: &BTreeSet<PatchEntry>,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while view != expected {
        let patch = tokio::time::timeout_at(deadline, service.patches.recv())
            .await
            .unwrap_or_else(|_| panic!("the view is {view:?}, not {expected:?}"))
            .unwrap();
        for removed in patch.removed {
            view.remove(&removed);
        }
        view.extend(patch.added);
    }
}

#[tokio::test]
async fn a_leader_cut_off_from_etcd_stops_another_leads_and_nothing_acknowledged_is_lost() {
    let Some(lab) = Lab::new(3) else { return };
    let dir = common::temp_dir("partition");
    let etcd = etcd(&lab, &dir).await;
    let etcd_url = etcd.url();
    let nodes: Vec<Process> = (0..3).map(|n| lab.node(n, &dir, etcd_url)).collect();
    let http = client();
    for node in &nodes {
        until("every node answering", || async {
            passing(node, "Registry")
                .await
                .is_some_and(|urls| urls.len() == 3)
        })
        .await;
    }
    let first = eventually("a leader", || async {
        for (n, node) in nodes.iter().enumerate() {
            if leads(node).await == Some(true) {
                return Some(n);
            }
        }
        None
    })
    .await;
    let others: Vec<usize> = (0..3).filter(|n| *n != first).collect();

    // A dependent and a provider, on the clients' network.
    let mut dependent = FakeService::start_on(&lab.client_ip()).await;
    let provider = FakeService::start_on(&lab.client_ip()).await;
    let via = &nodes[others[0]];
    common::register(
        &http,
        &format!("{}/services", via.url),
        &dependent.registration("Watcher", &["Provider"]),
    )
    .await;
    common::register(
        &http,
        &format!("{}/services", via.url),
        &provider.registration("Provider", &[]),
    )
    .await;
    let mut view = BTreeSet::new();
    view_becomes(
        &mut dependent,
        &mut view,
        &[entry("Provider", &provider.url)].into(),
    )
    .await;

    // The leader cut off from etcd, not from its clients: it stops leading within its
    // lease, and another node leads.
    lab.etcd_link(first, false);
    until("the cut-off leader no longer leading", || async {
        leads(&nodes[first]).await == Some(false)
    })
    .await;
    let next = eventually("another leader", || async {
        for &n in &others {
            if leads(&nodes[n]).await == Some(true) {
                return Some(n);
            }
        }
        None
    })
    .await;
    // The cut-off node answers reads from its copy, marked stale, and refuses writes.
    let stale = eventually("a stale read from the cut-off node", || async {
        let answer = http
            .get(format!("{}/services", nodes[first].url))
            .send()
            .await
            .ok()?;
        (answer.status() == 200 && answer.headers().contains_key(STALE_HEADER)).then_some(())
    });
    stale.await;
    let refused = http
        .post(format!("{}/services", nodes[first].url))
        .json(&serde_json::json!({"ServiceName": "Static", "ServiceURL": "http://10.9.9.9:9/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);

    // Meanwhile, writes through the others are acknowledged, and the new leader patches.
    let mut acknowledged = BTreeSet::new();
    for n in 0..5 {
        let url = format!("http://10.9.9.9:9/during-{n}");
        common::register(
            &http,
            &format!("{}/services", nodes[next].url),
            &serde_json::json!({"ServiceName": "Static", "ServiceURL": url}),
        )
        .await;
        acknowledged.insert(url);
    }
    let second = FakeService::start_on(&lab.client_ip()).await;
    common::register(
        &http,
        &format!("{}/services", nodes[next].url),
        &second.registration("Provider", &[]),
    )
    .await;
    view_becomes(
        &mut dependent,
        &mut view,
        &[
            entry("Provider", &provider.url),
            entry("Provider", &second.url),
        ]
        .into(),
    )
    .await;

    // Healed: the old leader is a follower at once, and every node lists every
    // acknowledged write; the dependent's view is the registry's.
    lab.etcd_link(first, true);
    until("the healed node current again", || async {
        let Ok(answer) = http
            .get(format!("{}/services", nodes[first].url))
            .send()
            .await
        else {
            return false;
        };
        answer.status() == 200 && !answer.headers().contains_key(STALE_HEADER)
    })
    .await;
    assert_eq!(
        leads(&nodes[first]).await,
        Some(false),
        "the healed node leads again"
    );
    assert_eq!(leads(&nodes[next]).await, Some(true));
    for node in &nodes {
        until("every acknowledged write on every node", || async {
            passing(node, "Static")
                .await
                .is_some_and(|listed| listed.is_superset(&acknowledged))
        })
        .await;
    }
    let registry_view: BTreeSet<PatchEntry> = passing(&nodes[next], "Provider")
        .await
        .unwrap()
        .into_iter()
        .map(|url| entry("Provider", &url))
        .collect();
    assert_eq!(view, registry_view);
}

#[tokio::test]
async fn an_instance_only_a_follower_can_reach_is_judged_by_the_leader_alone() {
    let Some(lab) = Lab::new(2) else { return };
    let dir = common::temp_dir("partition-judged");
    let etcd = etcd(&lab, &dir).await;
    let etcd_url = etcd.url();
    let nodes: Vec<Process> = (0..2).map(|n| lab.node(n, &dir, etcd_url)).collect();
    for node in &nodes {
        until("every node answering", || async {
            passing(node, "Registry")
                .await
                .is_some_and(|urls| urls.len() == 2)
        })
        .await;
    }
    let leader = eventually("a leader", || async {
        for (n, node) in nodes.iter().enumerate() {
            if leads(node).await == Some(true) {
                return Some(n);
            }
        }
        None
    })
    .await;
    let follower = 1 - leader;
    // A log service inside the follower's namespace, on its loopback: the follower can
    // reach it, the leader cannot. It registers through the follower.
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &lab.ns(follower)])
        .arg(env!("CARGO_BIN_EXE_logservice"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            &nodes[follower].url,
            "--log-file",
            "judged.log",
        ])
        .current_dir(&dir);
    let hidden = Process::spawn(command);
    let listed = |node: &Process| {
        let url = format!("{}/services", node.url);
        let hidden = hidden.url.clone();
        async move {
            let instances: Vec<InstanceInfo> =
                client().get(url).send().await.ok()?.json().await.ok()?;
            instances
                .into_iter()
                .find(|i| i.registration.service_url == hidden)
        }
    };
    until("the hidden instance registered", || async {
        listed(&nodes[leader]).await.is_some()
    })
    .await;
    // The leader's checks fail; the follower, which could reach it, checks nothing: the
    // instance is critical on both.
    for node in &nodes {
        until("the instance critical, by the leader's checks", || async {
            listed(node)
                .await
                .is_some_and(|i| i.status == Status::Critical)
        })
        .await;
    }
    let judged = listed(&nodes[follower]).await.unwrap();
    assert!(
        judged.recent_checks.iter().all(|check| !check.ok),
        "a passing check came from a node that does not lead: {judged:?}"
    );
}
