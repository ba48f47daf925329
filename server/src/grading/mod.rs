//! The grading service: students and their grades, kept in an embedded SQLite file (the
//! default) or in PostgreSQL, which several grading instances can share.
//!
//! | module | owns |
//! | --- | --- |
//! | [`http`] | the HTTP API on `/students` |
//! | [`database`] | what `--database` names, and refusing what it cannot be |
//! | [`store`] | the grade store (SQLite or PostgreSQL through `sqlx`, migrations, seed data) |
//! | [`validate`] | what a grade and a student must look like |

pub mod database;
pub mod http;
pub mod store;
pub mod validate;

use std::{sync::Arc, time::Duration};

use crate::ops::health::CHECK_TIMEOUT;

pub use database::Database;
pub use http::router;
pub use store::{GradeStore, StoreOptions};

/// Settings of the grading service.
#[derive(Debug, Clone, clap::Args)]
pub struct GradingConfig {
    /// Where the grades are kept: a SQLite file path or `sqlite:` URL (created and seeded
    /// with the original's students on first start), or a `postgres://` URL of an
    /// existing PostgreSQL database that several grading instances may share (its schema
    /// and seed data are made on first start).
    #[arg(long, env = "GRADING_DATABASE", default_value = "./grades.db",
          value_parser = database::DatabaseParser, hide_env_values = true)]
    pub database: Database,

    /// SQLite only: when a change is on disk before it is answered. `full` (the default)
    /// syncs the write-ahead log at every commit, so a grade answered 201 survives a power
    /// cut; `normal` syncs only at checkpoints, faster, but a power cut (not a crash of
    /// the process) can lose the last changes answered.
    #[arg(
        long,
        env = "GRADING_DATABASE_SYNC",
        value_enum,
        default_value = "full"
    )]
    pub database_sync: DatabaseSync,

    /// The most connections to the database open at once; requests beyond them wait for one
    /// (at most the statement timeout, then 503).
    #[arg(
        long,
        env = "GRADING_DATABASE_MAX_CONNECTIONS",
        default_value = "10",
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub database_max_connections: u32,

    /// How long one statement may run, and a request may wait for a connection, before
    /// it is answered 503: a slow database delays answers, never piles them up.
    #[arg(
        long,
        env = "GRADING_DATABASE_STATEMENT_TIMEOUT",
        default_value = "5s",
        value_parser = statement_timeout
    )]
    pub database_statement_timeout: Duration,
}

impl GradingConfig {
    /// The defaults, on `database`.
    pub fn on(database: Database) -> GradingConfig {
        GradingConfig {
            database,
            database_sync: DatabaseSync::Full,
            database_max_connections: 10,
            database_statement_timeout: Duration::from_secs(5),
        }
    }

    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            sync: self.database_sync,
            max_connections: self.database_max_connections,
            statement_timeout: self.database_statement_timeout,
        }
    }
}

