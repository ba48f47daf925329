//! Property tests of the wire decoders (proptest): whatever bytes or JSON arrive,
//! decoding answers `Ok` or `Err` and never panics; what is encoded decodes to the same
//! value; and, like Go's decoder, the case of a key never matters.

use proptest::prelude::*;
use serde_json::Value;

use super::registry::{Patch, PatchEntry, Registration};

/// Keys the decoders know, in odd cases, mixed with arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ServiceName",
            "serviceurl",
            "RequiredServices",
            "SERVICEUPDATEURL",
            "heartbeatURL",
            "TTL",
            "Added",
            "removed",
            "Name",
            "url",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{0,12}",
    ]
}

/// Arbitrary JSON, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn entry() -> impl Strategy<Value = PatchEntry> {
    (any::<String>(), any::<String>()).prop_map(|(name, url)| PatchEntry { name, url })
}

proptest! {
    #[test]
    fn any_bytes_decode_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<Registration>(&bytes);
        let _ = serde_json::from_slice::<Patch>(&bytes);
    }

    #[test]
    fn any_json_decodes_without_panicking(value in json()) {
        let text = value.to_string();
        let _ = serde_json::from_str::<Registration>(&text);
        let _ = serde_json::from_str::<Patch>(&text);
    }

    #[test]
    fn registrations_round_trip(
        service_name in any::<String>(),
        service_url in any::<String>(),
        required_services in prop::collection::vec(any::<String>(), 0..4),
        service_update_url in any::<String>(),
        heartbeat_url in any::<String>(),
        ttl in prop::option::of(any::<String>()),
    ) {
        let reg = Registration { service_name, service_url, required_services, service_update_url, heartbeat_url, ttl };
        let text = serde_json::to_string(&reg).unwrap();
        prop_assert_eq!(serde_json::from_str::<Registration>(&text).unwrap(), reg);
    }

    #[test]
    fn patches_round_trip(
        added in prop::collection::vec(entry(), 0..5),
        removed in prop::collection::vec(entry(), 0..5),
    ) {
        let patch = Patch { added, removed };
        let text = serde_json::to_string(&patch).unwrap();
        prop_assert_eq!(serde_json::from_str::<Patch>(&text).unwrap(), patch);
    }

    #[test]
    fn the_case_of_a_key_never_matters(name in any::<String>(), upper in prop::collection::vec(any::<bool>(), 11)) {
        let key: String = "ServiceName"
            .chars()
            .zip(&upper)
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        let text = serde_json::json!({ key: name }).to_string();
        prop_assert_eq!(serde_json::from_str::<Registration>(&text).unwrap().service_name, name);
    }
}
