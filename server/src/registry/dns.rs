//! The registry answering DNS, as Consul's agents do on port 8600: `--dns-addr` serves,
//! over UDP and TCP, the instances that pass their checks under `service.consul`, so
//! `dig`, a resolver's stub zone, or any program that resolves names finds a service
//! without a client library. The wire format and the servers are hickory-server's; this
//! module only decides what a name means and what the answer holds.
//!
//! | name | answers |
//! | --- | --- |
//! | `<service>.service.consul` | `A`/`AAAA`: each passing instance's address, shuffled; `SRV`: its port and a target name |
//! | `<tag>.<service>.service.consul` | the same, for the instances carrying that tag |
//! | `_<service>._<tag>.service.consul` | RFC 2782's form of the same (`_tcp` for no tag) |
//! | `<hex>.addr.consul` | the address an `SRV` target names (`7f000001` is 127.0.0.1) |
//!
//! `.dc1` may stand before `.consul`, as in Consul. A service's name becomes a DNS label
//! by [`label`]: lower case, every run of other characters than ASCII letters and digits
//! one `-`, none at either end ("Test Service" → `test-service`, "LogService" →
//! `logservice`); tags likewise. Names are matched without regard to case. Services whose
//! names map to the same label answer together; a name whose label is longer than 63
//! characters cannot be asked for.
//!
//! An unknown service or tag is `NXDOMAIN`; a known one with no passing instance, or
//! asked for a type it has none of, an empty answer (with the zone's `SOA`, so resolvers
//! cache the absence no longer than `--dns-ttl`). A name outside `consul.` is `REFUSED`:
//! the registry answers for its zone only, and never recurses. An instance whose URL
//! names a host rather than an address is in `SRV` answers with that host as target,
//! not in `A`/`AAAA` answers (a name may not hold several `CNAME`s). Answers over UDP
//! are cut to what the client said it takes (512 bytes without EDNS, at most 1,232
//! with: the DNS Flag Day size, which also bounds what a spoofed query can make the
//! registry send to someone else), with the truncation bit set, and the client asks
//! again over TCP for the whole answer (up to DNS's 64 KiB message: about 4,000 `A`
//! records). Instances on one address give one record. A name with names below it but
//! no records (`service.consul`) is an empty answer, not `NXDOMAIN`. A node with no
//! state yet answers `SERVFAIL`.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use hickory_server::{
    net::runtime::Time,
    proto::{
        op::{Edns, Metadata, OpCode, ResponseCode},
        rr::{
            DNSClass, LowerName, Name, RData, Record, RecordType,
            rdata::{A, AAAA, SOA, SRV},
        },
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
};
use parking_lot::RwLock;
use tokio::net::{TcpListener, UdpSocket};

use super::{Registry, store::Readiness};
use crate::http::shutdown::Background;
use wire::registry::InstanceInfo;

/// The zone the registry answers for, as Consul's default domain.
const ZONE: &str = "consul";
/// The datacenter a name may carry before the zone (Consul's `<service>.service.dc1.consul`).
const DATACENTER: &str = super::consul::DATACENTER;
/// The most a UDP answer takes, whatever the client offers (DNS Flag Day 2020).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// How long a TCP connection may stay silent before it is closed (a client asks, reads
/// and goes; one that says nothing holds a task and a socket).
const TCP_IDLE: Duration = Duration::from_secs(5);

/// The DNS label of a service's name or a tag: lower case, every run of characters other
/// than ASCII letters and digits one `-`, none at either end.
pub fn label(name: &str) -> String {
    let mut label = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    while label.ends_with('-') {
        label.pop();
    }
    label
}

/// The UDP socket and TCP listener of `--dns-addr`, bound before anything starts.
pub struct Sockets {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl Sockets {
    /// Where they listen (one port for both).
    pub fn local_addr(&self) -> SocketAddr {
        self.udp
            .local_addr()
            .expect("a bound socket has an address")
    }
}

/// Binds `addr` over UDP and TCP (port 0: a port free for both) and says on stdout where
/// `program` answers DNS, or explains on stderr why it cannot.
pub async fn bind(program: &str, addr: SocketAddr) -> Result<Sockets, ExitCode> {
    let cannot = |err: std::io::Error| {
        crate::http::serve::fail(
            program,
            format!(
                "cannot answer DNS on {addr}: {err}. Stop whatever uses that address (ss -lunp \
                 and ss -ltnp name it), or pass another with --dns-addr."
            ),
        )
    };
    // With port 0 the UDP port the kernel picks may be taken over TCP: pick again.
    let mut tries = 0;
    let sockets = loop {
        let udp = UdpSocket::bind(addr).await.map_err(cannot)?;
        let bound = udp.local_addr().map_err(cannot)?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => break Sockets { udp, tcp },
            Err(_) if addr.port() == 0 && tries < 16 => tries += 1,
            Err(err) => return Err(cannot(err)),
        }
    };
    println!(
        "{program}: answering DNS on {} (udp and tcp)",
        sockets.local_addr()
    );
    Ok(sockets)
}

