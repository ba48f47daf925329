//! The registry's wire types: what a service registers, the patches the registry pushes
//! to dependents, what `GET /services` lists, and the live events it streams.
//!
//! `Registration`, `PatchEntry` and `Patch` are the original's types, field for field;
//! `TTL`, `Tags`, `Meta` and everything below [`Patch`] are this project's extensions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The name the log service registers under, as the original's.
pub const LOG_SERVICE: &str = "LogService";
/// The name the grading service registers under, as the original's.
pub const GRADING_SERVICE: &str = "GradingService";
/// The name the teacher portal registers under.
pub const PORTAL: &str = "Portal";
/// The name each node of an etcd-backed registry lists itself under.
pub const REGISTRY: &str = "Registry";

/// A service instance's registration: `POST /services` carries one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Registration {
    /// Logical name, e.g. `LogService`; many instances may share it.
    #[serde(rename = "ServiceName", default)]
    pub service_name: String,
    /// Base URL of this instance; it is the instance's identity.
    #[serde(rename = "ServiceURL", default)]
    pub service_url: String,
    /// Names of the services this one depends on.
    #[serde(rename = "RequiredServices", default)]
    pub required_services: Vec<String>,
    /// Where the registry POSTs patches for this instance; empty for none.
    #[serde(rename = "ServiceUpdateURL", default)]
    pub service_update_url: String,
    /// What the registry GETs to check this instance; empty for none.
    #[serde(rename = "HeartbeatURL", default)]
    pub heartbeat_url: String,
    /// Extension: instead of a heartbeat URL, the instance renews itself (`PUT /services`)
    /// at least this often, e.g. `"10s"`.
    #[serde(rename = "TTL", default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Extension: labels of this instance, such as `primary` or `v2`, as Consul's tags:
    /// shown with it, and what discovery can be narrowed by.
    #[serde(rename = "Tags", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Extension: key/value metadata of this instance, as Consul's `Meta`.
    #[serde(rename = "Meta", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

crate::go_json!(
    Registration,
    &[
        "ServiceName",
        "ServiceURL",
        "RequiredServices",
        "ServiceUpdateURL",
        "HeartbeatURL",
        "TTL",
        "Tags",
        "Meta",
    ]
);

/// One instance in a patch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct PatchEntry {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "URL", default)]
    pub url: String,
}

crate::go_json!(PatchEntry, &["Name", "URL"]);

/// The header on our registry's patches that says which kind each is: [`PATCH_FULL`] (the
/// whole view, sent after each registration) or [`PATCH_DELTA`] (changes to it). The
/// original sends no such header; a service then takes the first patch after registering
/// as the full view.
pub const PATCH_KIND_HEADER: &str = "registry-patch";
/// [`PATCH_KIND_HEADER`]'s value on a full view.
pub const PATCH_FULL: &str = "full";
/// [`PATCH_KIND_HEADER`]'s value on a change to the view.
pub const PATCH_DELTA: &str = "delta";
/// The header on our registry's patches that orders them: `<epoch>.<sequence>`, the
/// epoch of the sender (a cluster leader's term, a registry's start) and the patch's place
/// among its sends. A patch ordered before one already applied is older, delayed on the
/// way (a slow dependent, a dead leader's last send): our runtime drops it. The original
/// neither sends nor reads it.
pub const PATCH_ORDER_HEADER: &str = "registry-patch-order";

/// The header on our registry's listings and lookups: the revision of the registry's
/// state the answer reflects, the same number as the id of the live event that made it so.
/// Two answers at the same revision are the same answer.
pub const REVISION_HEADER: &str = "registry-revision";

/// The header on our registry's `GET /history` pages: the revision of the registry's state
/// the node had applied when it read them (for a cluster's node, etcd's revision, which a
/// change that makes no event moves too). The page holds every change up to it; a node
/// whose history failed to write while it read the page (or fails) sends no header.
pub const APPLIED_HEADER: &str = "registry-applied";

/// The header on a registry node's listings and lookups while its replicated state is out
/// of reach: how many seconds ago the node last heard from its replicated store. The answer
/// may be behind.
pub const STALE_HEADER: &str = "registry-stale";

/// What the registry POSTs to a dependent's update URL: instances that appeared and
/// instances that went away. The original may send `null` for an empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Patch {
    #[serde(rename = "Added", default)]
    pub added: Vec<PatchEntry>,
    #[serde(rename = "Removed", default)]
    pub removed: Vec<PatchEntry>,
}

crate::go_json!(Patch, &["Added", "Removed"]);

impl Patch {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Whether an instance takes part in discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Registered and healthy: listed to dependents.
    Passing,
    /// Failing its heartbeats or late with its renewals: withheld from dependents
    /// until it recovers or is dropped.
    Critical,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passing => "passing",
            Status::Critical => "critical",
        }
    }
}

