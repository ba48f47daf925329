//! The command line of an etcd member that a test runs itself (Debian's `etcd-server`): its
//! data goes in a dir the test owns, and its client and peer URLs are on 127.0.0.1 ports
//! the test chose. The tests and `make bench` start and stop the process themselves, each
//! in its own way.

use std::path::Path;

/// The arguments that start etcd member `name` of `cluster` (its `--initial-cluster`:
/// every member's `name=peer URL`), with its data in `data_dir`.
pub fn member_args(
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
