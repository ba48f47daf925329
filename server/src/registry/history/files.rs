//! The history's files: one folder (`--history-dir`) that one registry locks, holding
//! segment files named for the time of their first record (`<micros>.history`, so their
//! names sort in time order). Every segment starts with a checkpoint, so retention can
//! delete the oldest whole and what is left still replays.
//!
//! At start-up every segment is read once to index it: the time and id of its first and
//! last records and where its checkpoints are. Only the lines' heads are parsed for that;
//! a line that fails its check is counted and skipped.

use std::{
    fs::{self, File},
    io::{self, BufRead, BufReader, Seek, SeekFrom},
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use super::record::{self, Line, Tag};
use crate::registry::journal::EventId;

/// The ending of a segment file's name.
pub const SEGMENT_EXTENSION: &str = "history";
/// The file a registry locks for as long as it uses the folder.
pub const LOCK_FILE: &str = "LOCK";
/// How much of a segment is read at a time.
const READ_BUFFER: usize = 256 * 1024;

/// The folder could not be used; the message says which flag to change.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot use the registry's history folder {path:?}: {source}. Pass a writable folder \
         with --history-dir (or --history-dir off to keep no history)."
    )]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "another registry is using the history folder {path:?}: give each registry its own \
         with --history-dir"
    )]
    Locked { path: PathBuf },
}

/// Where a checkpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub id: EventId,
    pub micros: u64,
    pub offset: u64,
}

/// One segment file, as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    /// Its checkpoints, in order; the first is at offset 0 in a whole segment.
    pub checkpoints: Vec<Mark>,
    /// Its last record's id and time.
    pub last_id: EventId,
    pub last_micros: u64,
    pub bytes: u64,
}

impl Segment {
    /// A new, empty segment at `path`.
    pub fn new(path: PathBuf) -> Segment {
        Segment {
            path,
            checkpoints: Vec::new(),
            last_id: EventId::all_of(0),
            last_micros: 0,
            bytes: 0,
        }
    }

    /// The time of its first checkpoint (0 if it has none).
    pub fn first_micros(&self) -> u64 {
        self.checkpoints.first().map_or(0, |mark| mark.micros)
    }
}

/// Creates `dir` if need be and locks it for this process.
///
/// # Errors
/// The folder cannot be created or locked, or another process holds it.
pub fn lock(dir: &Path) -> Result<File, OpenError> {
    let io = |source| OpenError::Io {
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(fs::TryLockError::WouldBlock) => Err(OpenError::Locked {
            path: dir.to_owned(),
        }),
        Err(fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

/// The segment files in `dir`, oldest first.
///
/// # Errors
/// The folder cannot be read.
pub fn segments(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == SEGMENT_EXTENSION))
        .collect();
    paths.sort();
    Ok(paths)
}

/// The name of a segment whose first record is at `micros`.
pub fn segment_name(micros: u64) -> String {
    format!("{micros:020}.{SEGMENT_EXTENSION}")
}

/// Indexes the segment at `path`: its checkpoints and last record, and how many of its
/// lines were skipped (torn or corrupt). A segment without a checkpoint (cut short at
/// its very start) has none to replay from and is left out of queries.
///
/// # Errors
/// The file cannot be read.
pub fn index(path: &Path) -> io::Result<(Segment, u64)> {
    let mut segment = Segment::new(path.to_owned());
    let mut skipped = 0;
    let bytes = read(path, 0, &mut skipped, |offset, line| {
        if line.tag == Tag::Checkpoint {
            segment.checkpoints.push(Mark {
                id: line.id,
                micros: line.micros,
                offset,
            });
        }
        segment.last_id = line.id;
        segment.last_micros = line.micros;
        ControlFlow::Continue(())
    })?;
    segment.bytes = bytes;
    Ok((segment, skipped))
}

/// Reads the records of the file at `path` from `offset` in order, giving each with its
/// offset to `visit` until it breaks. Lines that fail their check are counted in
/// `skipped`; a last line without its newline (being written, or torn) is not read.
/// Returns the offset it stopped at.
///
/// # Errors
/// The file cannot be read.
pub fn read(
    path: &Path,
    offset: u64,
    skipped: &mut u64,
    mut visit: impl FnMut(u64, Line<'_>) -> ControlFlow<()>,
) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    let mut at = offset;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 || line.last() != Some(&b'\n') {
            return Ok(at);
        }
        match record::decode(&line) {
            Some(decoded) => {
                if visit(at, decoded).is_break() {
                    return Ok(at);
                }
            }
            None => *skipped += 1,
        }
        at += read as u64;
    }
}