/// The outcome of one heartbeat check (or TTL renewal) of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The instance's `ServiceURL`.
    #[serde(rename = "URL")]
    pub url: String,
    /// When the check finished (RFC 3339, UTC).
    #[serde(rename = "At")]
    pub at: String,
    #[serde(rename = "Ok")]
    pub ok: bool,
    /// Round-trip time of the check; absent for renewals.
    #[serde(rename = "LatencyMs", default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why the check failed, for a failed one.
    #[serde(rename = "Error", default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One instance as `GET /services` lists it: its registration and its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    #[serde(flatten)]
    pub registration: Registration,
    #[serde(rename = "Status")]
    pub status: Status,
    /// When it (last) registered (RFC 3339, UTC).
    #[serde(rename = "RegisteredAt")]
    pub registered_at: String,
    /// When it was last checked or renewed (RFC 3339, UTC).
    #[serde(rename = "LastCheckAt", default)]
    pub last_check_at: Option<String>,
    /// Round-trip time of the last heartbeat check.
    #[serde(rename = "LastLatencyMs", default)]
    pub last_latency_ms: Option<f64>,
    #[serde(rename = "ConsecutiveFailures", default)]
    pub consecutive_failures: u32,
    /// The latest check results, oldest first (left out of lookups by name).
    #[serde(
        rename = "RecentChecks",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub recent_checks: Vec<CheckResult>,
    /// Its status changed `--flap-threshold` times within `--flap-window`: it is held out
    /// of discovery until it has passed for a whole window. Written only when true.
    #[serde(rename = "Flapping", default, skip_serializing_if = "is_false")]
    pub flapping: bool,
}

impl InstanceInfo {
    /// Whether discovery gives it out: passing, and not flapping.
    pub fn discoverable(&self) -> bool {
        self.status == Status::Passing && !self.flapping
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Why an instance left the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaveReason {
    /// It deregistered (`DELETE /services`).
    Deregistered,
    /// It stayed critical for longer than the registry's `--deregister-after`.
    Expired,
}

/// An event of the registry's live stream (`GET /services`, `Accept: text/event-stream`).
/// The SSE event name is the variant's name in snake case, the SSE id its revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Type", rename_all = "snake_case")]
pub enum RegistryEvent {
    /// Every instance as of `Revision`: the start of a stream, or a fresh start after a
    /// gap the registry no longer retains.
    Snapshot {
        #[serde(rename = "Revision")]
        revision: u64,
        #[serde(rename = "Instances")]
        instances: Vec<InstanceInfo>,
    },
    /// An instance registered, or registered again (its entry replaced). Boxed: an
    /// instance with its tags and metadata is many times the size of the other events.
    Registered {
        #[serde(rename = "Revision")]
        revision: u64,
        #[serde(rename = "Instance")]
        instance: Box<InstanceInfo>,
    },
    /// An instance left.
    Deregistered {
        #[serde(rename = "Revision")]
        revision: u64,
        #[serde(rename = "URL")]
        url: String,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Reason")]
        reason: LeaveReason,
    },
    /// An instance went critical or recovered.
    StatusChanged {
        #[serde(rename = "Revision")]
        revision: u64,
        #[serde(rename = "URL")]
        url: String,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Status")]
        status: Status,
    },
    /// The results of one round of heartbeat checks, coalesced into one event.
    Heartbeats {
        #[serde(rename = "Revision")]
        revision: u64,
        #[serde(rename = "Results")]
        results: Vec<CheckResult>,
    },
    /// An instance began flapping (held out of discovery), or passed for a whole
    /// `--flap-window` since (given out again).
    Flapping {
        #[serde(rename = "Revision")]
        revision: u64,
        #[serde(rename = "URL")]
        url: String,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Flapping")]
        flapping: bool,
    },
}

impl RegistryEvent {
    pub fn revision(&self) -> u64 {
        match self {
            RegistryEvent::Snapshot { revision, .. }
            | RegistryEvent::Registered { revision, .. }
            | RegistryEvent::Deregistered { revision, .. }
            | RegistryEvent::StatusChanged { revision, .. }
            | RegistryEvent::Heartbeats { revision, .. }
            | RegistryEvent::Flapping { revision, .. } => *revision,
        }
    }

    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            RegistryEvent::Snapshot { .. } => "snapshot",
            RegistryEvent::Registered { .. } => "registered",
            RegistryEvent::Deregistered { .. } => "deregistered",
            RegistryEvent::StatusChanged { .. } => "status_changed",
            RegistryEvent::Heartbeats { .. } => "heartbeats",
            RegistryEvent::Flapping { .. } => "flapping",
        }
    }
}

