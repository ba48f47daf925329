//! Teacher login, the server's side of [`app::teacher`]: the teacher's password, checked
//! against its argon2 hash, and the sessions a login opens.
//!
//! A wrong password is answered only after [`WRONG_PASSWORD_DELAY`], and attempts are
//! checked one at a time, so guessing runs at about one password a second however many
//! requests are sent at once. Sessions live in memory (a restart logs the teacher out),
//! at most [`MAX_SESSIONS`] of them, each for `--teacher-session`.

use std::{
    collections::HashMap,
    io::BufRead,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::{
    backend::BoxFuture,
    teacher::server_side::{Session, TeacherLogin},
};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};

/// How long a wrong password waits before it is refused.
pub const WRONG_PASSWORD_DELAY: Duration = Duration::from_secs(1);
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
            eprintln!("{program}: {err}");
            std::process::ExitCode::from(2)
        })
    }
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
    /// Held while a password is checked (and, when wrong, through the delay).
    attempts: tokio::sync::Mutex<()>,
}

struct Live {
    csrf: String,
    expires: Instant,
}

impl TeacherLogins {
    /// The login `args` configure; a hash that is not an argon2 PHC string is refused with
    /// what to do.
    pub fn new(args: &TeacherArgs) -> Result<TeacherLogins, String> {
        let hash = args
            .teacher_password_hash
            .as_deref()
            .map(str::trim)
            .filter(|hash| !hash.is_empty());
        if let Some(hash) = hash {
            PasswordHash::new(hash).map_err(|err| {
                format!(
                    "--teacher-password-hash is not an argon2 hash ({err}); make one with \
                     --hash-teacher-password, which reads the password on standard input"
                )
            })?;
        }
        if args.teacher_session.is_zero() {
            return Err("--teacher-session must be longer than 0s".into());
        }
        Ok(TeacherLogins {
            inner: Arc::new(Inner {
                hash: hash.map(str::to_owned),
                ttl: args.teacher_session,
                sessions: Mutex::default(),
                attempts: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

impl Inner {
    fn open_session(&self) -> Session {
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap();
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

    fn log_in(&self, password: String) -> BoxFuture<Option<Session>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let hash = inner.hash.clone()?;
            let turn = inner.attempts.lock().await;
            let right = tokio::task::spawn_blocking(move || verify(&hash, &password))
                .await
                .unwrap_or(false);
            if !right {
                tracing::warn!("a wrong teacher password was given");
                tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
                return None;
            }
            drop(turn);
            tracing::info!("the teacher logged in");
            Some(inner.open_session())
        })
    }

    fn session(&self, id: &str) -> Option<Session> {
        let sessions = self.inner.sessions.lock().unwrap();
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
        self.inner.sessions.lock().unwrap().remove(id);
    }
}

fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// The argon2id hash of `password`, as a PHC string for `--teacher-password-hash`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|err| format!("no randomness for a salt: {err}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|err| err.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| err.to_string())
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
        Err(err) => crate::http::serve::fail(program, err),
    }
}

/// 32 random bytes, as hex.
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
        assert!(logins.log_in("wrong".into()).await.is_none());
        assert!(started.elapsed() >= WRONG_PASSWORD_DELAY);
        let session = logins.log_in("s3cret".into()).await.expect("a session");
        let found = logins.session(&session.id).expect("the session is live");
        assert_eq!(found.csrf, session.csrf);
        assert!(found.max_age <= 60);
        assert_ne!(session.id, session.csrf);
        logins.log_out(&session.id);
        assert!(logins.session(&session.id).is_none());
    }

    #[test]
    fn a_hash_that_is_not_argon2_is_refused_with_what_to_do() {
        let err = TeacherLogins::new(&args(Some("plain".into())))
            .err()
            .expect("refused");
        assert!(err.contains("--hash-teacher-password"), "{err}");
        assert!(!TeacherLogins::new(&args(None)).unwrap().required());
        assert!(
            !TeacherLogins::new(&args(Some("  ".into())))
                .unwrap()
                .required()
        );
    }
}
