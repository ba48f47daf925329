//! Ports for servers a test starts and restarts on the same port (etcd's members, whose
//! peers must know each other's ports before any starts; PostgreSQL; a node killed and
//! started again).
//!
//! A port picked by binding `127.0.0.1:0` comes from the kernel's ephemeral range, which
//! is also where every outgoing connection's own port comes from: between the pick and
//! the server's bind (or its restart), another test's connection can take it. So these
//! ports are drawn at random below that range, where the kernel hands out nothing, and
//! checked free when drawn. A server of ours that is never restarted needs none: it binds
//! port 0 and says which port it got.

use std::{net::TcpListener, sync::Mutex};

/// Where the kernel's ephemeral range starts (`net.ipv4.ip_local_port_range`).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// The ports `make cluster` takes (scripts/cluster.sh) in the range drawn from: it may
/// run beside the tests on a developer's machine, and start after them.
const MAKE_CLUSTER: [u16; 4] = [22379, 22380, 32379, 32380];

/// A free 127.0.0.1 port below the ephemeral range (from 20,000 up), none of `make
/// cluster`'s, and never one this process was given already (an etcd member's two ports,
/// or a stopped node's, must not be handed out again).
pub fn reserve() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let start = ephemeral_start();
    // A machine whose ephemeral range starts low: above it, then.
    let (low, high) = if start > 25_000 {
        (20_000, start)
    } else {
        (61_000, u16::MAX)
    };
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut seed = u64::from(std::process::id()) ^ nanos();
    for _ in 0..1000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = low + (seed % u64::from(high - low)) as u16;
        if !MAKE_CLUSTER.contains(&port)
            && !given.contains(&port)
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            given.push(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 between {low} and {high}")
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |time| time.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reserved_port_is_free_and_below_the_ephemeral_range() {
        let port = super::reserve();
        assert!(port < super::ephemeral_start() || port >= 61_000);
        assert!(!super::MAKE_CLUSTER.contains(&port));
        let others: Vec<u16> = (0..50).map(|_| super::reserve()).collect();
        assert!(!others.contains(&port), "never handed out twice");
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
