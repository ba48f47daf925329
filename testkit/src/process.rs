//! A child process a test or the benchmark starts (one of our binaries, etcd, a helper
//! mode of the benchmark): killed and reaped when dropped, so a test that fails half-way
//! leaves nothing running.
//!
//! Our binaries, started with `--addr 127.0.0.1:0`, bind a port the kernel picks and
//! print `<program>: listening on http://<addr>` on stdout ([`LISTENING`]).
//! [`Child::listening`] waits for that line, so no test or benchmark picks a port and
//! hopes it is still free when the child binds it.

use std::{
    net::SocketAddr,
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

use rustix::process::{Pid, Signal, kill_process};

/// What a binary of ours prints on stdout once it listens, before the address
/// (`server::http::serve::LISTENING`, which a test there checks is this).
pub const LISTENING: &str = "listening on http://";

/// How long a child has to say where it listens: a debug build under a loaded CI machine
/// can take seconds to start, never a minute.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A running child process, killed when dropped.
pub struct Child {
    child: std::process::Child,
    /// Where it said it listens, in the order it said so.
    listens: Vec<SocketAddr>,
    /// It has exited and been reaped: its pid may be another process's by now, so no
    /// signal goes to it.
    reaped: bool,
}

impl Child {
    /// Starts `command` as it is set up (its stdin closed).
    ///
    /// # Panics
    /// If the program cannot be started; the message says what is missing.
    pub fn spawn(mut command: Command) -> Child {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", describe(&command)));
        Child {
            child,
            listens: Vec::new(),
            reaped: false,
        }
    }

    /// Starts `command` (its stdout taken over) and waits until it has said where it
    /// listens `count` times (one line a listener); the rest of its stdout is read and
    /// dropped, so it never blocks on a full pipe.
    ///
    /// # Panics
    /// If it exits, or is silent for [`PATIENCE`], first.
    pub fn listening(mut command: Command, count: usize) -> Child {
        command.stdout(Stdio::piped());
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = Child::spawn(command);
        let stdout = child.child.stdout.take().expect("stdout is piped");
        let (said, heard) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut stdout = std::io::BufReader::new(stdout);
            let mut line = Vec::new();
            // Until the child closes its stdout: it must never write into a closed pipe
            // (a Rust program panics on that), whatever it writes.
            while stdout
                .read_until(b'\n', &mut line)
                .is_ok_and(|read| read > 0)
            {
                if let Some(addr) = parse_listening(&String::from_utf8_lossy(&line)) {
                    // The receiver is gone once enough were heard: that is fine.
                    let _ = said.send(addr);
                }
                line.clear();
            }
        });
        while child.listens.len() < count {
            match heard.recv_timeout(PATIENCE) {
                Ok(addr) => child.listens.push(addr),
                Err(_) => panic!(
                    "{program} never said where it listens ({} of {count} lines; exit status: {:?})",
                    child.listens.len(),
                    child.try_wait()
                ),
            }
        }
        child
    }

    /// The first address it said it listens on.
    ///
    /// # Panics
    /// If it was not started with [`Child::listening`].
    pub fn addr(&self) -> SocketAddr {
        *self.listens.first().expect("started with Child::listening")
    }

    /// Every address it said it listens on.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.listens
    }

    /// `http://<addr>` of [`Child::addr`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal`; nothing once it has been reaped.
    pub fn signal(&self, signal: Signal) {
        if self.reaped {
            return;
        }
        let Some(pid) = Pid::from_raw(self.pid() as i32) else {
            return;
        };
        // ESRCH: it has exited (and is not reaped yet); the signal is moot.
        let _ = kill_process(pid, signal);
    }

    /// Stops it (SIGSTOP) as a machine that hangs would: it keeps its sockets and
    /// answers nothing until [`Child::resume`].
    pub fn pause(&self) {
        self.signal(Signal::STOP);
    }

    pub fn resume(&self) {
        self.signal(Signal::CONT);
    }

    /// Asks it to stop (SIGTERM) and waits until it has; a paused child is resumed to
    /// act on it.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::TERM);
        self.signal(Signal::CONT);
        let status = self
            .child
            .wait()
            .expect("a child of ours can be waited for");
        self.reaped = true;
        status
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Its exit status if it has exited (and is reaped now).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        self.reaped |= status.is_some();
        status
    }

    /// CPU time (user and system) it has used so far, from `/proc`.
    pub fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // The fields after the command name (which may hold spaces, in parentheses);
        // utime and stime are the 12th and 13th of them, in clock ticks (100 a second).
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&n| fields.get(n)?.parse::<u64>().ok())
            .sum();
        Duration::from_secs_f64(ticks as f64 / 100.0)
    }

    /// Its resident memory in MiB, from `/proc`; 0 once it has exited.
    pub fn rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address in a [`LISTENING`] line, such as `registryservice: listening on
/// http://127.0.0.1:41234`.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    let (_, addr) = line.split_once(LISTENING)?;
    addr.trim().parse().ok()
}

/// Prints the [`LISTENING`] line for `addr`, as our binaries do: for a helper mode of the
/// benchmark, which its parent starts with [`Child::listening`].
pub fn announce(program: &str, addr: SocketAddr) {
    println!("{program}: {LISTENING}{addr}");
}

fn describe(command: &Command) -> String {
    let program = command.get_program().to_string_lossy();
    if program.contains('/') {
        format!("{program} (build it first: `make build`)")
    } else {
        format!("{program} (is it installed? scripts/bootstrap.sh installs what the tests need)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_line_gives_its_address() {
        assert_eq!(
            parse_listening("registryservice: listening on http://127.0.0.1:41234"),
            Some("127.0.0.1:41234".parse().unwrap())
        );
        assert_eq!(parse_listening("registryservice: starting"), None);
        assert_eq!(parse_listening("x: listening on http://nowhere"), None);
    }

    #[test]
    fn a_child_is_waited_for_until_it_says_where_it_listens_and_killed_when_dropped() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo starting; printf '\\377\\n'; echo \"a: listening on http://127.0.0.1:7\"; \
             echo \"b: listening on http://127.0.0.1:8\"; exec sleep 600",
        ]);
        let child = Child::listening(command, 2);
        assert_eq!(child.url(), "http://127.0.0.1:7");
        assert_eq!(child.addrs()[1].port(), 8);
        let proc = format!("/proc/{}", child.pid());
        assert!(std::path::Path::new(&proc).exists());
        drop(child);
        assert!(!std::path::Path::new(&proc).exists(), "killed and reaped");
    }

    #[test]
    fn a_paused_child_is_stopped_until_resumed() {
        let mut command = Command::new("sleep");
        command.arg("600");
        let mut child = Child::spawn(command);
        let state = |child: &Child| {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.pid())).unwrap();
            stat.rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        };
        child.pause();
        wait_for(|| state(&child) == "T");
        child.resume();
        wait_for(|| state(&child) == "S");
        child.pause();
        wait_for(|| state(&child) == "T");
        assert!(
            !child.terminate().success(),
            "ended by SIGTERM, paused or not"
        );
    }

    fn wait_for(mut check: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the child never got there");
    }
}