/// What a change recorded in the registry's history was (`GET /history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// The registry (one node, its state in memory) started with no instances: those of
    /// its last run register again.
    Started,
    /// An instance registered, or registered again (its entry replaced).
    Registered,
    /// An instance deregistered (`DELETE /services`).
    Deregistered,
    /// An instance went critical or recovered; the reason says why.
    StatusChanged,
    /// A TTL instance's renewal ran out: it went critical.
    Expired,
    /// An instance stayed critical for longer than `--deregister-after`: removed.
    Dropped,
    /// The history could not be written for a while (a full disk, say): changes between
    /// the event before and this one are missing, and the listing is whole again here.
    Gap,
    /// An instance's status changed `--flap-threshold` times within `--flap-window`: held
    /// out of discovery.
    Flapping,
    /// A flapping instance passed for a whole `--flap-window`: given out again.
    Steady,
}

impl HistoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Started => "started",
            HistoryKind::Registered => "registered",
            HistoryKind::Deregistered => "deregistered",
            HistoryKind::StatusChanged => "status_changed",
            HistoryKind::Expired => "expired",
            HistoryKind::Dropped => "dropped",
            HistoryKind::Gap => "gap",
            HistoryKind::Flapping => "flapping",
            HistoryKind::Steady => "steady",
        }
    }
}

/// One change in the registry's history, as `GET /history` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Its id, the live event stream's id of the same change (`<revision>.<index>`).
    #[serde(rename = "Id", default)]
    pub id: String,
    /// When it happened (RFC 3339, UTC, microseconds).
    #[serde(rename = "At", default)]
    pub at: String,
    #[serde(rename = "Kind")]
    pub kind: HistoryKind,
    /// The instance's service (empty for `started` and `gap`).
    #[serde(rename = "Service", default)]
    pub service: String,
    /// The instance's `ServiceURL` (empty for `started` and `gap`).
    #[serde(rename = "Instance", default)]
    pub instance: String,
    /// Its status after the change, when it has one.
    #[serde(rename = "Status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Why, in words.
    #[serde(rename = "Reason", default)]
    pub reason: String,
    /// What it registered with (`registered` only).
    #[serde(
        rename = "Registration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub registration: Option<Registration>,
    /// When it registered (`registered` only), if not at `At`: a cluster's node records a
    /// change no earlier than the one before, though its registration may have been
    /// stamped a little earlier on another node.
    #[serde(
        rename = "RegisteredAt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub registered_at: Option<String>,
}

/// One page of `GET /history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// The events, oldest first.
    #[serde(rename = "Events")]
    pub events: Vec<HistoryEvent>,
    /// Where the next page starts (pass it as `from`), when there is more to read.
    #[serde(rename = "Next", default)]
    pub next: Option<String>,
}

/// A stretch of time an instance was not passing (`GET /history/availability`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownInterval {
    #[serde(rename = "From")]
    pub from: String,
    #[serde(rename = "To")]
    pub to: String,
    /// `critical`, or `absent` (not registered).
    #[serde(rename = "State")]
    pub state: String,
}

