//! The log's files on disk: the current file (`distributed.log`) and the rotated ones
//! (`distributed.log.1` newest … `distributed.log.N` oldest), how they rotate, and how
//! they are read newest record first.

use std::{
    fs::{self, File},
    io::{self, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

/// How much of a file is read at a time when reading backwards.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct LogFiles {
    pub path: PathBuf,
    /// How many rotated files are kept besides the current one.
    pub keep: usize,
}

impl LogFiles {
    /// The rotated file number `n` (1 is the newest).
    pub fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Every file that exists, newest first.
    pub fn newest_first(&self) -> Vec<PathBuf> {
        std::iter::once(self.path.clone())
            .chain((1..=self.keep).map(|n| self.rotated(n)))
            .filter(|path| path.exists())
            .collect()
    }

    /// Shifts the rotated files up by one, dropping the oldest, and moves the current
    /// file to `.1`. The caller then opens a new current file.
    pub fn rotate(&self) -> io::Result<()> {
        if self.keep == 0 {
            return fs::remove_file(&self.path);
        }
        let oldest = self.rotated(self.keep);
        if oldest.exists() {
            fs::remove_file(&oldest)?;
        }
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))
    }
}

/// Calls `visit` with each complete line of the file at `path` (without its newline),
/// last line first, until `visit` returns false. A last line without its newline (torn
/// by a crash while being written) is skipped. A missing file has no lines.
pub fn lines_backwards(path: &Path, mut visit: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let mut pos = file.metadata()?.len();
    // Bytes after `pos` not yet visited: the start of a line whose beginning lies further
    // back in the file.
    let mut tail: Vec<u8> = Vec::new();
    // Until the first newline is found (from the end), what follows it is the torn end.
    let mut at_end = true;
    while pos > 0 {
        let start = pos.saturating_sub(CHUNK as u64);
        let mut data = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut data)?;
        data.extend_from_slice(&tail);
        pos = start;
        let mut end = data.len();
        while let Some(newline) = data[..end].iter().rposition(|&b| b == b'\n') {
            if at_end {
                at_end = false;
            } else if !visit(&data[newline + 1..end]) {
                return Ok(());
            }
            end = newline;
        }
        data.truncate(end);
        tail = data;
    }
    if !at_end {
        visit(&tail);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn lines(content: &[u8]) -> Vec<String> {
        let dir = tempdir();
        let path = dir.join("f.log");
        fs::write(&path, content).unwrap();
        let mut seen = Vec::new();
        lines_backwards(&path, |line| {
            seen.push(String::from_utf8(line.to_vec()).unwrap());
            true
        })
        .unwrap();
        seen
    }

    /// A fresh directory for a test's files (see [`testkit::TestDir`]).
    pub(crate) fn tempdir() -> testkit::TestDir {
        testkit::TestDir::new("logs")
    }

    #[test]
    fn lines_come_last_first_and_a_torn_end_is_skipped() {
        assert_eq!(lines(b"a\nb\nc\n"), ["c", "b", "a"]);
        assert_eq!(lines(b"a\nb\ntor"), ["b", "a"]);
        assert_eq!(lines(b"torn only"), Vec::<String>::new());
        assert_eq!(lines(b""), Vec::<String>::new());
        assert_eq!(lines(b"\n\n"), ["", ""]);
    }

    #[test]
    fn lines_across_chunk_boundaries_stay_whole() {
        let long: Vec<String> = (0..500)
            .map(|i| format!("{i}:{}", "x".repeat(700 + i)))
            .collect();
        let mut content = long.join("\n");
        content.push('\n');
        let mut expected = long.clone();
        expected.reverse();
        assert_eq!(lines(content.as_bytes()), expected);
    }

    #[test]
    fn rotation_keeps_the_configured_number_of_files() {
        let dir = tempdir();
        let files = LogFiles {
            path: dir.join("d.log"),
            keep: 2,
        };
        for generation in 0..4 {
            fs::write(&files.path, format!("{generation}\n")).unwrap();
            files.rotate().unwrap();
        }
        fs::write(&files.path, "4\n").unwrap();
        let contents: Vec<String> = files
            .newest_first()
            .iter()
            .map(|p| fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(contents, ["4\n", "3\n", "2\n"]);
    }
}
