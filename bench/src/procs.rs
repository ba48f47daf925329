//! Child processes of the benchmark: the release binaries under test, and this binary's
//! own helper modes (`bare`, `bare-log`, `stub`). Each is a [`testkit::Child`] (killed
//! when dropped) that binds a port the kernel picks and says which
//! ([`testkit::process::LISTENING`]), so no figure races another program for a port. The
//! temp dirs of a run go at its end, also when a figure panics.

use std::{
    path::PathBuf,
    process::Command,
    sync::Mutex,
    time::{Duration, Instant},
};

use testkit::{Child, Etcd, TestDir};

/// The `--addr` flag and value that let a child bind a port the kernel picks.
pub const ANY_PORT: [&str; 2] = ["--addr", "127.0.0.1:0"];

/// Starts `binary` (a name in the release directory, or `bench` for this binary's helper
/// modes) with `args` (which bind with [`ANY_PORT`] or a port of
/// [`testkit::ports::reserve`]), and waits until it says where it listens.
///
/// It logs as a user's process does by default (`RUST_LOG` unset), or at
/// `$BENCH_RUST_LOG` if set, into a file under `distributed-bench-logs/` in the temp dir,
/// so that its log costs what it costs a user without flooding the table.
pub fn start(binary: &str, args: &[String]) -> Child {
    start_listening(binary, args, 1)
}

/// [`start`] for a child with `listeners` listeners, each said on its own line.
pub fn start_listening(binary: &str, args: &[String], listeners: usize) -> Child {
    let path = if binary == "bench" {
        std::env::current_exe().expect("the bench knows where it is")
    } else {
        bin_dir().join(binary)
    };
    let logs = logs_dir();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let log = logs.join(format!(
        "{binary}-{}.log",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut command = Command::new(&path);
    command.args(args).env_remove("RUST_LOG");
    if let Ok(level) = std::env::var("BENCH_RUST_LOG") {
        command.env("RUST_LOG", level);
    }
    command.stderr(
        std::fs::File::create(&log)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", log.display())),
    );
    Child::listening(command, listeners)
}

/// `distributed-bench-logs/` in the temp dir: the logs of the processes a run starts,
/// kept after it (each run writes them anew).
fn logs_dir() -> PathBuf {
    let logs = std::env::temp_dir().join("distributed-bench-logs");
    std::fs::create_dir_all(&logs).expect("the temp dir is writable");
    logs
}

/// An etcd of `members` for the figure or soak `name`: its data in a temp dir of the run,
/// its members' logs in `distributed-bench-logs/etcd-<name>/`, kept for a look.
pub async fn etcd(name: &str, members: usize) -> Etcd {
    let logs = logs_dir().join(format!("etcd-{name}"));
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).expect("the temp dir is writable");
    Etcd::options()
        .members(members)
        .logs_in(&logs)
        .start(&temp_dir(&format!("etcd-{name}")))
        .await
}

/// Where the release binaries are.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| "target".into());
            target.join("release")
        })
}

/// Starts `bench stub` with `listeners` listeners for `count` instances; the process and
/// the ports it listens on.
pub fn stub(listeners: usize, count: usize) -> (Child, Vec<u16>) {
    let process = start_listening(
        "bench",
        &[
            "stub".into(),
            "--listeners".into(),
            listeners.to_string(),
            "--count".into(),
            count.to_string(),
        ],
        listeners,
    );
    let ports = process.addrs().iter().map(|addr| addr.port()).collect();
    (process, ports)
}

/// Waits until something answers HTTP at `url`, whatever its status (a registry on etcd
/// answers 503 while it loads: [`crate::cluster`] waits for a 200 where that matters).
pub async fn wait_up(url: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(url).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{url} never came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The temp dirs made so far in this run, deleted by [`TempDirs`].
static TEMP_DIRS: Mutex<Vec<TestDir>> = Mutex::new(Vec::new());

/// A fresh temp dir, deleted at the end of the run.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = TestDir::scratch(&format!("bench-{name}"));
    let path = dir.to_path_buf();
    TEMP_DIRS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(dir);
    path
}

/// Deletes every dir [`temp_dir`] made when dropped, at the end of the run or while a
/// panic unwinds (the log and grade files of a run are gigabytes); the processes' own
/// logs, in `distributed-bench-logs/`, stay.
pub struct TempDirs;

impl Drop for TempDirs {
    fn drop(&mut self) {
        TEMP_DIRS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }
}

/// Runs wrk and returns its requests per second and its errors: non-2xx answers, and
/// socket errors (connect, read, write) and timeouts.
pub fn wrk(args: &[&str]) -> (f64, u64) {
    let output = Command::new("wrk")
        .args(args)
        .output()
        .expect("wrk is not installed: run scripts/bootstrap.sh bench (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let rps = text
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"));
    let non_2xx: u64 = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 3, write 0, timeout 12"
    let socket: u64 = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Socket errors:"))
        .map(|counts| {
            counts
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    (rps, non_2xx + socket)
}