/// How one instance did over a stretch of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceAvailability {
    #[serde(rename = "Instance")]
    pub instance: String,
    /// Its share of the stretch spent passing, from 0 to 1.
    #[serde(rename = "Passing")]
    pub passing: f64,
    #[serde(rename = "PassingSeconds")]
    pub passing_seconds: f64,
    /// When it was not passing, oldest first: the latest 100.
    #[serde(rename = "Down")]
    pub down: Vec<DownInterval>,
    /// How many stretches down came before those listed.
    #[serde(rename = "DownOmitted", default, skip_serializing_if = "is_zero")]
    pub down_omitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `GET /history/availability`: each instance of a service over a stretch of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    #[serde(rename = "Service")]
    pub service: String,
    #[serde(rename = "From")]
    pub from: String,
    #[serde(rename = "To")]
    pub to: String,
    #[serde(rename = "Instances")]
    pub instances: Vec<InstanceAvailability>,
    /// More than 10,000 instances came and went in the stretch: the first seen are listed.
    #[serde(rename = "Incomplete", default, skip_serializing_if = "is_false")]
    pub incomplete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_keys_match_case_insensitively_like_go() {
        let reg: Registration = serde_json::from_str(
            r#"{"serviceName":"Test Service","serviceURL":"http://localhost:5000",
                "requiredservices":["LogService"],"HEARTBEATURL":"http://localhost:5000/heartbeat",
                "Unknown":1}"#,
        )
        .unwrap();
        assert_eq!(reg.service_name, "Test Service");
        assert_eq!(reg.service_url, "http://localhost:5000");
        assert_eq!(reg.required_services, vec!["LogService"]);
        assert_eq!(reg.heartbeat_url, "http://localhost:5000/heartbeat");
        assert_eq!(reg.service_update_url, "");
        assert_eq!(reg.ttl, None);
    }

    #[test]
    fn an_exact_key_and_a_later_duplicate_win_and_null_is_ignored() {
        let reg: Registration = serde_json::from_str(
            r#"{"servicename":"a","ServiceName":"b","RequiredServices":null,"ServiceURL":"u"}"#,
        )
        .unwrap();
        assert_eq!(reg.service_name, "b");
        assert!(reg.required_services.is_empty());
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let err = serde_json::from_str::<Registration>(r#"{"ServiceName":5}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("ServiceName: invalid type"),
            "{err}"
        );
        let err = serde_json::from_str::<Registration>("[1]").unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
        let err = serde_json::from_str::<Registration>(r#"{"ServiceName":"a""#).unwrap_err();
        assert!(err.is_eof(), "{err}");
    }

    #[test]
    fn registration_serializes_with_go_names() {
        let reg = Registration {
            service_name: "LogService".into(),
            service_url: "http://localhost:4000".into(),
            ..Registration::default()
        };
        assert_eq!(
            serde_json::to_string(&reg).unwrap(),
            r#"{"ServiceName":"LogService","ServiceURL":"http://localhost:4000","RequiredServices":[],"ServiceUpdateURL":"","HeartbeatURL":""}"#
        );
    }

    #[test]
    fn patches_accept_null_lists_and_lower_case_keys() {
        let patch: Patch = serde_json::from_str(
            r#"{"added":[{"name":"LogService","url":"http://x"}],"Removed":null}"#,
        )
        .unwrap();
        assert_eq!(
            patch.added,
            vec![PatchEntry {
                name: "LogService".into(),
                url: "http://x".into()
            }]
        );
        assert!(patch.removed.is_empty());
        assert_eq!(
            serde_json::to_string(&patch).unwrap(),
            r#"{"Added":[{"Name":"LogService","URL":"http://x"}],"Removed":[]}"#
        );
    }

    #[test]
    fn instance_info_round_trips_with_its_registration_flattened() {
        let info = InstanceInfo {
            registration: Registration {
                service_name: "S".into(),
                service_url: "http://s".into(),
                ttl: Some("10s".into()),
                ..Registration::default()
            },
            status: Status::Critical,
            registered_at: "2026-01-01T00:00:00.000Z".into(),
            last_check_at: None,
            last_latency_ms: Some(1.5),
            consecutive_failures: 2,
            recent_checks: vec![],
            flapping: false,
        };
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains(r#""ServiceName":"S""#) && json.contains(r#""Status":"critical""#));
        // Written only when flapping, so the original's clients see what they knew.
        assert!(!json.contains("Flapping"));
        assert_eq!(serde_json::from_str::<InstanceInfo>(&json).unwrap(), info);
        let flapping = InstanceInfo {
            flapping: true,
            status: Status::Passing,
            ..info
        };
        let json = serde_json::to_string(&flapping).unwrap();
        assert!(json.contains(r#""Flapping":true"#));
        assert_eq!(
            serde_json::from_str::<InstanceInfo>(&json).unwrap(),
            flapping
        );
        assert!(!flapping.discoverable());
    }
}

/// `GET /cluster` on a registry node: how it sees itself and the store it shares with the
/// other nodes (the portal's cluster panel shows one per node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's public URL.
    #[serde(rename = "Node")]
    pub node: String,
    /// `memory` (a registry on its own) or `etcd` (a node of a cluster).
    #[serde(rename = "Store")]
    pub store: String,
    /// Whether this node runs the checks and sends the patches (the elected leader; a
    /// registry on its own always does).
    #[serde(rename = "Leader")]
    pub leader: bool,
    /// The revision of the registry's state this node has reached.
    #[serde(rename = "Revision")]
    pub revision: u64,
    /// When this node started (RFC 3339).
    #[serde(rename = "Started", default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// How many revisions its state has moved on since this node started (a memory
    /// store's revision counts from the microsecond it started, so this is the number a
    /// person reads).
    #[serde(rename = "Changes", default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<u64>,
    /// Why it answers from an old copy; absent while its state is current.
    #[serde(rename = "Stale", default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// The etcd members it was given, as it sees each one now.
    #[serde(rename = "Etcd", default)]
    pub etcd: Vec<EtcdMember>,
}

/// One etcd member, as a registry node's probe of its `/health` found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtcdMember {
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    #[serde(rename = "Healthy")]
    pub healthy: bool,
    /// Why not, when it is not.
    #[serde(rename = "Problem", default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One heartbeat round of a registry cluster's leader, as the other nodes fetch it
/// (`GET /cluster/heartbeats?after=<Round>`): the results reach every node's live view
/// without being written to etcd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRound {
    /// The leader's public URL.
    #[serde(rename = "Leader")]
    pub leader: String,
    /// The round's number: increasing on one leader.
    #[serde(rename = "Round")]
    pub round: u64,
    #[serde(rename = "Results")]
    pub results: Vec<CheckResult>,
}
