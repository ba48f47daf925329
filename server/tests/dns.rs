//! The registry's DNS (`--dns-addr`): asked by Debian's `dig`, the program people use,
//! for A and SRV records of a real log service before and after it is killed, and over
//! TCP when a UDP answer is cut; and, in Rust, over UDP and TCP with hickory's own
//! message type, for every rule of the module's table (names, tags, cases, codes, SOA,
//! truncation).

mod common;

use std::{
    net::{IpAddr, SocketAddr},
    process::Command,
};

use common::{Process, client, eventually, until};
use hickory_server::proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};
use serde_json::json;

/// `registryservice` answering DNS on a reserved port (UDP and TCP both want it), with
/// `extra` flags. The registry and where it answers DNS.
fn registry_with_dns(dir: &std::path::Path, extra: &[&str]) -> (Process, SocketAddr) {
    let dns: SocketAddr = format!("127.0.0.1:{}", testkit::ports::reserve())
        .parse()
        .unwrap();
    let dns_arg = dns.to_string();
    let mut args = vec!["--dns-addr", dns_arg.as_str()];
    args.extend_from_slice(extra);
    (Process::registry_with(dir, &args), dns)
}

async fn register(registry: &str, body: serde_json::Value) {
    common::register(&client(), &format!("{registry}/services"), &body).await;
}

fn question(name: &str, kind: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut message = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    message.metadata.recursion_desired = true;
    if let Some(size) = edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        message.set_edns(edns);
    }
    message.to_vec().unwrap()
}

/// Asks `server` over UDP; `edns`: the payload the question says it takes.
async fn udp(
    server: SocketAddr,
    name: &str,
    kind: RecordType,
    edns: Option<u16>,
) -> (Message, usize) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&question(name, kind, edns), server)
        .await
        .unwrap();
    let mut buffer = vec![0; 65_536];
    let (len, _) = tokio::time::timeout(common::PATIENCE, socket.recv_from(&mut buffer))
        .await
        .expect("an answer over UDP")
        .unwrap();
    (Message::from_vec(&buffer[..len]).unwrap(), len)
}

/// Asks `server` over TCP (each message after its two-byte length).
async fn tcp(server: SocketAddr, name: &str, kind: RecordType) -> Message {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let asked = question(name, kind, None);
    stream
        .write_all(&u16::try_from(asked.len()).unwrap().to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&asked).await.unwrap();
    let len = stream.read_u16().await.unwrap();
    let mut answer = vec![0; usize::from(len)];
    stream.read_exact(&mut answer).await.unwrap();
    Message::from_vec(&answer).unwrap()
}

async fn ask(server: SocketAddr, name: &str, kind: RecordType) -> Message {
    udp(server, name, kind, Some(1232)).await.0
}

/// The addresses of a message's A and AAAA answers, sorted.
fn addresses(message: &Message) -> Vec<IpAddr> {
    addresses_in(&message.answers)
}

/// The addresses of the A and AAAA records among `records`, sorted.
fn addresses_in(records: &[hickory_server::proto::rr::Record]) -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = records
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect();
    found.sort();
    found
}

/// The (port, target) of a message's SRV answers, sorted.
fn services(message: &Message) -> Vec<(u16, String)> {
    let mut found: Vec<(u16, String)> = message
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some((srv.port, srv.target.to_string())),
            _ => None,
        })
        .collect();
    found.sort();
    found
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn has_soa(message: &Message) -> bool {
    message
        .authorities
        .iter()
        .any(|record| matches!(record.data, RData::SOA(_)))
}

