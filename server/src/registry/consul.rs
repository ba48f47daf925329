//! The read side of a Consul-compatible catalog, so that Consul's clients (Prometheus'
//! `consul_sd_configs`, watchers in the style of `consul-template`, Consul client
//! libraries) read the registry as if it were Consul. Writes stay our protocol's.
//!
//! | call | answer |
//! | --- | --- |
//! | `GET /v1/agent/self` | the datacenter (`dc1`) and this node |
//! | `GET /v1/catalog/services` | every service's name and the union of its instances' tags |
//! | `GET /v1/catalog/service/{name}` | each instance of `name` (`?tag=`) |
//! | `GET /v1/health/service/{name}` | each instance with its node and checks (`?passing`, `?tag=`) |
//!
//! The catalog is this node, holding every instance: `Service.ID` is the `ServiceURL`,
//! `Service.Address` and `Service.Port` its host and port. Each instance has Consul's node
//! check (`serfHealth`, passing while the node answers) and its own, passing or critical
//! as the registry's checks say.
//!
//! Every answer carries `X-Consul-Index`: the revision of the registry's last change to
//! its instances (a registration, a departure, a status change; not a check that changed
//! nothing), never 0 and never going back on one node (nodes of a cluster may differ a
//! little: a client that moves to another node may see it go back, and resets, as
//! Consul's clients do). At most [`MAX_HELD`] queries are held at once. A blocking query (`?index=N&wait=…`) is held
//! until that index passes `N` or the wait ends (default 5 minutes, at most 10, plus up
//! to a sixteenth of it at random, as Consul spreads its wake-ups), then answered.
//! `X-Consul-Token` is taken as the token ([`crate::http::token`]).
//!
//! An answer's JSON is kept until the catalog's index moves ([`Answers`]): a client that
//! polls a service's health asks the same question again and again, and making the
//! answer anew each time held it to a third of our own lookup's rate. A check's `Output`
//! is therefore the last check's result as of the latest change, not of the latest round.

use std::{collections::BTreeMap, collections::HashMap, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
};
use wire::{
    consul::{
        AgentService, CatalogService, CheckStatus, HealthCheck, INDEX_HEADER, Node, ServiceEntry,
        Weights,
    },
    registry::{InstanceInfo, Status},
};

use super::{Registry, store::Readiness};
use crate::http::error::ApiError;

/// The datacenter the catalog says it is, Consul's default.
pub const DATACENTER: &str = "dc1";
/// A blocking query's wait when it names none (or 0), and the longest it may name
/// (Consul's).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
pub const MAX_WAIT: Duration = Duration::from_secs(10 * 60);
/// The most blocking queries a node holds at once; one more is answered at once (its
/// client asks again). Each held query is a connection and, at each change, a fresh copy
/// of the instances: without a bound, anyone who can read the registry could pile them
/// up until every change costs the node thousands of copies.
pub const MAX_HELD: usize = 1024;

/// The most answers kept for one index, and the most bytes they take: questions about
/// as many services (and tag sets) at once. One more is answered, not kept, so that
/// asking many questions cannot grow the node's memory (an answer about 10,000 instances
/// is megabytes). An empty answer (a made-up name) is never kept: it is cheap to make,
/// and would take the room of real ones.
pub const MAX_KEPT: usize = 256;
pub const MAX_KEPT_BYTES: usize = 32 * 1024 * 1024;

/// Which call an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Call {
    Services,
    Service,
    Health,
}

/// What an answer depends on besides the index: the call, the service's name, `?passing`
/// and the tags asked for (sorted).
type Question = (Call, String, bool, Vec<String>);

/// The catalog's answers as of one index, as JSON.
#[derive(Debug, Default)]
pub struct Answers {
    kept: parking_lot::RwLock<(u64, HashMap<Question, Bytes>)>,
}

impl Answers {
    /// The answer to `question` at `index`: the one kept, or `make`'s, kept if there is
    /// room.
    fn answer(&self, index: u64, question: Question, make: impl FnOnce() -> Vec<u8>) -> Bytes {
        {
            let kept = self.kept.read();
            if kept.0 == index
                && let Some(answer) = kept.1.get(&question)
            {
                return answer.clone();
            }
        }
        let answer = Bytes::from(make());
        let mut kept = self.kept.write();
        if kept.0 != index {
            // Only a later index replaces the kept ones: a query answered with an older
            // index (held before a change) must not throw away the newer answers.
            if index < kept.0 {
                return answer;
            }
            *kept = (index, HashMap::new());
        }
        let bytes: usize = kept.1.values().map(Bytes::len).sum();
        if kept.1.len() < MAX_KEPT && bytes + answer.len() <= MAX_KEPT_BYTES && &answer[..] != b"[]"
        {
            kept.1.insert(question, answer.clone());
        }
        answer
    }
}

