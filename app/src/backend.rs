//! How the portal's server functions reach the other services (server side only).
//!
//! The server functions live in this crate, but finding services is the service
//! runtime's job, in the `server` crate. This trait is the narrow seam between them:
//! the server provides an implementation as Leptos context (the runtime's providers,
//! with failover, and the registry's address), and the server functions call it.

use std::{future::Future, pin::Pin, sync::Arc};

use leptos::prelude::*;
use serde::de::DeserializeOwned;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An instance of the named service, found through the registry.
    Service(&'static str),
    /// The registry itself.
    Registry,
}

/// An answer: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A service could not be asked at all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} is unavailable: {reason}")]
pub struct Unavailable {
    pub service: String,
    pub reason: String,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Sends HTTP requests to the services on the portal's behalf.
pub trait ServiceClient: Send + Sync + 'static {
    /// Sends `method path` (with an optional JSON body) to `target`; every call times out.
    fn send(
        &self,
        target: Target,
        method: http::Method,
        path: String,
        json_body: Option<String>,
    ) -> BoxFuture<Result<Reply, Unavailable>>;
}

/// The handle server functions find in context.
pub type Backend = Arc<dyn ServiceClient>;

/// The backend provided by the server.
pub fn backend() -> Result<Backend, ServerFnError> {
    use_context::<Backend>().ok_or_else(|| ServerFnError::new("the portal has no service backend"))
}

/// `GET path` on `target`, expecting 200 and JSON.
pub async fn get_json<T: DeserializeOwned>(
    target: Target,
    path: String,
) -> Result<T, ServerFnError> {
    let reply = backend()?
        .send(target, http::Method::GET, path, None)
        .await
        .map_err(ServerFnError::new)?;
    if reply.status != 200 {
        return Err(ServerFnError::new(format!(
            "{} answered {}: {}",
            name(target),
            reply.status,
            reason(&reply.body)
        )));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|err| ServerFnError::new(format!("{} sent unreadable JSON: {err}", name(target))))
}

/// The name of a target, for messages.
pub fn name(target: Target) -> &'static str {
    match target {
        Target::Service(name) => name,
        Target::Registry => "the registry",
    }
}

/// The `error` of a JSON error answer, or the body as text.
pub fn reason(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value
                .get("error")
                .and_then(|e| e.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect())
}