#[tokio::test]
async fn dns_answers_each_name_as_the_module_says() {
    let dir = common::temp_dir("dns-names");
    let (registry, dns) = registry_with_dns(&dir, &["--dns-ttl", "5s"]);
    register(
        &registry.url,
        json!({"ServiceName": "Test Service", "ServiceURL": "http://127.0.0.1:4101", "Tags": ["Primary"]}),
    )
    .await;
    register(
        &registry.url,
        json!({"ServiceName": "Test Service", "ServiceURL": "http://[::1]:4102/x"}),
    )
    .await;
    register(
        &registry.url,
        json!({"ServiceName": "GradingService", "ServiceURL": "https://grades.example/api"}),
    )
    .await;

    let a = ask(dns, "test-service.service.consul.", RecordType::A).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(a.metadata.authoritative);
    assert_eq!(addresses(&a), [ip("127.0.0.1")]);
    assert_eq!(a.answers[0].ttl, 5, "--dns-ttl");
    let aaaa = ask(dns, "test-service.service.consul.", RecordType::AAAA).await;
    assert_eq!(addresses(&aaaa), [ip("::1")]);
    let srv = ask(dns, "test-service.service.consul.", RecordType::SRV).await;
    assert_eq!(
        services(&srv),
        [
            (4101, "7f000001.addr.dc1.consul.".to_owned()),
            (
                4102,
                "00000000000000000000000000000001.addr.dc1.consul.".to_owned()
            )
        ]
    );
    assert_eq!(
        addresses_in(&srv.additionals),
        [ip("127.0.0.1"), ip("::1")],
        "the targets' addresses come along"
    );
    let target = ask(dns, "7f000001.addr.dc1.consul.", RecordType::A).await;
    assert_eq!(
        addresses(&target),
        [ip("127.0.0.1")],
        "and resolve on their own"
    );

    // Case, the datacenter, tags and RFC 2782's form.
    for name in [
        "Test-Service.SERVICE.Consul.",
        "test-service.service.dc1.consul.",
        "_test-service._tcp.service.consul.",
    ] {
        assert_eq!(
            services(&ask(dns, name, RecordType::SRV).await).len(),
            2,
            "{name}"
        );
    }
    for name in [
        "primary.test-service.service.consul.",
        "_test-service._primary.service.consul.",
    ] {
        let tagged = ask(dns, name, RecordType::SRV).await;
        assert_eq!(
            services(&tagged),
            [(4101, "7f000001.addr.dc1.consul.".to_owned())],
            "{name}"
        );
    }

    // A host name: an SRV target, not an address.
    let grading = ask(dns, "gradingservice.service.consul.", RecordType::SRV).await;
    assert_eq!(services(&grading), [(443, "grades.example.".to_owned())]);
    let grading = ask(dns, "gradingservice.service.consul.", RecordType::A).await;
    assert_eq!(grading.metadata.response_code, ResponseCode::NoError);
    assert!(grading.answers.is_empty() && has_soa(&grading));

    // What is not there, and what is not ours.
    for name in [
        "nobody.service.consul.",
        "secondary.test-service.service.consul.",
        "test-service.node.consul.",
    ] {
        let missing = ask(dns, name, RecordType::A).await;
        assert_eq!(
            missing.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
    }
    for name in ["nobody.service.consul.", "test-service.node.consul."] {
        assert!(
            has_soa(&ask(dns, name, RecordType::A).await),
            "{name}: NXDOMAIN with the SOA"
        );
    }
    // Names with names below them: empty, not NXDOMAIN (which would deny what is below).
    for name in [
        "service.consul.",
        "addr.dc1.consul.",
        "_test-service.service.consul.",
    ] {
        let empty = ask(dns, name, RecordType::A).await;
        assert_eq!(
            empty.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert!(empty.answers.is_empty() && has_soa(&empty), "{name}");
    }
    let other = ask(dns, "example.com.", RecordType::A).await;
    assert_eq!(other.metadata.response_code, ResponseCode::Refused);
    assert!(other.answers.is_empty());
    let txt = ask(dns, "test-service.service.consul.", RecordType::TXT).await;
    assert_eq!(txt.metadata.response_code, ResponseCode::NoError);
    assert!(
        txt.answers.is_empty() && has_soa(&txt),
        "no such records: an empty answer"
    );

    // The metrics count the answers by code.
    let metrics = client()
        .get(format!("{}/metrics", registry.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("registry_dns_queries_total{rcode=\"NXDOMAIN\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("registry_dns_queries_total{rcode=\"REFUSED\"} 1"));
}

#[tokio::test]
async fn instances_on_one_address_give_one_address_record() {
    let dir = common::temp_dir("dns-one-address");
    let (registry, dns) = registry_with_dns(&dir, &[]);
    for port in [4201, 4202] {
        register(
            &registry.url,
            json!({"ServiceName": "Twin", "ServiceURL": format!("http://127.0.0.1:{port}")}),
        )
        .await;
    }
    let a = ask(dns, "twin.service.consul.", RecordType::A).await;
    assert_eq!(
        addresses(&a),
        [ip("127.0.0.1")],
        "one A record, not two alike"
    );
    let srv = ask(dns, "twin.service.consul.", RecordType::SRV).await;
    assert_eq!(services(&srv).len(), 2, "a port each");
    assert_eq!(
        addresses_in(&srv.additionals),
        [ip("127.0.0.1")],
        "one target address"
    );
}

#[tokio::test]
async fn an_answer_too_big_for_udp_is_cut_and_whole_over_tcp() {
    let dir = common::temp_dir("dns-big");
    let (registry, dns) = registry_with_dns(&dir, &[]);
    for n in 1..=120u16 {
        register(
            &registry.url,
            json!({"ServiceName": "Big", "ServiceURL": format!("http://127.0.1.{}:{}", n, 5000 + n)}),
        )
        .await;
    }
    let (plain, len) = udp(dns, "big.service.consul.", RecordType::A, None).await;
    assert!(plain.metadata.truncation, "cut without EDNS");
    assert!(len <= 512, "{len} bytes without EDNS");
    let (offered, len) = udp(dns, "big.service.consul.", RecordType::A, Some(65_000)).await;
    assert!(offered.metadata.truncation);
    assert!(
        len <= 1232,
        "{len} bytes: at most 1,232 whatever the client offers"
    );
    let whole = tcp(dns, "big.service.consul.", RecordType::A).await;
    assert!(!whole.metadata.truncation);
    assert_eq!(addresses(&whole).len(), 120, "TCP carries every instance");

    // Shuffled: the first address differs between answers.
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let answer = tcp(dns, "big.service.consul.", RecordType::A).await;
        if let RData::A(a) = &answer.answers[0].data {
            firsts.insert(IpAddr::V4(a.0));
        }
    }
    assert!(
        firsts.len() > 1,
        "every answer began with the same instance"
    );
}

#[tokio::test]
async fn a_node_refuses_to_answer_dns_to_the_network_unguarded() {
    let dir = common::temp_dir("dns-exposure");
    let refused = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_registryservice"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let reason = refused(&["--addr", "127.0.0.1:0", "--dns-addr", "0.0.0.0:0"]);
    assert!(reason.contains("--token"), "{reason}");
    // Even on loopback: every user of the machine would read what the token guards.
    let reason = refused(&[
        "--addr",
        "127.0.0.1:0",
        "--dns-addr",
        "127.0.0.1:0",
        "--token",
        "t",
        "--token-reads",
    ]);
    assert!(reason.contains("DNS carries no token"), "{reason}");
    let reason = refused(&[
        "--addr",
        "127.0.0.1:0",
        "--dns-addr",
        "0.0.0.0:0",
        "--token",
        "t",
        "--token-reads",
    ]);
    assert!(reason.contains("DNS carries no token"), "{reason}");
}

/// `dig @server -p port args…`: its whole output.
fn dig(server: SocketAddr, args: &[&str]) -> String {
    let output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=2", "+tries=2"])
        .args(args)
        .output()
        .expect("dig runs (scripts/bootstrap.sh test installs bind9-dnsutils)");
    assert!(output.status.success(), "dig {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn dig_finds_a_running_log_service_and_loses_it_when_killed() {
    let dir = common::temp_dir("dns-dig");
    let (registry, dns) = registry_with_dns(
        &dir,
        &[
            "--heartbeat-interval",
            "200ms",
            "--heartbeat-timeout",
            "150ms",
        ],
    );
    let mut log = Process::start(
        env!("CARGO_BIN_EXE_logservice"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            &registry.url,
            "--log-file",
            "d.log",
        ],
        &dir,
    );
    let srv = format!("1 1 {} 7f000001.addr.dc1.consul.", log.port);
    until("dig to find the log service", || async {
        dig(dns, &["+short", "logservice.service.consul", "SRV"]).trim() == srv
    })
    .await;
    assert_eq!(
        dig(dns, &["+short", "logservice.service.consul", "A"]).trim(),
        "127.0.0.1"
    );
    assert_eq!(
        dig(dns, &["+short", "+tcp", "LogService.service.consul", "A"]).trim(),
        "127.0.0.1",
        "over TCP, in any case"
    );
    let full = dig(dns, &["logservice.service.consul", "SRV"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        full.contains("status: NOERROR") && full.contains(" aa "),
        "{full}"
    );
    assert!(
        full.contains("7f000001.addr.dc1.consul. 0 IN A 127.0.0.1"),
        "{full}"
    );
    let missing = dig(dns, &["nobody.service.consul", "A"]);
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");

    log.kill();
    let gone = eventually("dig to stop finding the killed log service", || async {
        let answer = dig(dns, &["logservice.service.consul", "A"]);
        answer.contains("ANSWER: 0,").then_some(answer)
    })
    .await;
    assert!(
        gone.contains("status: NOERROR"),
        "known, none passing: {gone}"
    );
    assert_eq!(
        dig(dns, &["+short", "logservice.service.consul", "SRV"]).trim(),
        ""
    );
}

#[tokio::test]
async fn dig_asks_again_over_tcp_when_the_udp_answer_is_cut() {
    let dir = common::temp_dir("dns-dig-big");
    let (registry, dns) = registry_with_dns(&dir, &[]);
    for n in 1..=100u16 {
        register(
            &registry.url,
            json!({"ServiceName": "Big", "ServiceURL": format!("http://127.0.2.{}:{}", n, 6000 + n)}),
        )
        .await;
    }
    let answer = dig(dns, &["big.service.consul", "A"]);
    assert!(
        answer.contains("Truncated, retrying in TCP mode"),
        "{answer}"
    );
    assert!(answer.contains("ANSWER: 100,"), "{answer}");
    let cut = dig(dns, &["+ignore", "big.service.consul", "A"]);
    assert!(cut.contains(" tc "), "{cut}");
}

#[tokio::test]
async fn dig_and_the_consul_catalog_leave_out_a_flapping_instance_though_it_passes() {
    let dir = common::temp_dir("dns-dig-flapping");
    let (registry, dns) = registry_with_dns(
        &dir,
        &[
            "--heartbeat-interval",
            "100ms",
            "--heartbeat-timeout",
            "300ms",
            "--heartbeat-failures",
            "1",
            "--flap-threshold",
            "2",
            "--flap-window",
            "10m",
        ],
    );
    let alpha = common::FakeService::start().await;
    register(&registry.url, alpha.registration("Alpha", &[])).await;
    until("dig to find Alpha", || async {
        dig(dns, &["+short", "alpha.service.consul", "A"]).trim() == "127.0.0.1"
    })
    .await;
    let status = |want: wire::registry::Status| {
        let url = registry.url.clone();
        let alpha = alpha.url.clone();
        async move {
            let all: Vec<wire::registry::InstanceInfo> =
                common::get_json(format!("{url}/services")).await;
            all.iter()
                .any(|i| i.registration.service_url == alpha && i.status == want)
        }
    };
    // Down and up: two changes in the window, so it is flapping, and passing.
    alpha
        .healthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    until("Alpha to go critical", || {
        status(wire::registry::Status::Critical)
    })
    .await;
    alpha
        .healthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    until("Alpha to pass again", || {
        status(wire::registry::Status::Passing)
    })
    .await;
    let all: Vec<wire::registry::InstanceInfo> =
        common::get_json(format!("{}/services", registry.url)).await;
    assert!(all[0].flapping, "{all:?}");
    let answer = dig(dns, &["alpha.service.consul", "A"]);
    assert!(
        answer.contains("status: NOERROR") && answer.contains("ANSWER: 0,"),
        "known, none given out: {answer}"
    );
    // The Consul catalog: its check is `warning`, and `passing` leaves it out.
    let health: serde_json::Value =
        common::get_json(format!("{}/v1/health/service/Alpha", registry.url)).await;
    assert_eq!(health[0]["Checks"][1]["Status"], "warning", "{health}");
    let passing: serde_json::Value =
        common::get_json(format!("{}/v1/health/service/Alpha?passing", registry.url)).await;
    assert_eq!(passing, serde_json::json!([]));
}
