//! Child processes of the benchmark: the release binaries under test, and this binary's
//! own helper modes (`bare`, `stub`). Each is killed when dropped.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Proc {
    child: Child,
}

impl Proc {
    /// Starts `binary` (a name in the release directory, or this bench itself) with `args`.
    /// It logs as a user's process does by default (`RUST_LOG` unset), or at
    /// `$BENCH_RUST_LOG` if set, into a file under `distributed-bench-logs/` in the temp
    /// dir, so that its log costs what it costs a user without flooding the table.
    pub fn start(binary: &str, args: &[String]) -> Proc {
        let path = if binary == "bench" {
            std::env::current_exe().unwrap()
        } else {
            bin_dir().join(binary)
        };
        Proc::start_path(binary, path, args)
    }

    /// Starts the program at `path` (a name is looked up on PATH), logged as `binary`.
    pub fn start_path(binary: &str, path: PathBuf, args: &[String]) -> Proc {
        let logs = std::env::temp_dir().join("distributed-bench-logs");
        std::fs::create_dir_all(&logs).unwrap();
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
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {}: {err}; run `make build` first",
                    path.display()
                )
            });
        Proc { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) used so far, from /proc.
    pub fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        Duration::from_secs_f64(ticks as f64 / 100.0)
    }

    /// Resident memory in MiB, from /proc.
    pub fn rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(0.0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// A free port on 127.0.0.1 for a process the bench starts, drawn where no other
/// connection takes it first (see [`testkit::ports`]).
pub fn free_port() -> u16 {
    testkit::ports::reserve()
}

/// Starts `bench stub` with `listeners` listeners for `count` instances; the process and
/// the ports it listens on, once it does.
pub async fn stub(listeners: usize, count: usize) -> (Proc, Vec<u16>) {
    let file = temp_dir("stub").join(format!("ports-{}", free_port()));
    let process = Proc::start(
        "bench",
        &[
            "stub".into(),
            "--listeners".into(),
            listeners.to_string(),
            "--ports-file".into(),
            file.display().to_string(),
            "--count".into(),
            count.to_string(),
        ],
    );
    let started = Instant::now();
    let ports = loop {
        if let Ok(list) = std::fs::read_to_string(&file) {
            break list.split(',').map(|p| p.parse().unwrap()).collect();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the stub never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (process, ports)
}

/// Waits until something answers HTTP at `url`.
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

/// The temporary directories made so far, deleted by [`TempDirs`].
static TEMP_DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A fresh temporary directory, deleted at the end of the run.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distributed-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TEMP_DIRS.lock().unwrap().push(dir.clone());
    dir
}

/// Deletes every directory [`temp_dir`] made when dropped, at the end of the run or
/// while a panic unwinds (the log and grade files of a run are gigabytes); the
/// processes' own logs, in `distributed-bench-logs/`, stay.
pub struct TempDirs;

impl Drop for TempDirs {
    fn drop(&mut self) {
        let dirs: Vec<PathBuf> = match TEMP_DIRS.lock() {
            Ok(mut dirs) => dirs.drain(..).collect(),
            Err(poisoned) => poisoned.into_inner().drain(..).collect(),
        };
        for dir in dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
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