fn statement_timeout(value: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(value).map_err(|err| err.to_string())?;
    if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(600) {
        return Err("give a duration from 10ms to 10m, such as 5s".into());
    }
    Ok(timeout)
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

/// The grade database could not be opened or migrated; names it and says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{}", open_error_text(database, source))]
pub struct OpenError {
    database: Database,
    source: sqlx::Error,
}

fn open_error_text(database: &Database, source: &sqlx::Error) -> String {
    if let sqlx::Error::Migrate(err) = source {
        return format!(
            "cannot apply the grade database's migrations to {database}: {err}. \
             The database was left as the failed migration found it; fix the cause and start again."
        );
    }
    let fix = match database {
        Database::Sqlite(_) => "Pass a writable path with --database.",
        Database::Postgres(_) => {
            "Check that PostgreSQL is running there, that the database exists and that \
             --database names a user who may create tables in it."
        }
    };
    format!("cannot open the grade database {database}: {source}. {fix}")
}

/// A running grading service. Cheap to clone.
#[derive(Clone)]
pub struct GradingService {
    pub store: GradeStore,
    database: Arc<Database>,
    /// Each change stored, for the event stream: (event name, what changed).
    changes: tokio::sync::broadcast::Sender<(&'static str, wire::grading::GradeChange)>,
    /// Ends the event streams, so a graceful shutdown does not wait on them.
    shutdown: tokio_util::sync::CancellationToken,
}

impl GradingService {
    /// Tells the event streams of a change stored (`name`: one of
    /// [`wire::grading::GRADE_EVENTS`]); nothing if none listens.
    pub fn changed(&self, name: &'static str, student_id: i64, grade_id: Option<i64>) {
        let _ = self.changes.send((
            name,
            wire::grading::GradeChange {
                student_id,
                grade_id,
            },
        ));
    }

    /// Each change stored from now on.
    pub fn subscribe(
        &self,
    ) -> tokio::sync::broadcast::Receiver<(&'static str, wire::grading::GradeChange)> {
        self.changes.subscribe()
    }

    /// Cancelled when the service shuts down.
    pub fn stopping(&self) -> tokio_util::sync::CancellationToken {
        self.shutdown.clone()
    }

    /// Opens the database; event streams end when `shutdown` is cancelled.
    ///
    /// # Errors
    /// The database cannot be opened or migrated; the error names it and the fix.
    pub async fn start(
        config: &GradingConfig,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<GradingService, OpenError> {
        let store = GradeStore::open(&config.database, config.store_options())
            .await
            .map_err(|source| OpenError {
                database: config.database.clone(),
                source,
            })?;
        tracing::info!("grades kept in the {}", config.database);
        Ok(GradingService {
            store,
            database: Arc::new(config.database.clone()),
            // Room for a burst of changes: a subscriber further behind is told how many
            // it missed.
            changes: tokio::sync::broadcast::channel(1024).0,
            shutdown,
        })
    }

    /// The service's `/healthz` check: its database answers. The failure names the
    /// database (never its password); the driver's cause is logged.
    pub fn health(&self) -> crate::ops::health::Health {
        let (store, database) = (self.store.clone(), self.database.clone());
        crate::ops::health::Health::new().with(
            "grading database",
            Arc::new(move || {
                let (store, database) = (store.clone(), database.clone());
                Box::pin(async move {
                    // Within the check's own time limit, so the reason is ours.
                    let within = CHECK_TIMEOUT.saturating_sub(Duration::from_millis(250));
                    match tokio::time::timeout(within, store.ping()).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(err)) => {
                            tracing::warn!(%err, "the grade database does not answer");
                            Err(format!("the {database} does not answer"))
                        }
                        Err(_) => Err(format!("the {database} does not answer within {within:?}")),
                    }
                })
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Database, OpenError};

    fn io_error() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    #[test]
    fn an_open_error_names_the_database_and_the_fix() {
        let text = OpenError {
            database: Database::Sqlite("/nowhere/x".into()),
            source: io_error(),
        }
        .to_string();
        assert!(
            text.starts_with("cannot open the grade database SQLite file /nowhere/x: "),
            "{text}"
        );
        assert!(
            text.ends_with(". Pass a writable path with --database."),
            "{text}"
        );

        let text = OpenError {
            database: "postgres://u:secret@db:5432/grades".parse().unwrap(),
            source: io_error(),
        }
        .to_string();
        assert!(
            text.starts_with(
                "cannot open the grade database PostgreSQL postgres://u:***@db:5432/grades: "
            ),
            "{text}"
        );
        assert!(
            text.contains("Check that PostgreSQL is running there"),
            "{text}"
        );
    }

    #[test]
    fn a_failed_migration_says_so() {
        let text = OpenError {
            database: "postgres://db/grades".parse().unwrap(),
            source: sqlx::Error::Migrate(Box::new(sqlx::migrate::MigrateError::VersionMissing(2))),
        }
        .to_string();
        assert!(
            text.starts_with(
                "cannot apply the grade database's migrations to PostgreSQL postgres://db/grades: "
            ),
            "{text}"
        );
    }
}
