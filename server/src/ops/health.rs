//! `GET /healthz` on every binary: 200 `{"status":"ok", "checks": {...}}` when the process
//! can serve, 503 with the reason of each failing check otherwise. Each service owns its
//! checks (the grading service's database, the log service's writer, the registry's
//! history) and hands them to its binary, which gathers those of the services it hosts in
//! a [`Health`]; a process with no checks (a registry without a history) is healthy while
//! it answers. Nothing is process-wide, so
//! a service stopped in one place never turns another's `/healthz` red.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use futures::future::BoxFuture;

use crate::http::routes::Routes;

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A check: `Ok` when its part can serve, else why not.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The named checks behind one process's `/healthz`.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<(&'static str, Check)>,
}

impl Health {
    /// No checks: healthy while it answers.
    pub fn new() -> Health {
        Health::default()
    }

    /// Adds the check named `name`.
    pub fn with(mut self, name: &'static str, check: Check) -> Health {
        self.checks.push((name, check));
        self
    }

    /// These checks and `other`'s (for a process that hosts several services).
    pub fn and(mut self, other: Health) -> Health {
        self.checks.extend(other.checks);
        self
    }

    /// `GET /healthz`, answering from these checks.
    pub fn router(self) -> Routes {
        Routes::new()
            .route("/healthz", get(healthz))
            .with_state(Arc::new(self))
    }

    /// Runs every check at once, each bounded by [`CHECK_TIMEOUT`]: each name with
    /// `Ok`, or the reason it failed.
    pub async fn run(&self) -> BTreeMap<&'static str, Result<(), String>> {
        futures::future::join_all(self.checks.iter().map(|(name, check)| async move {
            let result = tokio::time::timeout(CHECK_TIMEOUT, check())
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")));
            (*name, result)
        }))
        .await
        .into_iter()
        .collect()
    }
}

async fn healthz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let results = health.run().await;
    let healthy = results.values().all(Result::is_ok);
    let checks: BTreeMap<&str, String> = results
        .into_iter()
        .map(|(name, result)| (name, result.err().unwrap_or_else(|| "ok".into())))
        .collect();
    let (status, word) = if healthy {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (
        status,
        Json(serde_json::json!({ "status": word, "checks": checks })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(result: Result<(), &'static str>) -> Check {
        Arc::new(move || Box::pin(async move { result.map_err(str::to_owned) }))
    }

    #[tokio::test]
    async fn each_health_answers_from_its_own_checks_only() {
        let failing = Health::new().with("database", fixed(Err("closed")));
        let healthy = Health::new().with("writer", fixed(Ok(())));
        assert_eq!(
            failing.run().await,
            BTreeMap::from([("database", Err("closed".to_owned()))])
        );
        assert_eq!(healthy.run().await, BTreeMap::from([("writer", Ok(()))]));
        assert!(Health::new().run().await.is_empty());
    }

    #[tokio::test]
    async fn a_check_that_hangs_fails_after_the_timeout() {
        let hangs: Check = Arc::new(|| Box::pin(futures::future::pending()));
        let results = Health::new().with("stuck", hangs).run().await;
        assert_eq!(
            results["stuck"],
            Err(format!("no answer within {CHECK_TIMEOUT:?}"))
        );
    }
}