/// Binds `--dns-addr`, if given, after checking that it may be: never with
/// `--token-reads` (DNS carries no token, so it would tell anyone, every user of this
/// machine included, what the token keeps to its holders), and an address other than
/// loopback not without a token or `--open`, as `--addr` (an operator who opens the
/// registry to the network decides on a token).
pub async fn bind_if_asked(
    program: &str,
    config: &super::RegistryConfig,
    token: &crate::http::token::TokenArgs,
    reads: &crate::http::token::ReadsArgs,
) -> Result<Option<Sockets>, ExitCode> {
    let Some(addr) = config.dns_addr else {
        return Ok(None);
    };
    let refusal = if reads.token_reads {
        Some(
            "DNS carries no token, so it would answer anyone, every user of this machine \
             included, what --token-reads keeps to token holders. Leave --dns-addr unset \
             (REGISTRY_DNS_ADDR=off make run), or read without --token-reads.",
        )
    } else if !addr.ip().is_loopback() && token.token().is_none() && !token.open {
        Some(
            "a registry open to the network needs --token (or DISTRIBUTED_TOKEN) for its \
             writes. Give one, answer DNS on 127.0.0.1, or pass --open (DISTRIBUTED_OPEN=1) \
             if the system is really meant to be open.",
        )
    } else {
        None
    };
    if let Some(why) = refusal {
        eprintln!("{program}: refusing to answer DNS on {addr}: {why}");
        return Err(ExitCode::from(2));
    }
    bind(program, addr).await.map(Some)
}

/// Answers DNS on `sockets` from `registry` with records of `ttl`, as a task of
/// `background` that ends when it stops.
pub fn serve(sockets: Sockets, registry: Registry, ttl: Duration, background: &Background) {
    let mut server = hickory_server::Server::new(Responder::new(registry, ttl));
    server.register_socket(sockets.udp);
    server.register_listener(sockets.tcp, TCP_IDLE, 64 * 1024);
    let stopping = background.stopping();
    background.spawn(async move {
        stopping.cancelled().await;
        if let Err(err) = server.shutdown_gracefully().await {
            tracing::warn!(%err, "the DNS server stopped with an error");
        }
    });
}

/// Where an instance is: an address, or a host name its URL gave.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Host {
    Ip(IpAddr),
    Name(Name),
}

/// One instance as DNS answers it.
#[derive(Debug, Clone)]
struct Entry {
    host: Host,
    port: u16,
    passing: bool,
    /// Its tags' labels.
    tags: Vec<String>,
}

/// Every instance by its service's label, as of one catalog index.
#[derive(Debug, Default)]
struct View {
    index: u64,
    services: HashMap<String, Vec<Entry>>,
}

impl View {
    fn of(index: u64, instances: Vec<InstanceInfo>) -> View {
        let mut services: HashMap<String, Vec<Entry>> = HashMap::new();
        for instance in instances {
            let passing = instance.discoverable();
            let reg = instance.registration;
            let Ok(url) = url::Url::parse(&reg.service_url) else {
                continue;
            };
            let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
                continue;
            };
            let host = match host {
                url::Host::Ipv4(ip) => Host::Ip(ip.into()),
                url::Host::Ipv6(ip) => Host::Ip(ip.into()),
                url::Host::Domain(domain) => match Name::from_ascii(format!("{domain}.")) {
                    Ok(name) => Host::Name(name),
                    Err(_) => continue,
                },
            };
            services
                .entry(label(&reg.service_name))
                .or_default()
                .push(Entry {
                    host,
                    port,
                    passing,
                    tags: reg.tags.iter().map(|tag| label(tag)).collect(),
                });
        }
        View { index, services }
    }
}

