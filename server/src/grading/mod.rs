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

    /// When a change is on disk before it is answered: `full` (the default) syncs the
    /// write-ahead log at every commit, so a grade answered 201 survives a power cut;
    /// `normal` syncs only at checkpoints, faster, but a power cut (not a crash of the
    /// process) can lose the last changes answered.
    #[arg(
        long,
        env = "GRADING_DATABASE_SYNC",
        value_enum,
        default_value = "full"
    )]
    pub database_sync: DatabaseSync,
}

/// `--database-sync`: SQLite's `synchronous` setting, in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DatabaseSync {
    /// Sync at every commit: nothing answered is lost to a power cut.
    #[default]
    Full,
    /// Sync at checkpoints: survives a crash of the process, not a power cut.
    Normal,
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
    /// # Errors
    /// The database cannot be opened; the error names the flag to change.
    pub async fn start(config: &GradingConfig) -> Result<GradingService, OpenError> {
        let store = GradeStore::open(&config.database, config.database_sync)
            .await
            .map_err(|source| OpenError {
                path: config.database.clone(),
                source,
            })?;
        Ok(GradingService { store })
    }

    /// The service's `/healthz` check: its database answers.
    pub fn health(&self) -> crate::ops::health::Health {
        let store = self.store.clone();
        crate::ops::health::Health::new().with(
            "grading database",
            Arc::new(move || {
                let store = store.clone();
                Box::pin(async move { store.ping().await.map_err(|err| err.to_string()) })
            }),
        )
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