/// A JSON answer: the Consul headers and `body`.
fn json(headers: HeaderMap, body: Bytes) -> Response {
    (
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// What a query asks, read as Consul reads it: `?passing` with or without a value,
/// `?tag=` as often as given; parameters Consul takes that change nothing here (`dc`,
/// `stale`, `consistent`, `cached`, `near`, `node-meta`) are read past.
#[derive(Debug, Default, PartialEq)]
pub struct Ask {
    index: Option<u64>,
    wait: Option<Duration>,
    passing: bool,
    tags: Vec<String>,
}

impl Ask {
    /// # Errors
    /// An `index` or `wait` that is not one, or a `passing` that is not a boolean.
    pub fn parse(query: Option<&str>) -> Result<Ask, ApiError> {
        let mut ask = Ask::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*key {
                "index" => {
                    ask.index = Some(value.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "index must be a blocking query's index (a whole number), not {value:?}"
                        ))
                    })?);
                }
                "wait" => {
                    let wait = humantime::parse_duration(&value).map_err(|_| {
                        ApiError::bad_request(format!(
                            "wait must be a duration such as 30s or 5m, not {value:?}"
                        ))
                    })?;
                    ask.wait = Some(wait);
                }
                "passing" => {
                    // What Go's strconv.ParseBool takes, and a bare `?passing`.
                    ask.passing = match &*value {
                        "" | "1" | "t" | "T" | "true" | "True" | "TRUE" => true,
                        "0" | "f" | "F" | "false" | "False" | "FALSE" => false,
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "passing must be true or false, not {other:?}"
                            )));
                        }
                    }
                }
                "tag" => {
                    if !ask.tags.iter().any(|tag| *tag == value) {
                        ask.tags.push(value.into_owned());
                    }
                    if ask.tags.len() > super::validate::MAX_TAGS {
                        return Err(ApiError::bad_request(format!(
                            "at most {} tags can be asked for, as an instance carries",
                            super::validate::MAX_TAGS
                        )));
                    }
                }
                // Answering everything to a filter we do not apply would be a wrong answer.
                "filter" => {
                    return Err(ApiError::bad_request(
                        "filter expressions are not supported here; use ?tag= and ?passing",
                    ));
                }
                _ => {}
            }
        }
        Ok(ask)
    }

    /// How long a blocking query may be held: its wait (at most [`MAX_WAIT`]) and up to
    /// a sixteenth more.
    fn hold(&self) -> Duration {
        let wait = match self.wait {
            None | Some(Duration::ZERO) => DEFAULT_WAIT,
            Some(wait) => wait.min(MAX_WAIT),
        };
        let jitter = wait.as_millis() as u64 / 16;
        let jitter = if jitter == 0 {
            0
        } else {
            fastrand::u64(..jitter)
        };
        wait + Duration::from_millis(jitter)
    }

    /// The tags asked for, sorted: the same question in another order.
    fn sorted_tags(&self) -> Vec<String> {
        let mut tags = self.tags.clone();
        tags.sort_unstable();
        tags
    }

    /// Whether `instance` has every tag asked for.
    fn tagged(&self, instance: &InstanceInfo) -> bool {
        self.tags
            .iter()
            .all(|tag| instance.registration.tags.contains(tag))
    }
}

/// What every catalog call does before it answers: reads the query, refuses to answer
/// from no state at all (503), and holds a blocking query. The query and the index to
/// answer with.
async fn read(registry: &Registry, query: Option<&str>) -> Result<(Ask, u64), ApiError> {
    let ask = Ask::parse(query)?;
    super::http::staleness(&*registry.store)?;
    let index = blocked(registry, &ask).await;
    Ok((ask, index))
}