/// What a name in the zone asks for.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    /// The zone's apex: its SOA.
    Apex,
    /// A service's instances, those with a tag if one is given.
    Service {
        service: String,
        tag: Option<String>,
    },
    /// The address an SRV target names.
    Address(IpAddr),
    /// A name with names below it but no records of its own (`service.consul`,
    /// `addr.dc1.consul`, `_logservice.service.consul`): an empty answer, not NXDOMAIN,
    /// which says nothing exists below it (RFC 8020).
    Empty,
    /// A name in the zone that means nothing.
    Nothing,
}

/// What `name` asks for; `None` for a name outside the zone.
fn parse(name: &LowerName) -> Option<Asked> {
    let mut labels: Vec<String> = name
        .iter()
        .map(|label| String::from_utf8_lossy(label).into_owned())
        .collect();
    if labels.pop()? != ZONE {
        return None;
    }
    if labels.is_empty() {
        return Some(Asked::Apex);
    }
    if labels.last().map(String::as_str) == Some(DATACENTER) {
        labels.pop();
    }
    let asked = match labels.as_slice() {
        [] => Asked::Empty,
        [kind] if kind == "service" || kind == "addr" => Asked::Empty,
        // RFC 2782's `_<service>` alone: its records are under `_<tag>` below it.
        [service, kind] if kind == "service" && service.starts_with('_') => Asked::Empty,
        [service, tag, kind]
            if kind == "service" && service.starts_with('_') && tag.starts_with('_') =>
        {
            Asked::Service {
                service: service[1..].to_owned(),
                tag: Some(&tag[1..])
                    .filter(|tag| *tag != "tcp")
                    .map(str::to_owned),
            }
        }
        [service, kind] if kind == "service" => Asked::Service {
            service: service.clone(),
            tag: None,
        },
        [tag, service, kind] if kind == "service" => Asked::Service {
            service: service.clone(),
            tag: Some(tag.clone()),
        },
        [hex, kind] if kind == "addr" => match address(hex) {
            Some(ip) => Asked::Address(ip),
            None => Asked::Nothing,
        },
        _ => Asked::Nothing,
    };
    Some(asked)
}

/// The address written as hex digits in an `addr` name: 8 for IPv4, 32 for IPv6.
fn address(hex: &str) -> Option<IpAddr> {
    let value = u128::from_str_radix(hex, 16).ok()?;
    match hex.len() {
        8 => Some(IpAddr::V4(u32::try_from(value).ok()?.into())),
        32 => Some(IpAddr::V6(value.into())),
        _ => None,
    }
}

/// The `addr` name of `ip`, an SRV record's target: `7f000001.addr.dc1.consul.`.
fn address_name(ip: IpAddr) -> Name {
    let hex = match ip {
        IpAddr::V4(ip) => format!("{:08x}", u32::from(ip)),
        IpAddr::V6(ip) => format!("{:032x}", u128::from(ip)),
    };
    Name::from_ascii(format!("{hex}.addr.{DATACENTER}.{ZONE}."))
        .expect("hex digits and fixed labels make a name")
}

/// The address record of `ip` under `name`, if `qtype` asks for its family.
fn address_record(name: &Name, ip: IpAddr, qtype: RecordType, ttl: u32) -> Option<Record> {
    let rdata = match (ip, qtype) {
        (IpAddr::V4(ip), RecordType::A | RecordType::ANY) => RData::A(A(ip)),
        (IpAddr::V6(ip), RecordType::AAAA | RecordType::ANY) => RData::AAAA(AAAA(ip)),
        _ => return None,
    };
    Some(Record::from_rdata(name.clone(), ttl, rdata))
}

/// What an answer holds: its code and its three sections.
#[derive(Debug, Default)]
struct Answer {
    code: ResponseCode,
    answers: Vec<Record>,
    /// The zone's SOA, with an empty answer or NXDOMAIN.
    soa: Vec<Record>,
    additionals: Vec<Record>,
}

/// The DNS request handler: reads the registry through a view rebuilt when the catalog's
/// index moves (a lookup's answer is cached the same way, and a DNS answer must cost no
/// more than one: the bench's DNS figure compares it with a bare responder).
pub struct Responder {
    registry: Registry,
    catalog: tokio::sync::watch::Receiver<u64>,
    view: RwLock<Arc<View>>,
    ttl: u32,
}

