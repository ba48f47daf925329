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

use std::path::PathBuf;

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

/// A running grading service. Cheap to clone.
#[derive(Clone)]
pub struct GradingService {
    pub store: GradeStore,
}

impl GradingService {
    pub async fn start(config: &GradingConfig) -> Result<GradingService, sqlx::Error> {
        Ok(GradingService {
            store: GradeStore::open(&config.database).await?,
        })
    }
}
