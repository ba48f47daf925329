//! The log service: a central, durable log that every service writes to over HTTP.
//!
//! | module | owns |
//! | --- | --- |
//! | [`http`] | the HTTP API on `/log` |
//! | [`record`] | the record codec: one message, one line |
//! | [`writer`] | the open file, the records' stamps, rotation and the live feed |
//! | [`files`] | the files on disk: rotation, reading backwards |
//! | [`query`] | filters over stored and live records |

pub mod files;
pub mod http;
pub mod query;
pub mod record;
pub mod writer;

use std::{io, path::PathBuf, sync::Arc};

use tokio_util::sync::CancellationToken;

pub use http::router;

use files::LogFiles;
use writer::{Fsync, LogWriter};

/// Settings of the log service.
#[derive(Debug, Clone, clap::Args)]
pub struct LogConfig {
    /// The log file; rotated files sit beside it as `<file>.1`, `<file>.2`, ...
    #[arg(long, env = "LOG_FILE", default_value = "./distributed.log")]
    pub log_file: PathBuf,

    /// When to fsync: `never` (a 200 means the record reached the file) or `always`
    /// (each write is synced before it is answered).
    #[arg(long, env = "LOG_FSYNC", value_enum, default_value = "never")]
    pub fsync: Fsync,

    /// Size at which the file is rotated, e.g. `64MiB`, `500KiB`, or bytes.
    #[arg(long, env = "LOG_MAX_FILE_SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_file_size: u64,

    /// How many rotated files are kept.
    #[arg(long, env = "LOG_KEEP_FILES", default_value_t = 4)]
    pub keep_files: usize,
}

/// The log file could not be opened; says which flag to change.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {path:?}: {source}. Pass a writable path with --log-file.")]
pub struct OpenError {
    path: PathBuf,
    source: io::Error,
}

/// A running log service. Cheap to clone: one `Arc`, since every request clones it
/// (cloning the parts themselves took a lock in the cancellation token each time).
#[derive(Clone)]
pub struct LogService(Arc<Parts>);

/// What a [`LogService`] holds.
pub struct Parts {
    files: LogFiles,
    writer: LogWriter,
    shutdown: CancellationToken,
    /// A permit for each query searching the files ([`query::MAX_SEARCHES`]).
    searches: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for LogService {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl LogService {
    /// Opens the log and starts its writer; live streams end when `shutdown` is cancelled.
    ///
    /// # Errors
    /// The log file cannot be opened for appending; the error names the flag to change.
    pub fn start(config: &LogConfig, shutdown: CancellationToken) -> Result<LogService, OpenError> {
        let files = LogFiles {
            path: config.log_file.clone(),
            keep: config.keep_files,
        };
        let writer = LogWriter::start(files.clone(), config.max_file_size, config.fsync).map_err(
            |source| OpenError {
                path: config.log_file.clone(),
                source,
            },
        )?;
        Ok(LogService(Arc::new(Parts {
            files,
            writer,
            shutdown,
            searches: Arc::new(tokio::sync::Semaphore::new(query::MAX_SEARCHES)),
        })))
    }

    /// The service's `/healthz` check: its writer runs and its file is there.
    pub fn health(&self) -> crate::ops::health::Health {
        let (writer, path) = (self.writer.clone(), self.files.path.clone());
        crate::ops::health::Health::new().with(
            "log writer",
            Arc::new(move || {
                let (writer, path) = (writer.clone(), path.clone());
                Box::pin(async move {
                    if !writer.running() {
                        return Err("the log writer has stopped".to_owned());
                    }
                    std::fs::metadata(&path)
                        .map(|_| ())
                        .map_err(|err| format!("{}: {err}", path.display()))
                })
            }),
        )
    }

    /// Stores records directly, without HTTP (for the process hosting the service).
    pub fn writer(&self) -> &LogWriter {
        &self.writer
    }
}

/// Parses a size such as `64MiB`, `500KiB`, `1GiB` or plain bytes.
///
/// # Errors
/// The text is not a size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 64MiB"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" | "kb" => 1024,
        "mib" | "m" | "mb" => 1024 * 1024,
        "gib" | "g" | "gb" => 1024 * 1024 * 1024,
        other => return Err(format!("unknown size unit {other:?}: use KiB, MiB or GiB")),
    };
    match number.checked_mul(factor) {
        Some(0) | None => Err(format!("{text:?} must be above zero and below 16 EiB")),
        Some(bytes) => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_open_error_names_the_path_and_the_flag() {
        let err = super::OpenError {
            path: "/nowhere/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("cannot open the log file \"/nowhere/x\": "),
            "{text}"
        );
        assert!(
            text.ends_with(". Pass a writable path with --log-file."),
            "{text}"
        );
    }
}
