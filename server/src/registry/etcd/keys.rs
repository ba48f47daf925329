//! Where the registry keeps its state in etcd, and how each value is written. Under the
//! prefix (`--etcd-prefix`, default `/distributed/`):
//!
//! | key | value | written by |
//! | --- | --- | --- |
//! | `instances/<ServiceURL>` | [`StoredInstance`]: the registration and when it was made | any node (register, deregister); the leader (drop) |
//! | `status/<ServiceURL>` | `critical` (no key: passing) | the leader, fenced |
//! | `renewed/<ServiceURL>` | when its TTL was last renewed, in ms since the epoch | any node |
//! | `flapping/<ServiceURL>` | `flapping` (no key: not flapping) | the leader, fenced |
//! | `election/…` | etcd's election keys: whoever holds the oldest leads | the election |
//! | `probe` | nothing: read to learn that etcd answers | any node |
//! | `note` | [`Note`]: when the change in the same transaction was made, and why | whoever writes a change |
//!
//! A registration writes its instance key and clears the other two in one transaction, so
//! a registering instance starts passing. A passing heartbeat check writes nothing (the
//! leader shares its rounds over HTTP: [`super::rounds`]), so with nothing changing,
//! etcd's revision stands still. The leader's writes are conditional on the three keys'
//! revisions it decided on ([`KeyRevisions`]): a renewal or a registration committed
//! meanwhile is never overwritten by a stale decision. Values are JSON, and keys use the
//! instance's URL as is (URLs are already unique, and etcd keys are bytes).
//!
//! Every change's transaction also writes `note`: its time and, for a leader's decision,
//! its reason, so every node records the change in its history ([`crate::registry::history`])
//! with the same time and words, however late it applies it. It is one key, written over
//! each time, so it costs etcd no more than the change itself (and is compacted with it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wire::registry::Registration;

/// The value of `status/<url>` for a critical instance.
pub const CRITICAL: &str = "critical";
/// The value of `flapping/<url>`.
pub const FLAPPING: &str = "flapping";

/// The key names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

/// What a key under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    Instance(&'a str),
    Status(&'a str),
    Renewed(&'a str),
    Flapping(&'a str),
    Note,
    /// Election keys, and anything else under the prefix (such as the `heartbeats` key
    /// earlier versions wrote every round).
    Other,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        let mut prefix = prefix.trim().to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Keys { prefix }
    }

    /// Everything the registry keeps: the range a node loads and watches.
    pub fn all(&self) -> &str {
        &self.prefix
    }

    pub fn instance(&self, url: &str) -> String {
        format!("{}instances/{url}", self.prefix)
    }

    pub fn status(&self, url: &str) -> String {
        format!("{}status/{url}", self.prefix)
    }

    pub fn renewed(&self, url: &str) -> String {
        format!("{}renewed/{url}", self.prefix)
    }

    pub fn flapping(&self, url: &str) -> String {
        format!("{}flapping/{url}", self.prefix)
    }

    /// The election's name: candidates' keys are made under it.
    pub fn election(&self) -> String {
        format!("{}election", self.prefix)
    }

    /// A key nothing reads the value of: a node reads it to learn whether etcd answers,
    /// and writes it to mark where a replay of etcd's history ends.
    pub fn probe(&self) -> String {
        format!("{}probe", self.prefix)
    }

    /// The note on the change written in the same transaction ([`Note`]).
    pub fn note(&self) -> String {
        format!("{}note", self.prefix)
    }

    /// What `key` is, if it is under the prefix.
    pub fn parse<'k>(&self, key: &'k [u8]) -> Option<Key<'k>> {
        let key = std::str::from_utf8(key).ok()?;
        let rest = key.strip_prefix(self.prefix.as_str())?;
        Some(if let Some(url) = rest.strip_prefix("instances/") {
            Key::Instance(url)
        } else if let Some(url) = rest.strip_prefix("status/") {
            Key::Status(url)
        } else if let Some(url) = rest.strip_prefix("renewed/") {
            Key::Renewed(url)
        } else if let Some(url) = rest.strip_prefix("flapping/") {
            Key::Flapping(url)
        } else if rest == "note" {
            Key::Note
        } else {
            Key::Other
        })
    }
}

/// An instance as etcd keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInstance {
    #[serde(rename = "Registration")]
    pub registration: Registration,
    /// When it registered, in ms since the epoch: a new registration of the same URL has a
    /// new one, and its dependents are sent their full views again.
    #[serde(rename = "RegisteredAt")]
    pub registered_at_ms: u64,
}

impl StoredInstance {
    pub fn registered_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.registered_at_ms)
    }
}

