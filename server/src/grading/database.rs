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

/// Why a `--database` value is refused; each says what is accepted. None repeats a
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadDatabase {
    #[error("the database is empty: {ACCEPTED}")]
    Empty,
    #[error("it is not UTF-8: {ACCEPTED}")]
    NotUtf8,
    #[error("{scheme}: databases are not supported: {ACCEPTED}")]
    Unsupported { scheme: String },
    #[error("{redacted:?} is not a URL: {ACCEPTED}")]
    NotAUrl {
        redacted: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{redacted:?} names no server: {ACCEPTED}")]
    NoServer { redacted: String },
    #[error(
        "{value:?} names no file (an in-memory database would lose every grade at exit): \
         {ACCEPTED}"
    )]
    NoFile { value: String },
}

impl FromStr for Database {
    type Err = BadDatabase;

    fn from_str(value: &str) -> Result<Database, BadDatabase> {
        let value = value.trim();
        if value.is_empty() {
            return Err(BadDatabase::Empty);
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
            Some(scheme) if value.contains("://") => Err(BadDatabase::Unsupported {
                scheme: scheme.to_owned(),
            }),
            _ => Ok(Database::Sqlite(PathBuf::from(value))),
        }
    }
}

/// `--database` for clap: as [`Database::from_str`], but a refusal never repeats the
/// value as given (clap's own message would, password and all).
#[derive(Debug, Clone, Copy)]
pub struct DatabaseParser;

impl clap::builder::TypedValueParser for DatabaseParser {
    type Value = Database;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Database, clap::Error> {
        let refused = |err: BadDatabase| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "invalid value for --database: {}\n",
                    crate::errors::report(&err)
                ),
            )
        };
        let text = value
            .to_str()
            .ok_or_else(|| refused(BadDatabase::NotUtf8))?;
        text.parse().map_err(refused)
    }
}

fn postgres(value: &str) -> Result<Database, BadDatabase> {
    let url = reqwest::Url::parse(value).map_err(|source| BadDatabase::NotAUrl {
        redacted: redact(value),
        source,
    })?;
    if !value.contains("://") || url.host_str().is_none_or(str::is_empty) {
        return Err(BadDatabase::NoServer {
            redacted: redact(value),
        });
    }
    Ok(Database::Postgres(value.to_owned()))
}

fn sqlite(value: &str) -> Result<Database, BadDatabase> {
    let rest = &value["sqlite:".len()..];
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    if path.is_empty() || path == ":memory:" {
        return Err(BadDatabase::NoFile {
            value: value.to_owned(),
        });
    }
    Ok(Database::Sqlite(PathBuf::from(path)))
}

/// A URL with every password in it replaced by `***`, in each form the PostgreSQL
/// driver takes one: `user:password@` and the query's `password=` or `sslpassword=`
/// (any key with "pass" in it, however percent-encoded, as the driver decodes keys).
/// Done on the text, so a URL too broken to parse shows no password either; when unsure
/// where the user part ends (a password holding `/`, `?` or `@`), it hides more, never
/// less.
pub fn redact(value: &str) -> String {
    // The query first: a password there may hold `@` or `:`.
    let value = redact_query(value);
    // After `scheme://`, or, in a URL written without the slashes (`postgres:u:p@db`),
    // after `scheme:`.
    let Some(start) = value
        .find("://")
        .map(|at| at + 3)
        .or_else(|| value.find(':').map(|at| at + 1))
    else {
        return value;
    };
    // The user part ends at the last `@` (a password may hold `/`, `?` or `#`).
    match value[start..].rfind('@').map(|at| start + at) {
        Some(at) => match value[start..at].find(':') {
            Some(colon) => format!("{}:***{}", &value[..start + colon], &value[at..]),
            None => value,
        },
        None => value,
    }
}

/// `text` with the value of every query parameter whose key (percent-decoded) holds
/// "pass" replaced by `***`; the query starts at the first `?`.
fn redact_query(text: &str) -> String {
    let Some(question) = text.find('?') else {
        return text.to_owned();
    };
    let (head, query) = text.split_at(question + 1);
    let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
    let pairs: Vec<String> = query
        .split(['&', ';'])
        .map(|pair| {
            let (key, _) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded: String = url::form_urlencoded::parse(key.as_bytes())
                .map(|(k, v)| format!("{k}{v}"))
                .collect();
            if decoded.to_ascii_lowercase().contains("pass") {
                format!("{key}=***")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{head}{}{fragment}", pairs.join("&"))
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
        value
            .parse()
            .map_err(|err: BadDatabase| crate::errors::report(&err))
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

    #[test]
    fn every_form_of_password_the_driver_takes_is_redacted() {
        for (url, shown) in [
            (
                "postgres://grader:s3cret@db:5432/grades",
                "postgres://grader:***@db:5432/grades",
            ),
            (
                "postgres://grader@db/grades?password=s3cret&sslmode=require",
                "postgres://grader@db/grades?password=***&sslmode=require",
            ),
            (
                "postgresql://db/grades?sslmode=verify-full&sslpassword=s3cret",
                "postgresql://db/grades?sslmode=verify-full&sslpassword=***",
            ),
            (
                "postgres://db/grades?PASSWORD=s3cret#x",
                "postgres://db/grades?PASSWORD=***#x",
            ),
            (
                "postgres://db/grades?pass%77ord=s3cret",
                "postgres://db/grades?pass%77ord=***",
            ),
            (
                "postgres://grader:s3/c?r@t@db/grades?password=s3cret",
                "postgres://grader:***@db/grades?password=***",
            ),
            (
                "postgres://db/grades?password=a:s3@cret",
                "postgres://db/grades?password=***",
            ),
            (
                "postgres:grader:s3cret@db/grades",
                "postgres:grader:***@db/grades",
            ),
            ("postgres:/grader:s3cret@db", "postgres:/grader:***@db"),
            ("postgres://db/grades", "postgres://db/grades"),
            ("postgres://grader@db/grades", "postgres://grader@db/grades"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            if let Ok(db) = parse(url) {
                assert!(!db.to_string().contains("s3"), "{db}");
            }
        }
    }
}
