//! `GET /healthz` on every binary: 200 `{"status":"ok", "checks": {...}}` when the process
//! can serve, 503 with the reason of each failing check otherwise. A service adds what it
//! depends on with [`register`] (the grading service its database, the log service its
//! writer); a process with no checks (the registry) is healthy while it answers.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, http::StatusCode, response::IntoResponse, routing::get};
use futures::future::BoxFuture;

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A check: `Ok` when its part can serve, else why not.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

fn checks() -> &'static Mutex<Vec<(&'static str, Check)>> {
    static CHECKS: Mutex<Vec<(&'static str, Check)>> = Mutex::new(Vec::new());
    &CHECKS
}

/// Adds a check named `name` to this process's `/healthz`.
pub fn register(name: &'static str, check: Check) {
    checks().lock().unwrap().push((name, check));
}

/// `GET /healthz`.
pub fn router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> impl IntoResponse {
    let checks = checks().lock().unwrap().clone();
    let results = futures::future::join_all(checks.into_iter().map(|(name, check)| async move {
        let result = tokio::time::timeout(CHECK_TIMEOUT, check())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")));
        (name, result)
    }))
    .await;
    let healthy = results.iter().all(|(_, result)| result.is_ok());
    let checks: BTreeMap<&str, String> = results
        .into_iter()
        .map(|(name, result)| (name, result.err().unwrap_or_else(|| "ok".into())))
        .collect();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if healthy { "ok" } else { "unavailable" };
    (
        status,
        Json(serde_json::json!({ "status": word, "checks": checks })),
    )
}