/// Waits, for a blocking query, until the catalog's index passes the one asked about or
/// the wait ends; the index to answer with.
async fn blocked(registry: &Registry, ask: &Ask) -> u64 {
    let mut catalog = registry.store.catalog();
    let now = *catalog.borrow_and_update();
    // As Consul: answered at once unless the client has seen this index already (or,
    // from another node, a later one); then held until the index passes it.
    let Some(seen) = ask.index.filter(|seen| *seen > 0 && *seen >= now) else {
        return now;
    };
    let Ok(_held) = registry.held_queries.try_acquire() else {
        return now;
    };
    let _counted = Held::count();
    // Answered early when the registry stops, as its event streams end: a held query
    // must not hold up the drain at shutdown.
    let passed = tokio::select! {
        passed = tokio::time::timeout(ask.hold(), catalog.wait_for(|index| *index > seen)) => {
            passed.ok().and_then(Result::ok).map(|index| *index)
        }
        () = registry.shutdown.cancelled() => None,
    };
    passed.unwrap_or_else(|| *catalog.borrow())
}

/// A held query, counted in `registry_consul_queries_held` while it lives.
struct Held;

impl Held {
    fn count() -> Held {
        crate::ops::metrics::global().consul_queries_held.inc();
        Held
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        crate::ops::metrics::global().consul_queries_held.dec();
    }
}

/// `X-Consul-Index` and the headers Consul's Go client requires on every answer (it
/// refuses one without `X-Consul-LastContact`): how far behind this node's state may be,
/// as Consul says of a server that lost its leader. Read after any hold, so a node that
/// lost etcd meanwhile answers 503 rather than a state it cannot vouch for.
fn consul_headers(registry: &Registry, index: u64) -> Result<HeaderMap, ApiError> {
    let (known_leader, last_contact_ms) = match registry.store.readiness() {
        Readiness::Ready => (true, 0),
        Readiness::Stale { seconds, .. } => (false, seconds.saturating_mul(1000)),
        Readiness::Unavailable(reason) => return Err(ApiError::unavailable(reason)),
    };
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(HeaderName::from_static(INDEX_HEADER), index.max(1).into());
    headers.insert(
        HeaderName::from_static("x-consul-knownleader"),
        HeaderValue::from_static(if known_leader { "true" } else { "false" }),
    );
    headers.insert(
        HeaderName::from_static("x-consul-lastcontact"),
        last_contact_ms.into(),
    );
    Ok(headers)
}

/// `value` as JSON (our own types, which always serialize).
fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("the catalog's types serialize")
}

/// This node, as the catalog's one node.
fn node(registry: &Registry) -> Node {
    let url = registry.node.public_url();
    let parsed = reqwest::Url::parse(url).ok();
    let address = parsed
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or("127.0.0.1")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = parsed
        .as_ref()
        .map(|u| match u.port_or_known_default() {
            Some(port) => format!("registry-{}-{port}", address.replace([':', '.'], "-")),
            None => format!("registry-{}", address.replace([':', '.'], "-")),
        })
        .unwrap_or_else(|| "registry".into());
    Node {
        id: String::new(),
        node: name,
        address: address.clone(),
        datacenter: DATACENTER.into(),
        tagged_addresses: BTreeMap::from([("lan".into(), address)]),
        meta: BTreeMap::from([("registry-url".into(), url.to_owned())]),
        create_index: 1,
        modify_index: 1,
    }
}

/// The host (without brackets) and port of an instance's URL.
fn host_port(url: &str) -> (String, u16) {
    let Ok(url) = reqwest::Url::parse(url) else {
        return (String::new(), 0);
    };
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    (host, url.port_or_known_default().unwrap_or(0))
}

/// `GET /v1/agent/self`: enough for a client to learn its datacenter.
pub async fn agent_self(State(registry): State<Registry>) -> Response {
    let node = node(&registry);
    let body = serde_json::json!({
        "Config": {
            "Datacenter": DATACENTER,
            "PrimaryDatacenter": DATACENTER,
            "NodeName": node.node,
            "NodeID": "",
            "Server": true,
            "Version": env!("CARGO_PKG_VERSION"),
        },
        "Member": {"Name": node.node, "Addr": node.address, "Status": 1, "Tags": {"dc": DATACENTER}},
        "Meta": node.meta,
    });
    let index = *registry.store.catalog().borrow();
    match consul_headers(&registry, index) {
        Ok(headers) => (headers, Json(body)).into_response(),
        Err(err) => err.into_response(),
    }
}

