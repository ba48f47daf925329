//! An etcd of a test's own (Debian's `etcd-server`): one member or several, on ports
//! from [`crate::ports`] (a member is restarted on its own ports, and its peers know them
//! before it starts), its data and log in a dir the test owns. The tests, the etcd unit
//! tests, `make bench` and `make soak-cluster` all start etcd through [`Etcd`].
//!
//! A member is healthy when its `/health` says `"health":"true"`, which needs a quorum:
//! a member of a three-member cluster restarted alone is not, until another is back.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{ports, process::Child};

/// How long a member has to become healthy: etcd starts in about a second, a cluster
/// elects its leader in a few more.
const PATIENCE: Duration = Duration::from_secs(60);

/// How many times a start is tried on fresh ports: another program can take a reserved
/// port between the draw and etcd's bind (the draw checks it is free, nothing holds it).
const ATTEMPTS: usize = 5;

/// The options of an etcd to start; [`Etcd::start`] for one member and no more.
pub struct EtcdOptions {
    members: usize,
    flags: Vec<String>,
    also_at: Option<IpAddr>,
    logs: Option<PathBuf>,
}

impl EtcdOptions {
    /// A cluster of `members`.
    pub fn members(mut self, members: usize) -> EtcdOptions {
        self.members = members.max(1);
        self
    }

    /// Flags for every member beyond its own, such as `--quota-backend-bytes`.
    pub fn flags(mut self, flags: &[&str]) -> EtcdOptions {
        self.flags = flags.iter().map(|flag| (*flag).to_owned()).collect();
        self
    }

    /// Clients reach it at `ip` too (an address of a test's own network), on the same
    /// port, and it advertises that address.
    pub fn also_at(mut self, ip: IpAddr) -> EtcdOptions {
        self.also_at = Some(ip);
        self
    }

    /// Each member's log (`etcd-<name>.log`) goes in `dir` rather than beside its data:
    /// for the benchmark, whose temp dirs go at the end of a run, failed or not.
    pub fn logs_in(mut self, dir: &Path) -> EtcdOptions {
        self.logs = Some(dir.to_owned());
        self
    }

    /// Starts every member in `dir` (`etcd-<name>` for the data, deleted when the [`Etcd`]
    /// is dropped, and `etcd-<name>.log`, kept for a look) and waits until each is
    /// healthy.
    ///
    /// # Panics
    /// If etcd is not installed, or does not become healthy in [`ATTEMPTS`] tries.
    pub async fn start(self, dir: &Path) -> Etcd {
        for _ in 0..ATTEMPTS {
            let mut etcd = self.on_fresh_ports(dir);
            let mut healthy = true;
            for member in &mut etcd.members {
                healthy = healthy && member.wait_healthy().await;
            }
            if healthy {
                return etcd;
            }
        }
        let logs = self.logs.as_deref().unwrap_or(dir);
        panic!("etcd did not start; see {}/etcd-*.log", logs.display());
    }

