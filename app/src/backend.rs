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

    /// `GET path` on every known instance of the service `name` at once: each one's
    /// answer, or why it could not be asked (an empty list if none is known).
    fn get_from_every(
        &self,
        name: &'static str,
        path: String,
    ) -> BoxFuture<Vec<Result<Reply, Unavailable>>>;

    /// `GET path` on every registry node known (those given to the portal, and those
    /// the registry lists as `Registry` now), at once: each node's base URL with its
    /// answer or why there is none, ordered by URL.
    fn get_from_registry_nodes(
        &self,
        path: String,
    ) -> BoxFuture<Vec<(String, Result<Reply, Unavailable>)>>;
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
    let reply = get(target, path).await?;
    json_of(target, &reply)
}

/// `GET path` on `target`, expecting 200 and JSON, or 404 (`None`): for a call that an
/// older service (the original's) does not have.
pub async fn get_json_unless_missing<T: DeserializeOwned>(
    target: Target,
    path: String,
) -> Result<Option<T>, ServerFnError> {
    let reply = get(target, path).await?;
    if reply.status == 404 {
        return Ok(None);
    }
    json_of(target, &reply).map(Some)
}

async fn get(target: Target, path: String) -> Result<Reply, ServerFnError> {
    backend()?
        .send(target, http::Method::GET, path, None)
        .await
        .map_err(ServerFnError::new)
}

/// `reply`'s JSON if it is a 200, else an error with its status and reason.
fn json_of<T: DeserializeOwned>(target: Target, reply: &Reply) -> Result<T, ServerFnError> {
    if reply.status != 200 {
        return Err(ServerFnError::new(format!(
            "{} answered {}: {}",
            name(target),
            reply.status,
            reason(&reply.body)
        )));
    }
    wire::go::from_slice(&reply.body)
        .map_err(|err| ServerFnError::new(format!("{} sent unreadable JSON: {err}", name(target))))
}

/// `GET path` on every instance of the service `name`, expecting 200 and JSON from each:
/// the answers of those that gave one. An instance that fails is passed over (and
/// logged), so one instance down never empties a page that all of them fill.
///
/// # Errors
/// No instance answered; the error gives each one's reason.
pub async fn get_json_from_every<T: DeserializeOwned>(
    name: &'static str,
    path: String,
) -> Result<Vec<T>, ServerFnError> {
    let replies = backend()?.get_from_every(name, path).await;
    if replies.is_empty() {
        return Err(ServerFnError::new(format!(
            "{name} is unavailable: no instance of {name} is known"
        )));
    }
    let mut answers = Vec::new();
    let mut failures = Vec::new();
    for reply in replies {
        let decoded = reply.map_err(|err| err.to_string()).and_then(|reply| {
            if reply.status != 200 {
                return Err(format!(
                    "{name} answered {}: {}",
                    reply.status,
                    reason(&reply.body)
                ));
            }
            wire::go::from_slice(&reply.body)
                .map_err(|err| format!("{name} sent unreadable JSON: {err}"))
        });
        match decoded {
            Ok(answer) => answers.push(answer),
            Err(failure) => failures.push(failure),
        }
    }
    if answers.is_empty() {
        return Err(ServerFnError::new(failures.join("; ")));
    }
    for failure in failures {
        leptos::logging::warn!("{failure}");
    }
    Ok(answers)
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