/// What a change's transaction says of it beside the change itself: when it was made
/// (microseconds since the epoch) and, for a leader's decision, why. Every node records
/// the change with these, so every node's history says the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    #[serde(rename = "At")]
    pub at_micros: u64,
    #[serde(rename = "Reason", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Note {
    /// A note of a change made now, for `reason` if given.
    pub fn now(reason: Option<String>) -> Note {
        Note::at(SystemTime::now(), reason)
    }

    /// A note of a change made at `time`.
    pub fn at(time: SystemTime, reason: Option<String>) -> Note {
        Note {
            at_micros: time
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_micros() as u64),
            reason,
        }
    }

    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.at_micros)
    }

    /// The operation that writes it under `keys`.
    pub fn put(&self, keys: &Keys) -> etcd_client::TxnOp {
        let value = serde_json::to_string(self).expect("notes serialise");
        etcd_client::TxnOp::put(keys.note(), value, None)
    }
}

/// `time` in ms since the epoch.
pub fn millis_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The revisions at which an instance's three keys were last written (0: no such key),
/// as this node's copy has applied them. The leader's write on a decision about the
/// instance holds only if etcd's are still these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRevisions {
    pub instance: i64,
    pub status: i64,
    pub renewed: i64,
}

impl Keys {
    /// The conditions that the instance at `url` is as `revisions` say: not registered
    /// again, renewed, or changed in status since.
    pub fn unchanged(&self, url: &str, revisions: KeyRevisions) -> Vec<etcd_client::Compare> {
        use etcd_client::{Compare, CompareOp};
        vec![
            Compare::mod_revision(self.instance(url), CompareOp::Equal, revisions.instance),
            Compare::mod_revision(self.status(url), CompareOp::Equal, revisions.status),
            Compare::mod_revision(self.renewed(url), CompareOp::Equal, revisions.renewed),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_what_they_hold_and_parse_back() {
        let keys = Keys::new("/distributed");
        let url = "http://127.0.0.1:4000/a/b";
        assert_eq!(
            keys.instance(url),
            "/distributed/instances/http://127.0.0.1:4000/a/b"
        );
        assert_eq!(
            keys.parse(keys.instance(url).as_bytes()),
            Some(Key::Instance(url))
        );
        assert_eq!(
            keys.parse(keys.status(url).as_bytes()),
            Some(Key::Status(url))
        );
        assert_eq!(
            keys.parse(keys.renewed(url).as_bytes()),
            Some(Key::Renewed(url))
        );
        assert_eq!(
            keys.parse(keys.flapping(url).as_bytes()),
            Some(Key::Flapping(url))
        );
        assert_eq!(keys.parse(keys.note().as_bytes()), Some(Key::Note));
        assert_eq!(keys.parse(b"/distributed/heartbeats"), Some(Key::Other));
        assert_eq!(
            keys.parse(format!("{}/x", keys.election()).as_bytes()),
            Some(Key::Other)
        );
        assert_eq!(keys.parse(b"/elsewhere/instances/http://x"), None);
        assert_eq!(keys.parse(&[0xff, 0xfe]), None);
    }

    #[test]
    fn a_note_reads_back_as_written_with_or_without_its_reason() {
        let note = Note::at(
            UNIX_EPOCH + Duration::from_micros(1_790_000_000_123_456),
            None,
        );
        let json = serde_json::to_string(&note).unwrap();
        assert_eq!(json, r#"{"At":1790000000123456}"#);
        assert_eq!(serde_json::from_str::<Note>(&json).unwrap(), note);
        assert_eq!(
            note.time(),
            UNIX_EPOCH + Duration::from_micros(1_790_000_000_123_456)
        );
        let why = Note::now(Some("2 heartbeat checks failed".into()));
        let back: Note = serde_json::from_str(&serde_json::to_string(&why).unwrap()).unwrap();
        assert_eq!(back, why);
    }

    #[test]
    fn a_stored_instance_reads_back_as_written() {
        let stored = StoredInstance {
            registration: Registration {
                service_name: "LogService".into(),
                service_url: "http://127.0.0.1:4000".into(),
                required_services: vec!["Other".into()],
                service_update_url: "http://127.0.0.1:4000/services".into(),
                heartbeat_url: "http://127.0.0.1:4000/heartbeat".into(),
                ttl: None,
                tags: vec!["primary".into()],
                meta: [("version".into(), "2".into())].into(),
            },
            registered_at_ms: 1_790_000_000_123,
        };
        let json = serde_json::to_vec(&stored).unwrap();
        let back: StoredInstance = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, stored);
        assert_eq!(
            millis_since_epoch(back.registered_at()),
            stored.registered_at_ms
        );
    }
}