    fn on_fresh_ports(&self, dir: &Path) -> Etcd {
        let ports: Vec<(u16, u16)> = (0..self.members)
            .map(|_| (ports::reserve(), ports::reserve()))
            .collect();
        let cluster = ports
            .iter()
            .enumerate()
            .map(|(n, (_, peer))| format!("m{n}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let members = ports
            .iter()
            .enumerate()
            .map(|(n, &(client_port, peer_port))| {
                let name = format!("m{n}");
                let data = dir.join(format!("etcd-{name}"));
                let url = match self.also_at {
                    Some(ip) => format!("http://{}", std::net::SocketAddr::new(ip, client_port)),
                    None => format!("http://127.0.0.1:{client_port}"),
                };
                let mut args = member_args(&name, &data, client_port, peer_port, &cluster);
                if self.also_at.is_some() {
                    set(
                        &mut args,
                        "--listen-client-urls",
                        &format!("{url},http://127.0.0.1:{client_port}"),
                    );
                    set(&mut args, "--advertise-client-urls", &url);
                }
                args.extend(self.flags.iter().cloned());
                let mut member = Member {
                    name,
                    url,
                    data,
                    log: self
                        .logs
                        .as_deref()
                        .unwrap_or(dir)
                        .join(format!("etcd-m{n}.log")),
                    args,
                    child: None,
                };
                member.start();
                member
            })
            .collect();
        Etcd { members }
    }
}

/// A running etcd: its members are killed, and their data deleted, when it is dropped.
pub struct Etcd {
    members: Vec<Member>,
}

impl Etcd {
    /// The options of an etcd to start: one member, no extra flags.
    pub fn options() -> EtcdOptions {
        EtcdOptions {
            members: 1,
            flags: Vec::new(),
            also_at: None,
            logs: None,
        }
    }

    /// A single-member etcd in `dir`, healthy.
    pub async fn start(dir: &Path) -> Etcd {
        Etcd::options().start(dir).await
    }

    /// The first member's client URL (the only one's, for a single member).
    pub fn url(&self) -> &str {
        &self.members[0].url
    }

    /// Every member's client URL, comma-separated, as `--etcd` takes them.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|member| member.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn member(&mut self, n: usize) -> &mut Member {
        &mut self.members[n]
    }

    /// The member that is raft's leader now, if one is and says so.
    pub async fn leader(&self) -> Option<usize> {
        for (n, member) in self.members.iter().enumerate() {
            if member.leads().await {
                return Some(n);
            }
        }
        None
    }
}

/// One member of an [`Etcd`]: its command line, and its process while it runs.
pub struct Member {
    name: String,
    url: String,
    data: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Member {
    /// Its client URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills it (SIGKILL), keeping its data for a restart.
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Starts it (again: killed first if it runs) on its ports and data, without waiting:
    /// a member of a cluster that has lost its quorum cannot be healthy alone.
    pub fn start(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", self.log.display()));
        let mut command = Command::new("etcd");
        command.args(&self.args).stdout(Stdio::null()).stderr(log);
        self.child = Some(Child::spawn(command));
    }

    /// [`Member::start`], then waits until it is healthy.
    ///
    /// # Panics
    /// If it is not within a minute.
    pub async fn restart(&mut self) {
        self.start();
        assert!(
            self.wait_healthy().await,
            "etcd member {} did not come back; see {}",
            self.name,
            self.log.display()
        );
    }

    /// Waits until it says it is healthy: false if it exits first, or is not within a
    /// minute.
    pub async fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            match self.child.as_mut().map(Child::try_wait) {
                None | Some(Some(_)) => return false,
                Some(None) => {}
            }
            if self.healthy().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Whether its `/health` says it is healthy now.
    pub async fn healthy(&self) -> bool {
        let Ok(answer) = client().get(format!("{}/health", self.url)).send().await else {
            return false;
        };
        answer
            .json::<serde_json::Value>()
            .await
            .is_ok_and(|health| health["health"] == "true")
    }

    /// Whether it is its cluster's raft leader now.
    pub async fn leads(&self) -> bool {
        let status = client()
            .post(format!("{}/v3/maintenance/status", self.url))
            .json(&serde_json::json!({}))
            .send()
            .await;
        let Ok(answer) = status else { return false };
        let Ok(status) = answer.json::<serde_json::Value>().await else {
            return false;
        };
        status["leader"].as_str().is_some() && status["leader"] == status["header"]["member_id"]
    }
}

impl Drop for Member {
    /// Kills it and deletes its data (etcd preallocates tens of MB of log a member); its
    /// log stays beside it.
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// A client for etcd's JSON gateway: each call is short, so a stopped member does not
/// hold a wait for long.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a plain HTTP client builds")
}

/// The arguments that start etcd member `name` of `cluster` (its `--initial-cluster`:
/// every member's `name=peer URL`), with its data in `data_dir`.
fn member_args(
    name: &str,
    data_dir: &Path,
    client_port: u16,
    peer_port: u16,
    cluster: &str,
) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    [
        "--name",
        name,
        "--data-dir",
        &data_dir.display().to_string(),
        "--listen-client-urls",
        &client,
        "--advertise-client-urls",
        &client,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        cluster,
        "--initial-cluster-state",
        "new",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect()
}

/// Sets `flag`'s value in `args`.
fn set(args: &mut [String], flag: &str, value: &str) {
    let at = args
        .iter()
        .position(|arg| arg == flag)
        .expect("member_args sets every flag changed");
    args[at + 1] = value.to_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_three_member_etcd_elects_a_leader_and_a_killed_member_comes_back() {
        let dir = crate::TestDir::new("etcd");
        let mut etcd = Etcd::options().members(3).start(&dir).await;
        assert_eq!(etcd.endpoints().split(',').count(), 3);
        let mut leader = None;
        for _ in 0..1200 {
            leader = etcd.leader().await;
            if leader.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let leader = leader.expect("a three-member etcd elects a leader");
        let follower = (leader + 1) % 3;
        etcd.member(follower).kill();
        assert!(!etcd.members()[follower].healthy().await, "killed");
        etcd.member(follower).restart().await;
        assert!(etcd.members()[follower].healthy().await);
        let data = dir.join(format!("etcd-m{follower}"));
        assert!(data.exists());
        drop(etcd);
        assert!(!data.exists(), "its data goes with it");
        assert!(
            dir.join(format!("etcd-m{follower}.log")).exists(),
            "its log stays"
        );
    }
}
