//! Teacher login, the server's side of [`app::teacher`]: the teacher's password, checked
//! against its argon2 hash, and the sessions a login opens.
//!
//! Guessing is slowed per client address, never for everyone: each address's attempts
//! are checked one [`WRONG_PASSWORD_DELAY`] apart, a wrong password is answered only
//! after that delay, and an address with [`MAX_WAITING`] attempts already waiting is
//! refused at once (429, with when to try again). So one client guesses about one
//! password a second however many requests it sends at once, and the teacher, from
//! another address, is never queued behind it: no lock is held through a delay, and the
//! password hash is checked at most [`MAX_VERIFYING`] at a time (it costs CPU, not
//! time). Sessions live in memory (a restart logs the teacher out), at most
//! [`MAX_SESSIONS`] of them, each for `--teacher-session`.

use std::{
    collections::HashMap,
    io::BufRead,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;

use app::{
    backend::BoxFuture,
    teacher::server_side::{LoginOutcome, Session, TeacherLogin},
};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};

/// How long a wrong password waits before it is refused, and how far apart one
/// client's attempts are checked.
pub const WRONG_PASSWORD_DELAY: Duration = Duration::from_secs(1);
/// The most attempts one client may have waiting; more are refused with 429.
pub const MAX_WAITING: u32 = 4;
/// The most password checks (argon2, about 20 ms of CPU each) run at once.
pub const MAX_VERIFYING: usize = 2;
/// The most client addresses whose pace is remembered; past it, those with nothing
/// pending are forgotten.
const MAX_CLIENTS: usize = 10_000;
/// The most sessions kept; beyond it the one closest to expiry is ended.
pub const MAX_SESSIONS: usize = 1000;

/// The teacher login's flags, for the binaries that serve the portal.
#[derive(Debug, Clone, clap::Args)]
pub struct TeacherArgs {
    /// The teacher's password as an argon2 hash (`$argon2id$...`; make one with
    /// --hash-teacher-password). With it, adding and deleting grades in the portal needs
    /// a login; without it, anyone may.
    #[arg(long, env = "TEACHER_PASSWORD_HASH", hide_env_values = true)]
    pub teacher_password_hash: Option<String>,

    /// How long a teacher stays logged in.
    #[arg(long, env = "TEACHER_SESSION", default_value = "8h", value_parser = humantime::parse_duration)]
    pub teacher_session: Duration,

    /// Read a password from standard input, print its hash for --teacher-password-hash,
    /// and exit.
    #[arg(long)]
    pub hash_teacher_password: bool,
}

impl TeacherArgs {
    /// The login these flags configure for `program`; a bad flag is explained on stderr
    /// and becomes exit code 2.
    pub fn logins(&self, program: &str) -> Result<TeacherLogins, std::process::ExitCode> {
        TeacherLogins::new(self).map_err(|err| {
            eprintln!("{program}: {}", crate::errors::report(&err));
            std::process::ExitCode::from(2)
        })
    }
}

/// Why the teacher login's flags are refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "--teacher-password-hash is not an argon2 hash (make one with \
         --hash-teacher-password, which reads the password on standard input)"
    )]
    NotArgon2 {
        #[source]
        source: argon2::password_hash::Error,
    },
    #[error("--teacher-session must be longer than 0s")]
    NoSession,
}

/// The password check and the sessions. Cheap to clone.
#[derive(Clone)]
pub struct TeacherLogins {
    inner: Arc<Inner>,
}

struct Inner {
    hash: Option<String>,
    ttl: Duration,
    sessions: Mutex<HashMap<String, Live>>,
    /// Each client's pace, by its address.
    clients: Mutex<HashMap<IpAddr, Pace>>,
    /// A permit for each password check running ([`MAX_VERIFYING`]).
    verifying: tokio::sync::Semaphore,
}

/// One client's attempts: when its next may be checked, and how many are waiting.
#[derive(Debug, Clone, Copy)]
struct Pace {
    next_turn: Instant,
    waiting: u32,
}

struct Live {
    csrf: String,
    expires: Instant,
}

impl TeacherLogins {
    /// The login `args` configure; a hash that is not an argon2 PHC string is refused with
    /// what to do.
    pub fn new(args: &TeacherArgs) -> Result<TeacherLogins, SetupError> {
        let hash = args
            .teacher_password_hash
            .as_deref()
            .map(str::trim)
            .filter(|hash| !hash.is_empty());
        if let Some(hash) = hash {
            PasswordHash::new(hash).map_err(|source| SetupError::NotArgon2 { source })?;
        }
        if args.teacher_session.is_zero() {
            return Err(SetupError::NoSession);
        }
        Ok(TeacherLogins {
            inner: Arc::new(Inner {
                hash: hash.map(str::to_owned),
                ttl: args.teacher_session,
                sessions: Mutex::default(),
                clients: Mutex::default(),
                verifying: tokio::sync::Semaphore::new(MAX_VERIFYING),
            }),
        })
    }
}

