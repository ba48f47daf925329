//! The JSON that crosses the wire between services, shared by the server (which speaks
//! it) and the browser (which reads the registry's live events).
//!
//! Field names follow the original Go services exactly (`ServiceName`, `ServiceURL`, ...).
//! Like Go's `encoding/json`, decoding matches keys case-insensitively ([`go`]).

pub mod consul;
#[cfg(not(target_arch = "wasm32"))]
pub mod go;
pub mod grading;
pub mod logs;
pub mod prometheus;
pub mod registry;

#[cfg(test)]
mod properties;

/// Gives a struct declared with `#[serde(remote = "Self")]` its `Serialize` (exact Go
/// field names) and its `Deserialize`: Go-style lenient ([`go`]) outside the browser; exact
/// names in the browser (wasm32), which only ever reads JSON this project's server wrote,
/// so the lenient decoder and its dependencies stay out of the WASM bundle.
#[macro_export]
macro_rules! go_json {
    ($ty:ty, $fields:expr) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$ty>::serialize(self, serializer)
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                if $crate::go::streaming() {
                    return <$ty>::deserialize($crate::go::Renaming::new(deserializer, $fields));
                }
                let value = $crate::go::fold_keys(deserializer, $fields)?;
                // Untracked first: tracking the path costs a third of the decode, and
                // only an error needs it.
                match <$ty>::deserialize(&value) {
                    Ok(decoded) => Ok(decoded),
                    Err(_) => $crate::go::decode(value, |exact| <$ty>::deserialize(exact)),
                }
            }
        }
        #[cfg(target_arch = "wasm32")]
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                <$ty>::deserialize(deserializer)
            }
        }
    };
}
