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
//!
//! Reading every object into a `Value` first is what lets a later duplicate win and a
//! `null` leave a field alone, but it costs: the portal's Grade Book page spent a tenth
//! of its time there. [`from_slice`] tries a streaming decode first, which renames keys
//! as it reads them and fails on exactly the cases it cannot take (a duplicate, a `null`
//! for a field that cannot hold one); on any failure it decodes the same bytes again the
//! lenient way, so its answer is always the lenient decode's.

use std::{borrow::Cow, cell::Cell, fmt};

use serde::{
    Deserialize,
    de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor},
};
use serde_json::{Map, Value};

thread_local! {
    /// Whether the decode under way on this thread is [`from_slice`]'s streaming one.
    static STREAMING: Cell<bool> = const { Cell::new(false) };
}

/// Decodes `bytes` as Go does (see the module's doc): streaming where it can, else the
/// lenient way, with the lenient way's error.
///
/// # Errors
/// The bytes are not JSON, or not a `T`.
pub fn from_slice<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> serde_json::Result<T> {
    /// Turns the streaming mode off however the decode ends.
    struct Streaming;
    impl Drop for Streaming {
        fn drop(&mut self) {
            STREAMING.set(false);
        }
    }
    let streamed = {
        STREAMING.set(true);
        let _off = Streaming;
        serde_json::from_slice(bytes)
    };
    streamed.or_else(|_| serde_json::from_slice(bytes))
}

/// Whether a wire type's `Deserialize` should decode with [`Renaming`] (see
/// [`from_slice`]).
pub fn streaming() -> bool {
    STREAMING.get()
}

/// A deserializer of one object whose keys are renamed to the canonical `fields` as
/// they are read: the streaming decode of [`from_slice`].
pub struct Renaming<D> {
    inner: D,
    fields: &'static [&'static str],
}

impl<D> Renaming<D> {
    pub fn new(inner: D, fields: &'static [&'static str]) -> Renaming<D> {
        Renaming { inner, fields }
    }
}

/// `key`'s canonical name among `fields`: an exact match first, then one in another
/// case; `key` itself if it names no field (the decode then ignores it).
fn canonical<'a>(fields: &'static [&'static str], key: &'a str) -> Cow<'a, str> {
    match fields
        .iter()
        .find(|field| **field == key)
        .or_else(|| fields.iter().find(|field| field.eq_ignore_ascii_case(key)))
    {
        Some(field) => Cow::Borrowed(field),
        None => Cow::Borrowed(key),
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Renaming<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(RenamingVisitor {
            inner: visitor,
            fields: self.fields,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum identifier ignored_any
    }
}

struct RenamingVisitor<V> {
    inner: V,
    fields: &'static [&'static str],
}

impl<'de, V: Visitor<'de>> Visitor<'de> for RenamingVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(RenamingMap {
            inner: map,
            fields: self.fields,
        })
    }
}

struct RenamingMap<A> {
    inner: A,
    fields: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for RenamingMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.inner.next_key::<Cow<'de, str>>()? else {
            return Ok(None);
        };
        let name: &str = &canonical(self.fields, &key);
        seed.deserialize(serde::de::value::StrDeserializer::<A::Error>::new(name))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

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