/// The key a client's pace is kept under: its address (an IPv4 address mapped into
/// IPv6 counts as the plain IPv4 address). Not an IPv6 /64: on a LAN every machine shares
/// one, and a student there could keep the teacher's attempts waiting. Calls with no
/// address (from inside the process) all count as one client.
fn client_key(client: Option<IpAddr>) -> IpAddr {
    client.map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |ip| {
        ip.to_canonical()
    })
}

/// A client's attempt in progress; dropping it ends the turn.
struct Turn<'a> {
    inner: &'a Inner,
    client: IpAddr,
    right: bool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.inner.end_turn(self.client, self.right);
    }
}

impl Inner {
    /// Takes a turn for `client`: when its attempt may be checked, or, with too many
    /// waiting, how long until it may try again.
    fn take_turn(&self, client: IpAddr) -> Result<Instant, Duration> {
        let now = Instant::now();
        let mut clients = self.clients.lock();
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, pace| pace.waiting > 0 || pace.next_turn > now);
        }
        let pace = clients.entry(client).or_insert(Pace {
            next_turn: now,
            waiting: 0,
        });
        if pace.waiting >= MAX_WAITING {
            return Err(pace.next_turn.saturating_duration_since(now));
        }
        let turn = pace.next_turn.max(now);
        pace.next_turn = turn + WRONG_PASSWORD_DELAY;
        pace.waiting += 1;
        Ok(turn)
    }

    /// `client`'s attempt is over; the right password clears its pace.
    fn end_turn(&self, client: IpAddr, right: bool) {
        let mut clients = self.clients.lock();
        if let Some(pace) = clients.get_mut(&client) {
            pace.waiting = pace.waiting.saturating_sub(1);
            if right {
                clients.remove(&client);
            }
        }
    }

    fn open_session(&self) -> Session {
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, live| live.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, live)| live.expires)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        let id = random_token();
        let csrf = random_token();
        sessions.insert(
            id.clone(),
            Live {
                csrf: csrf.clone(),
                expires: now + self.ttl,
            },
        );
        Session {
            id,
            csrf,
            max_age: self.ttl.as_secs(),
        }
    }
}

impl TeacherLogin for TeacherLogins {
    fn required(&self) -> bool {
        self.inner.hash.is_some()
    }

    fn log_in(&self, password: String, client: Option<IpAddr>) -> BoxFuture<LoginOutcome> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let Some(hash) = inner.hash.clone() else {
                return LoginOutcome::Wrong;
            };
            let key = client_key(client);
            let turn = match inner.take_turn(key) {
                Ok(turn) => turn,
                Err(wait) => {
                    tracing::warn!(client = %key, "too many teacher login attempts at once");
                    return LoginOutcome::TooMany {
                        retry_after_secs: wait.as_secs().max(1),
                    };
                }
            };
            // Ends the turn however this future ends (a client that hangs up drops it).
            let mut taken = Turn {
                inner: &inner,
                client: key,
                right: false,
            };
            tokio::time::sleep_until(turn.into()).await;
            let right = {
                let _permit = inner.verifying.acquire().await;
                tokio::task::spawn_blocking(move || verify(&hash, &password))
                    .await
                    .unwrap_or(false)
            };
            if !right {
                tracing::warn!(client = %key, "a wrong teacher password was given");
                tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
                return LoginOutcome::Wrong;
            }
            taken.right = true;
            drop(taken);
            tracing::info!("the teacher logged in");
            LoginOutcome::LoggedIn(inner.open_session())
        })
    }

    fn session(&self, id: &str) -> Option<Session> {
        let sessions = self.inner.sessions.lock();
        let live = sessions
            .get(id)
            .filter(|live| live.expires > Instant::now())?;
        Some(Session {
            id: id.to_owned(),
            csrf: live.csrf.clone(),
            max_age: live
                .expires
                .saturating_duration_since(Instant::now())
                .as_secs(),
        })
    }

    fn log_out(&self, id: &str) {
        self.inner.sessions.lock().remove(id);
    }
}

fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Why a password cannot be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("no randomness for a salt")]
    Salt(#[source] getrandom::Error),
    #[error("argon2 cannot hash it")]
    Argon2(#[source] argon2::password_hash::Error),
}

/// The argon2id hash of `password`, as a PHC string for `--teacher-password-hash`.
///
/// # Errors
/// The system gives no randomness for a salt, or argon2 refuses (a password longer than
/// it takes).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(HashError::Salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(HashError::Argon2)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(HashError::Argon2)
}

/// `--hash-teacher-password`: reads one line (the password) from standard input and
/// prints its hash.
pub fn print_hash_of_stdin(program: &str) -> std::process::ExitCode {
    let mut password = String::new();
    if let Err(err) = std::io::stdin().lock().read_line(&mut password) {
        return crate::http::serve::fail(program, format!("cannot read the password: {err}"));
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return crate::http::serve::fail(
            program,
            format!(
                "give the password on standard input, e.g. `echo -n '<password>' | {program} --hash-teacher-password`"
            ),
        );
    }
    match hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => crate::http::serve::fail(program, crate::errors::report(&err)),
    }
}

/// 32 random bytes as hex: session ids, CSRF tokens, a generated service token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system has randomness");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(hash: Option<String>) -> TeacherArgs {
        TeacherArgs {
            teacher_password_hash: hash,
            teacher_session: Duration::from_secs(60),
            hash_teacher_password: false,
        }
    }

    #[tokio::test]
    async fn the_right_password_opens_a_session_and_a_wrong_one_waits() {
        let logins = TeacherLogins::new(&args(Some(hash_password("s3cret").unwrap()))).unwrap();
        assert!(logins.required());
        let started = Instant::now();
        assert_eq!(
            logins.log_in("wrong".into(), None).await,
            LoginOutcome::Wrong
        );
        assert!(started.elapsed() >= WRONG_PASSWORD_DELAY);
        let LoginOutcome::LoggedIn(session) = logins.log_in("s3cret".into(), None).await else {
            panic!("no session");
        };
        let found = logins.session(&session.id).expect("the session is live");
        assert_eq!(found.csrf, session.csrf);
        assert!(found.max_age <= 60);
        assert_ne!(session.id, session.csrf);
        logins.log_out(&session.id);
        assert!(logins.session(&session.id).is_none());
    }

    /// 20 wrong passwords at once from one client: the most it may have waiting are
    /// checked one a second, the rest refused at once with when to try again; the
    /// teacher, from another address meanwhile, logs in within 5 s.
    #[tokio::test]
    async fn a_flood_from_one_client_never_queues_the_teacher() {
        let logins = TeacherLogins::new(&args(Some(hash_password("s3cret").unwrap()))).unwrap();
        let student: IpAddr = "192.0.2.7".parse().unwrap();
        let teacher: IpAddr = "192.0.2.8".parse().unwrap();
        let flood: Vec<_> = (0..20)
            .map(|_| tokio::spawn(logins.log_in("guess".into(), Some(student))))
            .collect();
        // Once the flood is waiting (every attempt has taken its turn or been refused).
        while logins.inner.clients.lock().get(&student).map(|p| p.waiting) != Some(MAX_WAITING) {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        let outcome = logins.log_in("s3cret".into(), Some(teacher)).await;
        assert!(matches!(outcome, LoginOutcome::LoggedIn(_)), "{outcome:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        let mut outcomes = Vec::new();
        for attempt in flood {
            outcomes.push(attempt.await.unwrap());
        }
        let wrong = outcomes
            .iter()
            .filter(|o| **o == LoginOutcome::Wrong)
            .count();
        assert_eq!(wrong, MAX_WAITING as usize, "{outcomes:?}");
        assert!(outcomes.iter().all(|o| match o {
            LoginOutcome::TooMany { retry_after_secs } => (1..=5).contains(retry_after_secs),
            other => *other == LoginOutcome::Wrong,
        }));
        // Neighbours on one IPv6 LAN (one /64) are paced apart.
        assert_ne!(
            client_key(Some("2001:db8::1".parse().unwrap())),
            client_key(Some("2001:db8::2".parse().unwrap()))
        );
        assert_eq!(
            client_key(Some("::ffff:192.0.2.7".parse().unwrap())),
            student
        );
    }

    #[test]
    fn a_hash_that_is_not_argon2_is_refused_with_what_to_do() {
        let err = TeacherLogins::new(&args(Some("plain".into())))
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("--hash-teacher-password"), "{err}");
        assert!(!TeacherLogins::new(&args(None)).unwrap().required());
        assert!(
            !TeacherLogins::new(&args(Some("  ".into())))
                .unwrap()
                .required()
        );
    }
}
