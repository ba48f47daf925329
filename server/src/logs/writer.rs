//! The log's one writer: a dedicated thread that takes every pending write request at
//! once, stamps the records (so file order is time order), appends them with a single
//! write, optionally fsyncs, announces the records to live subscribers, and only then
//! answers each request. Concurrent writers thus share writes instead of each opening,
//! writing and closing the file as the original did. It also rotates the file when it
//! passes its size limit.
//!
//! A write that fails part-way (a full disk, an I/O error) is never acknowledged, and it
//! must not cost a later record: the writer cuts the file back to the end of the last
//! good record, or, if even that fails, starts the next write on a new line, so the torn
//! bytes stand alone on a line the reader skips.

use std::{
    fs::{File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    sync::Arc,
    time::SystemTime,
};

use app::wire::logs::LogRecord;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{files::LogFiles, record};

/// Most requests merged into one write.
const MAX_REQUESTS_PER_WRITE: usize = 4096;

/// A message to store: the service it came from and its text.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub service: String,
    pub message: String,
}

struct Request {
    messages: Vec<Incoming>,
    done: oneshot::Sender<io::Result<()>>,
}

/// The handle request handlers write through. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    requests: mpsc::Sender<Request>,
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
    /// Opens (or creates) the current file for appending and starts the writer thread.
    /// A torn last line left by a crash is closed off with a newline, never truncated.
    pub fn start(files: LogFiles, max_bytes: u64, fsync: Fsync) -> io::Result<LogWriter> {
        if let Some(parent) = files.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let (file, size) = open_for_append(&files)?;
        let (requests, receiver) = mpsc::channel(MAX_REQUESTS_PER_WRITE);
        let live = broadcast::channel(4096).0;
        let mut writer = Writer {
            files,
            max_bytes,
            fsync,
            file,
            size,
            torn: false,
            live: live.clone(),
        };
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run(receiver))?;
        Ok(LogWriter { requests, live })
    }

    /// Stores `messages`; returns once they are in the file (and synced, if so set).
    pub async fn write(&self, messages: Vec<Incoming>) -> io::Result<()> {
        let (done, answer) = oneshot::channel();
        self.requests
            .send(Request { messages, done })
            .await
            .map_err(|_| io::Error::other("the log writer has stopped"))?;
        answer
            .await
            .map_err(|_| io::Error::other("the log writer has stopped"))?
    }

    /// Whether the writer still takes records.
    pub fn running(&self) -> bool {
        !self.requests.is_closed()
    }

    /// Every record stored from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogRecord>> {
        self.live.subscribe()
    }
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
    live: broadcast::Sender<Arc<LogRecord>>,
}

impl Writer {
    fn run(&mut self, mut receiver: mpsc::Receiver<Request>) {
        let mut batch = Vec::new();
        let mut text = String::new();
        while let Some(first) = receiver.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_REQUESTS_PER_WRITE {
                match receiver.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
            let records: Vec<LogRecord> = batch
                .iter_mut()
                .flat_map(|request| std::mem::take(&mut request.messages))
                .map(|incoming| LogRecord {
                    time: time.clone(),
                    service: incoming.service,
                    message: incoming.message,
                })
                .collect();
            text.clear();
            for record in &records {
                record::encode(record, &mut text);
            }
            let result = self.append(text.as_bytes());
            let failed = result
                .as_ref()
                .err()
                .map(|err| (err.kind(), err.to_string()));
            // Publish before answering: a client that has its 200 and then opens a live
            // stream must not be sent the record it already wrote.
            if failed.is_none() {
                crate::ops::metrics::global()
                    .log_records_written
                    .inc_by(records.len() as u64);
                for record in records {
                    let _ = self.live.send(Arc::new(record));
                }
            }
            for request in batch.drain(..) {
                let answer = match &failed {
                    None => Ok(()),
                    Some((kind, text)) => Err(io::Error::new(*kind, text.clone())),
                };
                let _ = request.done.send(answer);
            }
            if let Err(err) = self.rotate_if_full() {
                tracing::error!(%err, "rotating the log failed; still writing to the current file");
            }
        }
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

    fn rotate_if_full(&mut self) -> io::Result<()> {
        if self.size < self.max_bytes {
            return Ok(());
        }
        self.file.sync_data()?;
        self.files.rotate()?;
        let (file, size) = open_for_append(&self.files)?;
        self.file = file;
        self.size = size;
        Ok(())
    }
}
