//! The grading service: students and their grades, kept in an embedded SQLite database.
//!
//! | module | owns |
//! | --- | --- |
//! | [`http`] | the HTTP API on `/students` |
//! | [`store`] | the grade store (SQLite through `sqlx`, migrations, seed data) |
//! | [`validate`] | what a grade and a student must look like |

pub mod http;
pub mod store;
pub mod validate;

use std::{path::PathBuf, sync::Arc};

pub use http::router;
pub use store::GradeStore;

/// Settings of the grading service.
#[derive(Debug, Clone, clap::Args)]
pub struct GradingConfig {
    /// The SQLite database file; created and seeded with the original's students on
    /// first start.
    #[arg(long, env = "GRADING_DATABASE", default_value = "./grades.db")]
    pub database: PathBuf,
}

/// The grade database could not be opened; says which flag to change.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the grade database {path:?}: {source}. Pass a writable path with --database.")]
pub struct OpenError {
    path: PathBuf,
    source: sqlx::Error,
}

/// A running grading service. Cheap to clone.
#[derive(Clone)]
pub struct GradingService {
    pub store: GradeStore,
}

impl GradingService {
    pub async fn start(config: &GradingConfig) -> Result<GradingService, OpenError> {
        let store = GradeStore::open(&config.database)
            .await
            .map_err(|source| OpenError {
                path: config.database.clone(),
                source,
            })?;
        let probe = store.clone();
        crate::health::register(
            "grading database",
            Arc::new(move || {
                let store = probe.clone();
                Box::pin(async move { store.ping().await.map_err(|err| err.to_string()) })
            }),
        );
        Ok(GradingService { store })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_open_error_names_the_path_and_the_flag() {
        let err = super::OpenError {
            path: "/nowhere/x".into(),
            source: sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("cannot open the grade database \"/nowhere/x\": "),
            "{text}"
        );
        assert!(
            text.ends_with(". Pass a writable path with --database."),
            "{text}"
        );
    }
}
