//! Directories for the files of a test or a benchmark, made with the `tempfile` crate
//! under `<temp>/distributed-tests/`, each named after the process that made it.
//!
//! A [`TestDir`] is deleted when its last handle is dropped, unless the test failed (the
//! thread is panicking): then it is kept, and its path printed, for a look at the logs
//! in it. A [`TestDir::scratch`] (the benchmark's) goes even then; one made by
//! [`TestDir::for_the_run`] is kept until a later run. A run that was killed drops
//! nothing, so the first dir made in each process deletes those of processes that have
//! ended.

use std::{
    ops::Deref,
    path::{Path, PathBuf},
    sync::{Arc, Once},
};

/// A directory of a test's files; cheap to clone, deleted when the last clone goes. A
/// process running in it holds a clone, so the dir outlives it.
#[derive(Clone)]
pub struct TestDir(Arc<Inner>);

struct Inner {
    dir: Option<tempfile::TempDir>,
    /// Kept when the test fails, for a look at what is in it.
    keep_on_failure: bool,
}

impl TestDir {
    /// A fresh directory named after `tag`, kept if the test fails.
    pub fn new(tag: &str) -> TestDir {
        TestDir::make(tag, true)
    }

    /// A fresh directory named after `tag`, deleted even when a panic unwinds: for the
    /// benchmark's gigabytes of logs and grades, which nobody reads after a failure.
    pub fn scratch(tag: &str) -> TestDir {
        TestDir::make(tag, false)
    }

    fn make(tag: &str, keep_on_failure: bool) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-{tag}-", std::process::id()))
            .tempdir_in(root())
            .expect("cannot make a temp dir");
        TestDir(Arc::new(Inner {
            dir: Some(dir),
            keep_on_failure,
        }))
    }

    /// A fresh directory named after `tag`, kept for the rest of the run (a test whose
    /// processes outlive its scope, or that hands the path around); the first dir made by
    /// a later run deletes it.
    pub fn for_the_run(tag: &str) -> PathBuf {
        let made = TestDir::new(tag);
        let mut inner = Arc::into_inner(made.0).expect("the only handle");
        inner.dir.take().expect("made").keep()
    }

    pub fn path(&self) -> &Path {
        self.0.dir.as_ref().expect("made").path()
    }
}

impl Deref for TestDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        if self.keep_on_failure && std::thread::panicking() {
            eprintln!("testkit: kept {} (the test failed)", dir.keep().display());
        }
    }
}

/// `<temp>/distributed-tests`, swept of the dirs of ended processes once per process.
fn root() -> PathBuf {
    static SWEPT: Once = Once::new();
    let root = std::env::temp_dir().join("distributed-tests");
    std::fs::create_dir_all(&root).expect("cannot make the tests' temp dir");
    SWEPT.call_once(|| sweep_ended(&root));
    root
}

/// Deletes what processes no longer running left under `root` (their dirs are named
/// `<pid>-…`).
fn sweep_ended(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let running = Path::new("/proc").join(pid.to_string()).exists();
        if pid != std::process::id() && !running {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TestDir;

    #[test]
    fn a_dir_goes_with_its_last_handle_and_stays_when_a_test_fails() {
        let dir = TestDir::new("kept");
        let held = dir.clone();
        let path = dir.to_path_buf();
        drop(dir);
        assert!(path.exists(), "a clone still holds it");
        drop(held);
        assert!(!path.exists());

        let failed = std::thread::spawn(|| {
            let dir = TestDir::new("failed");
            let path = dir.to_path_buf();
            std::panic::panic_any(path);
        })
        .join()
        .unwrap_err();
        let path = failed.downcast::<std::path::PathBuf>().unwrap();
        assert!(path.exists(), "kept for a look");
        std::fs::remove_dir_all(*path).unwrap();

        let scratch = std::thread::spawn(|| {
            let dir = TestDir::scratch("scratch");
            let path = dir.to_path_buf();
            std::panic::panic_any(path);
        })
        .join()
        .unwrap_err();
        let path = scratch.downcast::<std::path::PathBuf>().unwrap();
        assert!(!path.exists(), "a scratch dir goes even then");

        let kept = TestDir::for_the_run("run");
        assert!(kept.exists(), "kept for the run");
        std::fs::remove_dir_all(kept).unwrap();
    }
}