impl Responder {
    pub fn new(registry: Registry, ttl: Duration) -> Responder {
        Responder {
            catalog: registry.store.catalog(),
            registry,
            view: RwLock::new(Arc::new(View {
                index: u64::MAX,
                ..View::default()
            })),
            ttl: u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX),
        }
    }

    /// The instances as of the catalog's current index.
    fn view(&self) -> Arc<View> {
        let index = *self.catalog.borrow();
        let view = self.view.read().clone();
        if view.index == index {
            return view;
        }
        let mut held = self.view.write();
        if held.index != index {
            *held = Arc::new(View::of(index, self.registry.store.instances().value));
        }
        held.clone()
    }

    /// The zone's SOA record: its serial is the catalog's index (low 32 bits), its
    /// negative-caching time the TTL.
    fn soa(&self, view: &View) -> Record {
        let zone = Name::from_ascii(format!("{ZONE}.")).expect("a fixed name");
        let soa = SOA::new(
            Name::from_ascii(format!("ns.{ZONE}.")).expect("a fixed name"),
            Name::from_ascii(format!("hostmaster.{ZONE}.")).expect("a fixed name"),
            view.index as u32,
            3600,
            600,
            86400,
            self.ttl,
        );
        Record::from_rdata(zone, self.ttl, RData::SOA(soa))
    }

    /// The answer to `qtype` for `name` (as asked: the records carry its case), with at
    /// most `most` records.
    fn answer(&self, name: &LowerName, asked_as: &Name, qtype: RecordType, most: usize) -> Answer {
        let Some(asked) = parse(name) else {
            return Answer {
                code: ResponseCode::Refused,
                ..Answer::default()
            };
        };
        if let Readiness::Unavailable(_) = self.registry.store.readiness() {
            return Answer {
                code: ResponseCode::ServFail,
                ..Answer::default()
            };
        }
        let view = self.view();
        let mut answer = Answer::default();
        match asked {
            Asked::Apex => {
                if matches!(qtype, RecordType::SOA | RecordType::ANY) {
                    answer.answers.push(self.soa(&view));
                }
            }
            Asked::Empty => {}
            Asked::Nothing => answer.code = ResponseCode::NXDomain,
            Asked::Address(ip) => {
                answer
                    .answers
                    .extend(address_record(asked_as, ip, qtype, self.ttl));
            }
            Asked::Service { service, tag } => {
                let tagged =
                    |entry: &&Entry| tag.as_ref().is_none_or(|tag| entry.tags.contains(tag));
                let Some(entries) = view.services.get(&service) else {
                    answer.code = ResponseCode::NXDomain;
                    answer.soa.push(self.soa(&view));
                    return answer;
                };
                if !entries.iter().any(|entry| tagged(&entry)) {
                    answer.code = ResponseCode::NXDomain;
                    answer.soa.push(self.soa(&view));
                    return answer;
                }
                let mut passing: Vec<&Entry> = entries
                    .iter()
                    .filter(|entry| entry.passing)
                    .filter(tagged)
                    .collect();
                fastrand::shuffle(&mut passing);
                // No more records than the answer can carry (a registry holds up to
                // 10,000 instances; a question must not cost building them all), and
                // each once: instances on one address give one A record (RFC 2181).
                let mut seen = std::collections::HashSet::new();
                for entry in passing {
                    if answer.answers.len() >= most {
                        break;
                    }
                    let key = match qtype {
                        RecordType::SRV => (Some(entry.port), &entry.host),
                        _ => (None, &entry.host),
                    };
                    if seen.insert(key) {
                        self.records(asked_as, entry, qtype, &mut answer);
                    }
                }
            }
        }
        // An absence, of the name or of records of this type, carries the zone's SOA,
        // so resolvers remember it no longer than the TTL (RFC 2308).
        if answer.answers.is_empty() && answer.soa.is_empty() {
            answer.soa.push(self.soa(&view));
        }
        answer
    }

    /// The records of one instance for `qtype`.
    fn records(&self, name: &Name, entry: &Entry, qtype: RecordType, answer: &mut Answer) {
        if qtype == RecordType::SRV {
            let target = match &entry.host {
                Host::Ip(ip) => {
                    let target = address_name(*ip);
                    if !answer
                        .additionals
                        .iter()
                        .any(|record| record.name == target)
                    {
                        answer.additionals.extend(address_record(
                            &target,
                            *ip,
                            RecordType::ANY,
                            self.ttl,
                        ));
                    }
                    target
                }
                Host::Name(host) => host.clone(),
            };
            answer.answers.push(Record::from_rdata(
                name.clone(),
                self.ttl,
                RData::SRV(SRV::new(1, 1, entry.port, target)),
            ));
        } else if let Host::Ip(ip) = entry.host {
            answer
                .answers
                .extend(address_record(name, ip, qtype, self.ttl));
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Responder {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let mut edns = None;
        if let Some(asked) = &request.edns {
            let mut ours = Edns::new();
            ours.set_max_payload(asked.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            ours.set_version(0);
            if asked.version() > 0 {
                metadata.response_code = ResponseCode::BADVERS;
            }
            edns = Some(ours);
        }
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let answer = match (request.metadata.op_code, request.queries.queries()) {
            _ if metadata.response_code != ResponseCode::NoError => Answer {
                code: metadata.response_code,
                ..Answer::default()
            },
            (OpCode::Query, [query])
                if matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) =>
            {
                // The smallest record (an A record, its name compressed) takes 16 bytes.
                let room = match request.protocol() {
                    hickory_server::net::xfer::Protocol::Udp => {
                        edns.as_ref().map_or(512, |edns| edns.max_payload())
                    }
                    _ => u16::MAX,
                };
                let most = usize::from(room) / 16 + 1;
                self.answer(
                    query.name(),
                    query.original().name(),
                    query.query_type(),
                    most,
                )
            }
            (OpCode::Query, [_]) => Answer {
                code: ResponseCode::Refused,
                ..Answer::default()
            },
            (OpCode::Query, _) => Answer {
                code: ResponseCode::FormErr,
                ..Answer::default()
            },
            _ => Answer {
                code: ResponseCode::NotImp,
                ..Answer::default()
            },
        };
        metadata.response_code = answer.code;
        metadata.authoritative =
            matches!(answer.code, ResponseCode::NoError | ResponseCode::NXDomain);
        crate::ops::metrics::global().dns_query(answer.code);
        let response = builder.build(
            metadata,
            answer.answers.iter(),
            [],
            answer.soa.iter(),
            answer.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(err) => {
                tracing::debug!(%err, "a DNS answer could not be sent");
                let mut failed = Metadata::response_from_request(&request.metadata);
                failed.response_code = ResponseCode::ServFail;
                ResponseInfo::from(hickory_server::proto::op::Header {
                    metadata: failed,
                    counts: Default::default(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_labels_as_documented() {
        assert_eq!(label("Test Service"), "test-service");
        assert_eq!(label("LogService"), "logservice");
        assert_eq!(label("Grading Service"), "grading-service");
        assert_eq!(label("  a__b  c "), "a-b-c");
        assert_eq!(label("Notendienst Ü"), "notendienst");
        assert_eq!(label("v2"), "v2");
    }

    fn asked(name: &str) -> Option<Asked> {
        parse(&LowerName::new(&Name::from_ascii(name).unwrap()))
    }

    #[test]
    fn names_in_the_zone_are_read_as_consul_reads_them() {
        let service = |service: &str, tag: Option<&str>| {
            Some(Asked::Service {
                service: service.into(),
                tag: tag.map(Into::into),
            })
        };
        assert_eq!(
            asked("logservice.service.consul."),
            service("logservice", None)
        );
        assert_eq!(
            asked("LogService.Service.CONSUL."),
            service("logservice", None)
        );
        assert_eq!(
            asked("logservice.service.dc1.consul."),
            service("logservice", None)
        );
        assert_eq!(
            asked("primary.logservice.service.consul."),
            service("logservice", Some("primary"))
        );
        assert_eq!(
            asked("_logservice._tcp.service.consul."),
            service("logservice", None)
        );
        assert_eq!(
            asked("_logservice._primary.service.consul."),
            service("logservice", Some("primary"))
        );
        assert_eq!(
            asked("7f000001.addr.dc1.consul."),
            Some(Asked::Address("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(asked("7f0001.addr.consul."), Some(Asked::Nothing));
        assert_eq!(asked("consul."), Some(Asked::Apex));
        for empty in [
            "service.consul.",
            "service.dc1.consul.",
            "addr.dc1.consul.",
            "dc1.consul.",
            "_logservice.service.consul.",
        ] {
            assert_eq!(asked(empty), Some(Asked::Empty), "{empty}");
        }
        assert_eq!(asked("logservice.node.consul."), Some(Asked::Nothing));
        assert_eq!(asked("example.com."), None);
        assert_eq!(asked("consul.example.com."), None);
    }

    #[test]
    fn an_address_name_reads_back_as_its_address() {
        for ip in ["127.0.0.1", "10.1.2.3", "::1", "fd00::17"] {
            let ip: IpAddr = ip.parse().unwrap();
            let name = address_name(ip);
            let lower = LowerName::new(&name);
            assert_eq!(parse(&lower), Some(Asked::Address(ip)), "{name}");
        }
    }
}