/// `GET /v1/catalog/services`: every service and the tags its instances carry.
pub async fn catalog_services(
    State(registry): State<Registry>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (_, index) = read(&registry, query.as_deref()).await?;
    let question = (Call::Services, String::new(), false, Vec::new());
    let body = registry.consul_answers.answer(index, question, || {
        let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for instance in registry.store.instances().value {
            let tags = services
                .entry(instance.registration.service_name.clone())
                .or_default();
            for tag in instance.registration.tags {
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
        to_json(&services)
    });
    Ok(json(consul_headers(&registry, index)?, body))
}

/// The instances of `name` with every tag `ask` names (and passing, if it asks so: not
/// flapping either, as Consul's `passing` leaves out a check that is `warning`).
fn instances_of(registry: &Registry, name: &str, ask: &Ask) -> Vec<InstanceInfo> {
    registry
        .store
        .instances()
        .value
        .into_iter()
        .filter(|instance| {
            instance.registration.service_name == name
                && ask.tagged(instance)
                && (!ask.passing || instance.discoverable())
        })
        .collect()
}

/// `GET /v1/catalog/service/{name}`.
pub async fn catalog_service(
    State(registry): State<Registry>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (ask, index) = read(&registry, query.as_deref()).await?;
    let question = (Call::Service, name.clone(), false, ask.sorted_tags());
    let body = registry.consul_answers.answer(index, question, || {
        to_json(&catalog_entries(&registry, &name, ask, index))
    });
    Ok(json(consul_headers(&registry, index)?, body))
}

/// The instances of `name` (with the tags `ask` names) as `/v1/catalog/service` gives them.
fn catalog_entries(registry: &Registry, name: &str, ask: Ask, index: u64) -> Vec<CatalogService> {
    let node = node(registry);
    instances_of(
        registry,
        name,
        &Ask {
            passing: false,
            ..ask
        },
    )
    .into_iter()
    .map(|instance| {
        let reg = instance.registration;
        let (address, port) = host_port(&reg.service_url);
        CatalogService {
            id: node.id.clone(),
            node: node.node.clone(),
            address: node.address.clone(),
            datacenter: DATACENTER.into(),
            tagged_addresses: node.tagged_addresses.clone(),
            node_meta: node.meta.clone(),
            service_id: reg.service_url,
            service_name: reg.service_name,
            service_address: address,
            service_tags: reg.tags,
            service_meta: reg.meta,
            service_port: port,
            service_weights: Weights::default(),
            service_enable_tag_override: false,
            create_index: index.max(1),
            modify_index: index.max(1),
        }
    })
    .collect()
}

/// `GET /v1/health/service/{name}`.
pub async fn health_service(
    State(registry): State<Registry>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (ask, index) = read(&registry, query.as_deref()).await?;
    let question = (Call::Health, name.clone(), ask.passing, ask.sorted_tags());
    let body = registry.consul_answers.answer(index, question, || {
        let node = node(&registry);
        let entries: Vec<ServiceEntry> = instances_of(&registry, &name, &ask)
            .into_iter()
            .map(|instance| entry(&node, instance, index.max(1)))
            .collect();
        to_json(&entries)
    });
    Ok(json(consul_headers(&registry, index)?, body))
}

/// One instance as `/v1/health/service` gives it.
fn entry(node: &Node, instance: InstanceInfo, index: u64) -> ServiceEntry {
    let reg = instance.registration;
    let (address, port) = host_port(&reg.service_url);
    // A flapping instance passes its checks but is held out of discovery: `warning`.
    let status = match (instance.status, instance.flapping) {
        (Status::Critical, _) => CheckStatus::Critical,
        (Status::Passing, true) => CheckStatus::Warning,
        (Status::Passing, false) => CheckStatus::Passing,
    };
    let output = instance
        .recent_checks
        .last()
        .map(|check| match &check.error {
            Some(error) => error.clone(),
            None if instance.flapping => {
                "passing, but flapping: held out of discovery until it passes for a whole \
                 --flap-window"
                    .to_owned()
            }
            None if check.ok => "passing".to_owned(),
            None => "failing".to_owned(),
        })
        .unwrap_or_default();
    let checks = vec![
        HealthCheck {
            node: node.node.clone(),
            check_id: "serfHealth".into(),
            name: "Serf Health Status".into(),
            status: CheckStatus::Passing,
            notes: String::new(),
            output: "Agent alive and reachable".into(),
            service_id: String::new(),
            service_name: String::new(),
            service_tags: Vec::new(),
            r#type: String::new(),
            create_index: 1,
            modify_index: 1,
        },
        HealthCheck {
            node: node.node.clone(),
            check_id: format!("service:{}", reg.service_url),
            name: format!("Service '{}' check", reg.service_name),
            status,
            notes: String::new(),
            output,
            service_id: reg.service_url.clone(),
            service_name: reg.service_name.clone(),
            service_tags: reg.tags.clone(),
            r#type: if reg.ttl.is_some() { "ttl" } else { "http" }.into(),
            create_index: index,
            modify_index: index,
        },
    ];
    ServiceEntry {
        node: node.clone(),
        service: AgentService {
            id: reg.service_url,
            service: reg.service_name,
            tags: reg.tags,
            meta: reg.meta,
            port,
            address,
            weights: Weights::default(),
            enable_tag_override: false,
            create_index: index,
            modify_index: index,
        },
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_for_their_index_and_no_more_than_max_kept() {
        let answers = Answers::default();
        let question = |name: &str| (Call::Health, name.to_owned(), true, Vec::new());
        let made = std::cell::Cell::new(0);
        let make = |text: &'static str| {
            made.set(made.get() + 1);
            text.as_bytes().to_vec()
        };
        assert_eq!(answers.answer(5, question("a"), || make("one")), "one");
        assert_eq!(
            answers.answer(5, question("a"), || make("two")),
            "one",
            "kept"
        );
        assert_eq!(made.get(), 1);
        assert_eq!(
            answers.answer(6, question("a"), || make("three")),
            "three",
            "a new index"
        );
        assert_eq!(
            answers.answer(5, question("a"), || make("old")),
            "old",
            "an older index is answered, not kept"
        );
        assert_eq!(answers.answer(6, question("a"), || make("four")), "three");
        for n in 0..MAX_KEPT * 2 {
            answers.answer(6, question(&n.to_string()), || make("x"));
        }
        assert_eq!(
            answers.kept.read().1.len(),
            MAX_KEPT,
            "made-up names do not grow it"
        );
    }

    #[test]
    fn a_query_is_read_as_consul_reads_it() {
        let ask = Ask::parse(Some(
            "index=42&wait=120000ms&passing&tag=a&tag=b&stale=&dc=dc1",
        ))
        .unwrap();
        assert_eq!(
            ask,
            Ask {
                index: Some(42),
                wait: Some(Duration::from_secs(120)),
                passing: true,
                tags: vec!["a".into(), "b".into()],
            }
        );
        assert!(!Ask::parse(Some("passing=false")).unwrap().passing);
        assert!(Ask::parse(Some("passing=t")).unwrap().passing);
        assert_eq!(Ask::parse(Some("tag=a&tag=a")).unwrap().tags, ["a"]);
        let many: String = (0..=32).map(|n| format!("tag=t{n}&")).collect();
        assert!(
            Ask::parse(Some(&many)).is_err(),
            "more tags than an instance has"
        );
        assert!(Ask::parse(Some("filter=Service.Tags%20contains%20%22a%22")).is_err());
        assert!(Ask::parse(Some("index=x")).is_err());
        assert!(Ask::parse(Some("wait=soon")).is_err());
        assert!(Ask::parse(Some("passing=maybe")).is_err());
        assert_eq!(Ask::parse(None).unwrap(), Ask::default());
    }

    #[test]
    fn a_wait_is_held_at_most_ten_minutes_and_a_sixteenth() {
        for wait in ["1s", "5m", "1h"] {
            let ask = Ask::parse(Some(&format!("wait={wait}"))).unwrap();
            let asked = humantime::parse_duration(wait).unwrap().min(MAX_WAIT);
            let held = ask.hold();
            assert!(
                held >= asked && held <= asked + asked / 16,
                "{wait}: {held:?}"
            );
        }
        for ask in [Ask::default(), Ask::parse(Some("wait=0s")).unwrap()] {
            let held = ask.hold();
            assert!(held >= DEFAULT_WAIT && held <= DEFAULT_WAIT + DEFAULT_WAIT / 16);
        }
    }
}
