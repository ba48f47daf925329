//! Property tests of the wire decoders (proptest): whatever bytes arrive, decoding answers
//! `Ok` or `Err` and never panics; whatever JSON arrives, a registration decodes exactly
//! as a model of Go's decoder says; what is encoded decodes to the same value; and, like
//! Go's decoder, the case of a key never matters; and the streaming decode
//! ([`crate::go::from_slice`]) always answers what the lenient one does.

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
            "tags",
            "META",
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

/// Objects with a registration's keys in odd cases (some twice), holding mostly the right
/// types, sometimes the wrong ones or `null`.
fn registration_like() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        4 => any::<String>().prop_map(Value::String),
        2 => prop::collection::vec(any::<String>(), 0..3)
            .prop_map(|items| Value::Array(items.into_iter().map(Value::String).collect())),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
    ];
    prop::collection::vec((key(), value), 0..8)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}

/// What Go's `encoding/json` makes of `value` as a Registration: an object's keys match a
/// field exactly or else case-insensitively, the later of two wins (keys come in the
/// text's order), `null` leaves the default, unknown keys are ignored, and a value of the
/// wrong type is an error.
fn go_model(value: &Value) -> Option<Registration> {
    const FIELDS: [&str; 8] = [
        "ServiceName",
        "ServiceURL",
        "RequiredServices",
        "ServiceUpdateURL",
        "HeartbeatURL",
        "TTL",
        "Tags",
        "Meta",
    ];
    let object = value.as_object()?;
    let mut folded: std::collections::HashMap<&str, &Value> = std::collections::HashMap::new();
    for (key, value) in object {
        let field = FIELDS
            .iter()
            .find(|field| **field == key)
            .or_else(|| FIELDS.iter().find(|field| field.eq_ignore_ascii_case(key)));
        if let Some(field) = field
            && !value.is_null()
        {
            folded.insert(field, value);
        }
    }
    let text = |field: &str| match folded.get(field) {
        None => Some(String::new()),
        Some(value) => value.as_str().map(str::to_owned),
    };
    let list = |field: &str| match folded.get(field) {
        None => Some(Vec::new()),
        Some(value) => value
            .as_array()?
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>(),
    };
    let required = list("RequiredServices")?;
    let tags = list("Tags")?;
    let meta = match folded.get("Meta") {
        None => std::collections::BTreeMap::new(),
        Some(value) => value
            .as_object()?
            .iter()
            .map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect::<Option<_>>()?,
    };
    let ttl = match folded.get("TTL") {
        None => None,
        Some(value) => Some(value.as_str()?.to_owned()),
    };
    Some(Registration {
        service_name: text("ServiceName")?,
        service_url: text("ServiceURL")?,
        required_services: required,
        service_update_url: text("ServiceUpdateURL")?,
        heartbeat_url: text("HeartbeatURL")?,
        ttl,
        tags,
        meta,
    })
}

/// Objects with a student's keys (and, nested, a grade's) in odd cases, some twice,
/// holding mostly the right types, sometimes the wrong ones or `null`.
fn student_like() -> impl Strategy<Value = Value> {
    let key = |names: &'static [&'static str]| {
        prop_oneof![
            4 => (prop::sample::select(names), any::<bool>()).prop_map(|(name, lower)| {
                if lower { name.to_lowercase() } else { name.to_owned() }
            }),
            1 => "[a-zA-Z]{0,6}",
        ]
    };
    let scalar = prop_oneof![
        3 => any::<String>().prop_map(Value::String),
        3 => (-5i64..200).prop_map(Value::from),
        2 => (-5.0f64..200.0).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(Value::String("Quiz".into())),
    ];
    let grade = prop::collection::vec(
        (key(&["ID", "Title", "Type", "Score"]), scalar.clone()),
        0..6,
    )
    .prop_map(|pairs| Value::Object(pairs.into_iter().collect()));
    let value = prop_oneof![
        4 => scalar,
        2 => prop::collection::vec(grade, 0..3).prop_map(Value::Array),
    ];
    prop::collection::vec(
        (
            key(&["ID", "FirstName", "LastName", "Grades", "Average"]),
            value,
        ),
        0..8,
    )
    .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
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
    fn any_json_decodes_as_go_would(value in json()) {
        let text = value.to_string();
        let decoded = serde_json::from_str::<Registration>(&text);
        let expected = go_model(&value);
        prop_assert_eq!(decoded.as_ref().ok(), expected.as_ref(), "{} → {:?}", text, decoded);
        let _ = serde_json::from_str::<Patch>(&text);
    }

    #[test]
    fn registration_shaped_json_decodes_as_go_would(value in registration_like()) {
        let text = value.to_string();
        let decoded = serde_json::from_str::<Registration>(&text);
        let expected = go_model(&value);
        prop_assert_eq!(decoded.as_ref().ok(), expected.as_ref(), "{} → {:?}", text, decoded);
    }

    #[test]
    fn the_streaming_decode_answers_as_the_lenient_one(
        registration in registration_like(),
        any_json in json(),
        student in student_like(),
    ) {
        use crate::grading::Student;
        for text in [registration.to_string(), any_json.to_string()] {
            let lenient = serde_json::from_str::<Registration>(&text).ok();
            prop_assert_eq!(crate::go::from_slice::<Registration>(text.as_bytes()).ok(), lenient, "{}", text);
            let lenient = serde_json::from_str::<Patch>(&text).ok();
            prop_assert_eq!(crate::go::from_slice::<Patch>(text.as_bytes()).ok(), lenient, "{}", text);
        }
        let text = student.to_string();
        let lenient = serde_json::from_str::<Student>(&text).ok();
        prop_assert_eq!(crate::go::from_slice::<Student>(text.as_bytes()).ok(), lenient.clone(), "{}", text);
        let list = format!("[{text},{text}]");
        let lenient = serde_json::from_str::<Vec<Student>>(&list).ok();
        prop_assert_eq!(crate::go::from_slice::<Vec<Student>>(list.as_bytes()).ok(), lenient, "{}", list);
    }

    #[test]
    fn registrations_round_trip(
        service_name in any::<String>(),
        service_url in any::<String>(),
        required_services in prop::collection::vec(any::<String>(), 0..4),
        service_update_url in any::<String>(),
        heartbeat_url in any::<String>(),
        ttl in prop::option::of(any::<String>()),
        tags in prop::collection::vec(any::<String>(), 0..4),
        meta in prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
    ) {
        let reg = Registration { service_name, service_url, required_services, service_update_url, heartbeat_url, ttl, tags, meta };
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
