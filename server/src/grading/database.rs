//! What `--database` names: an embedded SQLite file (the default, for one grading
//! instance) or a PostgreSQL server (shared by several). The value is read once, at
//! start-up; anything that is neither is refused with what is accepted, so a URL of
//! another database is never taken for a file path.

use std::{fmt, path::PathBuf, str::FromStr};

/// Where the grades are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created (with its folder) on first start.
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgres://` or `postgresql://` URL; the database
    /// must exist (the schema is made by the service).
    Postgres(String),
}

/// What `--database` accepts, said whenever a value is refused.
const ACCEPTED: &str = "--database takes a SQLite file path (./grades.db), a sqlite: URL \
                        (sqlite:./grades.db) or a PostgreSQL URL \
                        (postgres://user:password@host:5432/database)";

impl FromStr for Database {
    type Err = String;

    fn from_str(value: &str) -> Result<Database, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("the database is empty: {ACCEPTED}"));
        }
        let scheme = value
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .filter(|scheme| {
                scheme.len() > 1
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            });
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => postgres(value),
            Some("sqlite") => sqlite(value),
            Some(scheme) if value.contains("://") => {
                Err(format!("{scheme}: databases are not supported: {ACCEPTED}"))
            }
            _ => Ok(Database::Sqlite(PathBuf::from(value))),
        }
    }
}

fn postgres(value: &str) -> Result<Database, String> {
    let url = reqwest::Url::parse(value)
        .map_err(|err| format!("{:?} is not a URL ({err}): {ACCEPTED}", redact(value)))?;
    if !value.contains("://") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{:?} names no server: {ACCEPTED}", redact(value)));
    }
    Ok(Database::Postgres(value.to_owned()))
}

fn sqlite(value: &str) -> Result<Database, String> {
    let rest = &value["sqlite:".len()..];
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    if path.is_empty() || path == ":memory:" {
        return Err(format!(
            "{value:?} names no file (an in-memory database would lose every grade at exit): {ACCEPTED}"
        ));
    }
    Ok(Database::Sqlite(PathBuf::from(path)))
}

/// A URL with its password, if any, replaced by `***` (done on the text, so that a URL
/// too broken to parse does not show its password either).
fn redact(value: &str) -> String {
    let Some(start) = value.find("://").map(|at| at + 3) else {
        return value.to_owned();
    };
    let authority_end = value[start..]
        .find(['/', '?', '#'])
        .map_or(value.len(), |at| start + at);
    let Some(at) = value[start..authority_end].rfind('@').map(|at| start + at) else {
        return value.to_owned();
    };
    match value[start..at].find(':').map(|colon| start + colon) {
        Some(colon) => format!("{}:***{}", &value[..colon], &value[at..]),
        None => value.to_owned(),
    }
}

impl Database {
    /// `postgres` or `sqlite`, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

/// Names the database without its password: safe for logs, errors and `/healthz`.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "SQLite file {}", path.display()),
            Database::Postgres(url) => write!(f, "PostgreSQL {}", redact(url)),
        }
    }
}

/// As `Display`: a `Debug` of the config must not print a password either.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Database, String> {
        value.parse()
    }

    #[test]
    fn paths_and_sqlite_urls_are_sqlite_files() {
        for (value, path) in [
            ("./grades.db", "./grades.db"),
            ("grades.db", "grades.db"),
            (
                "/var/lib/distributed/grades.db",
                "/var/lib/distributed/grades.db",
            ),
            ("sqlite:./grades.db", "./grades.db"),
            ("sqlite://grades.db", "grades.db"),
            ("sqlite:///tmp/g.db?mode=rwc", "/tmp/g.db"),
            ("SQLITE:g.db", "g.db"),
            ("dir with: colon/g.db", "dir with: colon/g.db"),
        ] {
            assert_eq!(parse(value), Ok(Database::Sqlite(path.into())), "{value}");
        }
    }

    #[test]
    fn postgres_urls_are_postgres() {
        for value in [
            "postgres://u:p@127.0.0.1:5432/grades",
            "postgresql://db.example/grades?sslmode=require",
            "postgres://localhost",
        ] {
            assert_eq!(
                parse(value),
                Ok(Database::Postgres(value.into())),
                "{value}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_what_is_accepted() {
        for (value, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            ("postgres:", "names no server"),
            ("postgres:grades", "names no server"),
            ("postgresql:///grades", "names no server"),
            (
                "mysql://root@db/grades",
                "mysql: databases are not supported",
            ),
            ("http://example.com/db", "http: databases are not supported"),
            ("sqlite:", "names no file"),
            ("sqlite::memory:", "names no file"),
        ] {
            let err = parse(value).unwrap_err();
            assert!(err.contains(reason), "{value:?}: {err}");
            assert!(err.contains(ACCEPTED), "{value:?}: {err}");
        }
    }

    #[test]
    fn a_password_is_never_shown() {
        let db = parse("postgres://grader:s3cret@db:5432/grades").unwrap();
        for shown in [db.to_string(), format!("{db:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("db:5432/grades"), "{shown}");
        }
        let err = parse("postgres://grader:s3cret@:5432/grades").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
