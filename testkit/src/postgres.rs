//! A test's own PostgreSQL server: `initdb` makes its cluster in a temp dir, the server
//! listens on a free 127.0.0.1 port, and the `postgres` user connects over TCP with trust
//! authentication. It never touches a system cluster.
//!
//! The programs are Debian's (`/usr/lib/postgresql/<version>/bin`, the newest; or the
//! folder in `$PG_BIN`). PostgreSQL refuses to run as root, so as root the temp dir goes
//! to the `postgres` user and `initdb` and the server run through `runuser -u postgres`.
//!
//! The server runs under a small shell that stops it (a fast shutdown) when the shell's
//! stdin closes, and then deletes the temp dir: that happens when a [`Postgres`] is
//! dropped, and also when the test process ends in any other way (a panic, a kill), so
//! no server outlives its test. [`Postgres::stop`] closes it too but keeps the data, for
//! [`Postgres::resume`]: a database that goes away and comes back.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

/// How long the server may take to start before the test gives up (saying why).
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs the server in the background, waits for stdin to close, stops the server, and
/// deletes the temp dir unless a `keep` file is there. Arguments: bin dir, temp dir, port.
const SUPERVISOR: &str = r#"
"$1/postgres" -D "$2/data" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 >>"$2/log" 2>&1 &
pid=$!
cat >/dev/null
kill -INT "$pid" 2>/dev/null
wait "$pid"
[ -e "$2/keep" ] || rm -rf "$2"
"#;

/// A running PostgreSQL server; stopped, and its data deleted, when dropped.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    supervisor: Option<Child>,
}

impl Postgres {
    /// A new server with an empty cluster, ready for connections.
    ///
    /// # Panics
    /// PostgreSQL is not installed, or does not start; the message says why.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let as_postgres = is_root();
        let dir = temp_dir(as_postgres);
        let mut postgres = Postgres {
            bin,
            dir,
            port: crate::ports::reserve(),
            as_postgres,
            supervisor: None,
        };
        let data = postgres.dir.join("data");
        let initdb = postgres.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        postgres.resume();
        postgres
    }

    /// One server for the whole test process, started on first use; each test takes a
    /// database of its own on it ([`Postgres::create_database`]). It stops when the
    /// process ends.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(Postgres::start)
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this server, as the `postgres` user.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` on `database` and returns what it printed (unaligned, tuples only).
    ///
    /// # Panics
    /// The SQL fails; the message has PostgreSQL's reason.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .unwrap_or_else(|err| panic!("cannot run psql: {err}"));
        assert!(
            output.status.success(),
            "psql -c {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Stops the server (a fast shutdown: clients are disconnected), keeping its data for
    /// [`Postgres::resume`]. Returns once it has stopped.
    pub fn stop(&mut self) {
        let Some(mut supervisor) = self.supervisor.take() else {
            return;
        };
        let keep = self.dir.join("keep");
        std::fs::write(&keep, b"").expect("cannot mark the data dir to keep");
        drop(supervisor.stdin.take());
        supervisor
            .wait()
            .expect("cannot wait for PostgreSQL to stop");
        let _ = std::fs::remove_file(keep);
    }

    /// Starts the server (again) on the same data and port; returns once it accepts
    /// connections.
    ///
    /// # Panics
    /// It does not start within a minute; the message has its log.
    pub fn resume(&mut self) {
        if self.supervisor.is_some() {
            return;
        }
        let (bin, dir, port) = (
            self.bin.to_str().unwrap().to_owned(),
            self.dir.to_str().unwrap().to_owned(),
            self.port.to_string(),
        );
        let mut supervisor = self
            .command("sh")
            .args(["-c", SUPERVISOR, "postgres-supervisor", &bin, &dir, &port])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start PostgreSQL: {err}"));
        let began = Instant::now();
        loop {
            if let Ok(Some(status)) = supervisor.try_wait() {
                panic!("PostgreSQL exited ({status}) at start: {}", self.log());
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port])
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                break;
            }
            if began.elapsed() > PATIENCE {
                let _ = supervisor.kill();
                panic!(
                    "PostgreSQL did not accept connections within {PATIENCE:?}: {}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.supervisor = Some(supervisor);
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", program]);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        self.command(path.to_str().unwrap())
            .args(args)
            .output()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", path.display()))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut supervisor) = self.supervisor.take() {
            drop(supervisor.stdin.take());
            let _ = supervisor.wait();
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The folder of PostgreSQL's programs: `$PG_BIN`, or the newest Debian version's.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: run scripts/bootstrap.sh test (it installs \
             Debian's postgresql), or set PG_BIN to the folder that holds initdb"
        )
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// A new temp dir (its deletion is the supervisor's, which outlives a killed test); as
/// root, it is made in /tmp (which the `postgres` user can reach) and owned by that user.
fn temp_dir(as_postgres: bool) -> PathBuf {
    let base = if as_postgres {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix(&format!("distributed-postgres-{}-", std::process::id()))
        .tempdir_in(base)
        .expect("cannot make a temp dir for PostgreSQL")
        .keep();
    if as_postgres {
        chown_to_postgres(&dir);
    }
    dir
}

fn chown_to_postgres(dir: &Path) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("cannot run id");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!(
                    "there is no postgres user: run scripts/bootstrap.sh test (Debian's \
                     postgresql makes it)"
                )
            })
    };
    std::os::unix::fs::chown(dir, Some(id("-u")), Some(id("-g")))
        .expect("cannot give the temp dir to the postgres user");
}
