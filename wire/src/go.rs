//! Decoding JSON objects the way Go's `encoding/json` does, so that clients written
//! against the original keep working: a key matches a field exactly or, failing that,
//! case-insensitively (`serviceName`, `ServiceName` and `servicename` are one key); a later
//! duplicate wins; `null` leaves the field at its default; unknown keys are ignored.
//!
//! A wire type opts in by deriving with `#[serde(remote = "Self")]` and calling
//! [`go_json!`](crate::go_json), which gives it `Serialize` (exact Go names) and this
//! lenient `Deserialize`. This module is not compiled for the browser (see the macro). In
//! the browser (wasm32), which only ever reads JSON this project's server wrote,
//! `Deserialize` matches exact names, which keeps the lenient decoder and its dependencies
//! out of the WASM bundle.

use std::{borrow::Cow, fmt};

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// Reads one JSON object and renames its keys, in document order, to the canonical
/// `fields` (dropping nulls and unknown keys), ready for an exact-name decode.
pub fn fold_keys<'de, D: Deserializer<'de>>(
    deserializer: D,
    fields: &'static [&'static str],
) -> Result<Value, D::Error> {
    deserializer.deserialize_map(FoldKeys { fields })
}

struct FoldKeys {
    fields: &'static [&'static str],
}

impl<'de> Visitor<'de> for FoldKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut folded = Map::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let field = self.fields.iter().find(|field| **field == key).or_else(|| {
                self.fields
                    .iter()
                    .find(|field| field.eq_ignore_ascii_case(&key))
            });
            match field {
                Some(field) => {
                    let value: Value = map.next_value()?;
                    if !value.is_null() {
                        folded.insert((*field).to_owned(), value);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(folded))
    }
}

/// Runs an exact-name decode of `value`, naming the field at fault in its error
/// (`ServiceName: invalid type: integer `5`, expected a string`).
pub fn decode<T, E: serde::de::Error>(
    value: Value,
    exact: impl FnOnce(serde_path_to_error::Deserializer<'_, '_, Value>) -> Result<T, serde_json::Error>,
) -> Result<T, E> {
    let mut track = serde_path_to_error::Track::new();
    exact(serde_path_to_error::Deserializer::new(value, &mut track)).map_err(|err| {
        let path = track.path().to_string();
        if path.is_empty() || path == "." {
            E::custom(err)
        } else {
            E::custom(format_args!("{path}: {err}"))
        }
    })
}
