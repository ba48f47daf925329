//! The log's one writer: the open file, the records' time stamps, rotation, and the live
//! feed. Records are framed (stamped, escaped, checksummed) before the writer's lock is
//! taken; under it their stamp is settled (a later stamp already stored wins, so file
//! order is time order), they are appended and announced, so live subscribers see
//! records in file order.
//!
//! How a write reaches the file depends on `--fsync`:
//! - `never` (the default): the request's own task frames its records and appends them
//!   in place, under the lock, with one `write`. Handing each record to another thread
//!   and waiting for its answer cost more than the write itself.
//! - `always`: a dedicated thread takes every pending request at once and appends and
//!   syncs them with one `write` and one `fsync`, then answers each. Concurrent writers
//!   thus share an fsync, and the sync never blocks an async worker.
//!
//! A write that fails part-way (a full disk, an I/O error) is never acknowledged, and it
//! must not cost a later record: the writer cuts the file back to the end of the last
//! good record, or, if even that fails, starts the next write on a new line, so the torn
//! bytes stand alone on a line the reader skips.

use std::{
    borrow::Cow,
    fmt::Write as _,
    fs::{File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use parking_lot::Mutex;

use tokio::sync::{broadcast, mpsc, oneshot};
use wire::logs::LogRecord;

use super::{files::LogFiles, record};

/// The most requests merged into one write and fsync (`--fsync always`).
const MAX_REQUESTS_PER_SYNC: usize = 4096;

/// The most a thread keeps of its framing buffer between requests.
const MAX_KEPT_SCRATCH: usize = 1024 * 1024;

/// A message to store: the service it came from and its text, borrowed from the request
/// where it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub service: Cow<'a, str>,
    pub message: Cow<'a, str>,
    /// Neither holds a character the log file escapes (a control character or a
    /// backslash), as the request's parse already saw: framed without a second look.
    pub plain: bool,
}

impl Message<'_> {
    fn into_owned(self) -> Message<'static> {
        Message {
            service: Cow::Owned(self.service.into_owned()),
            message: Cow::Owned(self.message.into_owned()),
            plain: self.plain,
        }
    }
}

/// A batch waiting for the syncing thread.
struct Request {
    messages: Vec<Message<'static>>,
    done: oneshot::Sender<io::Result<()>>,
}

/// The handle request handlers write through. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    writer: Arc<Mutex<Writer>>,
    /// With `--fsync always`: the syncing thread's queue.
    syncing: Option<mpsc::Sender<Request>>,
    live: broadcast::Sender<Arc<LogRecord>>,
}

/// When records are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fsync {
    /// After every write, before answering (slow, survives power loss).
    Always,
    /// Never explicitly: a 200 means the record reached the file (the OS flushes it).
    Never,
}

impl LogWriter {
    /// Opens (or creates) the current file for appending, and with `--fsync always`
    /// starts the syncing thread. A torn last line left by a crash is closed off with a
    /// newline, never truncated.
    pub fn start(files: LogFiles, max_bytes: u64, fsync: Fsync) -> io::Result<LogWriter> {
        if let Some(parent) = files.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let (file, size) = open_for_append(&files)?;
        if fsync == Fsync::Always {
            // The file may have just been made: its directory entry must last too.
            file.sync_all()?;
            sync_dir(&files.path)?;
        }
        let live = broadcast::channel(4096).0;
        let writer = Arc::new(Mutex::new(Writer {
            files,
            max_bytes,
            fsync,
            file,
            size,
            torn: false,
            storing: false,
            stamp: String::new(),
            live: live.clone(),
            dir_syncs: u64::from(fsync == Fsync::Always),
        }));
        let syncing = match fsync {
            Fsync::Never => None,
            Fsync::Always => {
                let (requests, receiver) = mpsc::channel(MAX_REQUESTS_PER_SYNC);
                let writer = writer.clone();
                std::thread::Builder::new()
                    .name("log-sync".into())
                    .spawn(move || sync_batches(&writer, receiver))?;
                Some(requests)
            }
        };
        Ok(LogWriter {
            writer,
            syncing,
            live,
        })
    }

    /// Stores `messages`; returns once they are in the file (and synced, if so set).
    pub async fn write(&self, messages: &[Message<'_>]) -> io::Result<()> {
        let Some(syncing) = &self.syncing else {
            return SCRATCH.with_borrow_mut(|scratch| self.write_in_place(messages, scratch));
        };
        let (done, answer) = oneshot::channel();
        let messages = messages.iter().cloned().map(Message::into_owned).collect();
        syncing
            .send(Request { messages, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// `--fsync never`: stores `messages` on the calling thread (see [`frame_and_store`]).
    fn write_in_place(&self, messages: &[Message<'_>], scratch: &mut Scratch) -> io::Result<()> {
        let stored = frame_and_store(&self.writer, messages, scratch);
        if scratch.text.capacity() > MAX_KEPT_SCRATCH {
            // One huge batch must not pin its size on every worker thread for good.
            scratch.text = String::new();
        }
        stored
    }

    /// Whether the writer still takes records: a panic while storing stops it.
    pub fn running(&self) -> bool {
        // Held: a store is under way (a panic would have let it go), so none is stuck;
        // never waited for, as the disk may take its time.
        let stuck = self.writer.try_lock().is_some_and(|writer| writer.storing);
        !stuck && self.syncing.as_ref().is_none_or(|s| !s.is_closed())
    }

    /// Every record stored from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogRecord>> {
        self.live.subscribe()
    }
}

/// Frames `messages` before taking the writer's lock, so requests on other threads frame
/// theirs at the same time, then holds the lock to settle their stamp and store them.
fn frame_and_store(
    writer: &Mutex<Writer>,
    messages: &[Message<'_>],
    scratch: &mut Scratch,
) -> io::Result<()> {
    let Scratch { stamp, text } = scratch;
    let time = stamp.now();
    frame(time, messages, text);
    let mut writer = writer.lock();
    // Still set: a store panicked halfway (the lock does not poison; see `lib.rs`), and
    // the writer may hold a half-done write: refuse rather than guess.
    if writer.storing {
        return Err(stopped());
    }
    writer.storing = true;
    writer.settle_stamp(time, messages, text);
    let stored = writer.store(messages, text);
    writer.storing = false;
    stored
}

fn stopped() -> io::Error {
    io::Error::other("the log writer has stopped")
}

/// The syncing thread (`--fsync always`): stores every pending request with one write and
/// one fsync, then answers each.
fn sync_batches(writer: &Mutex<Writer>, mut receiver: mpsc::Receiver<Request>) {
    let mut batch = Vec::new();
    let mut messages = Vec::new();
    let mut scratch = Scratch::default();
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_REQUESTS_PER_SYNC {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        messages.extend(
            batch
                .iter_mut()
                .flat_map(|request| std::mem::take(&mut request.messages)),
        );
        let result = frame_and_store(writer, &messages, &mut scratch);
        messages.clear();
        let failed = result.err().map(|err| (err.kind(), err.to_string()));
        for request in batch.drain(..) {
            let answer = match &failed {
                None => Ok(()),
                Some((kind, text)) => Err(io::Error::new(*kind, text.clone())),
            };
            let _ = request.done.send(answer);
        }
    }
}

/// Syncs the directory that holds `path`, so the files it names (created, renamed) are
/// there after a power cut.
fn sync_dir(path: &std::path::Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    File::open(dir)?.sync_all()
}

fn open_for_append(files: &LogFiles) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&files.path)?;
    let mut size = file.metadata()?.len();
    if size > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(size - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            tracing::warn!(path = %files.path.display(), "the log ends in a torn record (a crash?); closing it off");
            file.write_all(b"\n")?;
            size += 1;
        }
    }
    Ok((file, size))
}

/// The time stamp of the current millisecond, formatted once per millisecond rather than
/// once per record.
#[derive(Default)]
struct Stamp {
    millis: u128,
    text: String,
}

impl Stamp {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let millis = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        if millis != self.millis || self.text.is_empty() {
            self.millis = millis;
            self.text.clear();
            let _ = write!(self.text, "{}", humantime::format_rfc3339_millis(now));
        }
        &self.text
    }
}

/// What a thread frames its records with, kept between requests.
#[derive(Default)]
struct Scratch {
    stamp: Stamp,
    text: String,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Writes `messages` into `text` as lines of the file, each stamped `time`.
fn frame(time: &str, messages: &[Message<'_>], text: &mut String) {
    text.clear();
    let framer = record::Framer::new(time);
    for message in messages {
        framer.encode(&message.service, &message.message, message.plain, text);
    }
}

struct Writer {
    files: LogFiles,
    max_bytes: u64,
    fsync: Fsync,
    file: File,
    /// Where the last good record ends: every byte before it is whole records.
    size: u64,
    /// A failed write left bytes after `size` that could not be cut off: the next write
    /// starts with a newline to close them off.
    torn: bool,
    /// A store is under way; still set after it returns only if it panicked.
    storing: bool,
    /// The time stamp of the last records stored: none stored later is stamped earlier.
    /// RFC 3339 stamps of one width order as text as they do in time.
    stamp: String,
    live: broadcast::Sender<Arc<LogRecord>>,
    /// How many times the log's directory was synced (at start and at each rotation, with
    /// `--fsync always`).
    dir_syncs: u64,
}

impl Writer {
    /// Takes `time` as the stamp of `messages`, framed with it in `text`. If records
    /// stored already have a later stamp (a request on another thread stamped after this
    /// one but stored first, or the clock stepped back), these take that stamp instead
    /// and are framed again, so the file stays in time order.
    fn settle_stamp(&mut self, time: &str, messages: &[Message<'_>], text: &mut String) {
        if time < self.stamp.as_str() {
            frame(&self.stamp, messages, text);
        } else if self.stamp != time {
            self.stamp.clear();
            self.stamp.push_str(time);
        }
    }

    /// Appends `messages`, framed in `text` and stamped [`Writer::stamp`], with one write
    /// (and one fsync, if so set), then announces them to live subscribers, then rotates
    /// the file if it is full.
    fn store(&mut self, messages: &[Message<'_>], text: &str) -> io::Result<()> {
        self.append(text.as_bytes())?;
        crate::ops::metrics::global()
            .log_records_written
            .inc_by(messages.len() as u64);
        // Announced before the writer answers: a client that has its 200 and then opens
        // a live stream must not be sent the record it already wrote. Built only when
        // someone listens.
        if self.live.receiver_count() > 0 {
            for message in messages {
                let _ = self.live.send(Arc::new(LogRecord {
                    time: self.stamp.clone(),
                    service: message.service.to_string(),
                    message: message.message.to_string(),
                }));
            }
        }
        if let Err(err) = self.rotate_if_full() {
            tracing::error!(%err, "rotating the log failed; still writing to the current file");
        }
        Ok(())
    }

    /// Appends `bytes` (whole records) and, if so set, syncs them. On failure the file is
    /// left so that every later record reads back: see the module documentation.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let result = self.try_append(bytes);
        match &result {
            Ok(()) if self.torn => {
                // The torn bytes' length is unknown: ask the file where it ends now.
                self.size = self.file.metadata().map_or(self.size, |meta| meta.len());
                self.torn = false;
            }
            Ok(()) => self.size += bytes.len() as u64,
            Err(_) => self.cut_back(),
        }
        result
    }

    fn try_append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.torn {
            self.file.write_all(b"\n")?;
        }
        self.file.write_all(bytes)?;
        if self.fsync == Fsync::Always {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// After a failed write: drops whatever it left after the last good record. (A
    /// record written but not synced is dropped too: it was not acknowledged, and its
    /// client will send it again.)
    fn cut_back(&mut self) {
        let cut = self
            .file
            .set_len(self.size)
            .and_then(|()| self.file.seek(SeekFrom::End(0)).map(drop));
        match cut {
            Ok(()) => self.torn = false,
            Err(err) => {
                tracing::error!(%err, "cannot cut a failed write off the log; the next record starts a new line");
                self.torn = true;
            }
        }
    }

    /// Rotates by renaming. With `--fsync always`, the new file and its directory are
    /// synced before any record goes into it: every record is synced already, but the
    /// renames and the new file are entries of the directory, and until the directory is
    /// synced a power cut can lose the new file with the records acknowledged in it. With
    /// `never` nothing is promised beyond the OS writing the files back.
    fn rotate_if_full(&mut self) -> io::Result<()> {
        if self.size < self.max_bytes {
            return Ok(());
        }
        self.files.rotate()?;
        let (file, size) = open_for_append(&self.files)?;
        if self.fsync == Fsync::Always {
            file.sync_all()?;
            sync_dir(&self.files.path)?;
            self.dir_syncs += 1;
        }
        self.file = file;
        self.size = size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::files::tests::tempdir;
    use testkit::TestDir as TempDir;

    /// A writer on a fresh file of its own, and that file's path; the directory goes
    /// when the guard drops.
    fn writer(fsync: Fsync) -> (LogWriter, std::path::PathBuf, TempDir) {
        let dir = tempdir();
        let path = dir.join("w.log");
        let files = LogFiles {
            path: path.clone(),
            keep: 1,
        };
        let writer = LogWriter::start(files, 1 << 30, fsync).unwrap();
        (writer, path, dir)
    }

    fn message<'a>(service: &'a str, message: &'a str) -> Message<'a> {
        Message {
            service: Cow::Borrowed(service),
            message: Cow::Borrowed(message),
            plain: false,
        }
    }

    fn stored(path: &std::path::Path) -> Vec<LogRecord> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| record::decode(line.as_bytes()).expect("a whole record"))
            .collect()
    }

    /// With `--fsync always`, a record acknowledged in the file a rotation made is there
    /// after a power cut: the new file and its directory were synced before it was
    /// acknowledged (renames and a new file are the directory's to keep).
    #[tokio::test]
    async fn with_fsync_always_a_rotation_syncs_the_directory_before_the_next_record() {
        let dir = tempdir();
        let path = dir.join("r.log");
        let files = LogFiles {
            path: path.clone(),
            keep: 2,
        };
        let writer = LogWriter::start(files.clone(), 300, Fsync::Always).unwrap();
        assert_eq!(writer.writer.lock().dir_syncs, 1, "at start");
        let mut written = 0;
        while !files.rotated(1).exists() {
            writer
                .write(&[message("S", "fill the file")])
                .await
                .unwrap();
            written += 1;
            assert!(written < 100, "the log never rotated");
        }
        // The rotation happened after the last record, and before the next goes into
        // the new file: the directory was synced at start and at the rotation.
        assert_eq!(writer.writer.lock().dir_syncs, 2);
        writer
            .write(&[message("S", "in the new file")])
            .await
            .unwrap();
        assert_eq!(stored(&path).last().unwrap().message, "in the new file");
    }

    #[tokio::test]
    async fn records_stored_after_a_later_stamp_take_that_stamp() {
        // As if another thread had stamped a later time and stored first, or the clock
        // had stepped back: the file must stay in time order.
        let (writer, path, _dir) = writer(Fsync::Never);
        writer.write(&[message("S", "first")]).await.unwrap();
        let later = "2999-01-01T00:00:00.000Z";
        writer.writer.lock().stamp = later.to_owned();
        writer
            .write(&[message("S", "second"), message("T", "third")])
            .await
            .unwrap();
        let records = stored(&path);
        let times: Vec<&str> = records.iter().map(|r| r.time.as_str()).collect();
        assert!(times[0] < later, "{times:?}");
        assert_eq!(times[1..], [later, later]);
        let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages, ["first", "second", "third"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_are_whole_and_in_time_order() {
        let (writer, path, _dir) = writer(Fsync::Never);
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    for n in 0..200 {
                        let text = format!("task {task} record {n}\twith a tab");
                        writer.write(&[message("S", &text)]).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let records = stored(&path);
        assert_eq!(records.len(), 1600);
        assert!(records.windows(2).all(|w| w[0].time <= w[1].time));
        for task in 0..8 {
            let mine: Vec<&str> = records
                .iter()
                .map(|r| r.message.as_str())
                .filter(|m| m.starts_with(&format!("task {task} ")))
                .collect();
            let expected: Vec<String> = (0..200)
                .map(|n| format!("task {task} record {n}\twith a tab"))
                .collect();
            assert_eq!(
                mine, expected,
                "each task's records in the order it wrote them"
            );
        }
    }

    #[tokio::test]
    async fn live_subscribers_get_each_record_once_stored_in_both_modes() {
        for fsync in [Fsync::Never, Fsync::Always] {
            let (writer, path, _dir) = writer(fsync);
            writer.write(&[message("S", "before")]).await.unwrap();
            let mut live = writer.subscribe();
            writer
                .write(&[message("S", "one"), message("T", "two")])
                .await
                .unwrap();
            let got: Vec<String> = vec![
                live.recv().await.unwrap().message.clone(),
                live.recv().await.unwrap().message.clone(),
            ];
            assert_eq!(got, ["one", "two"], "{fsync:?}");
            assert!(live.try_recv().is_err(), "nothing else was announced");
            assert_eq!(stored(&path).len(), 3, "{fsync:?}");
            assert!(writer.running());
        }
    }
}
