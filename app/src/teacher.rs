//! Teacher login: who may add and delete grades in the portal.
//!
//! With a teacher password configured (the server's `--teacher-password-hash`), adding or
//! deleting a grade needs a login: a session cookie ([`SESSION_COOKIE`], HttpOnly,
//! SameSite=Lax) and, in every form that changes grades, the session's CSRF token, which
//! a page on another site cannot read. Viewing stays open to all. Without a password
//! anyone may change grades, as in the original.
//!
//! The server side checks the password (hashed with argon2, and slowed down when wrong)
//! and keeps the sessions; this module reaches it through [`server_side::TeacherLogin`],
//! the same kind of seam as [`crate::backend`].

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "portal_session";

/// The refusal when a change needs a login.
pub const LOGIN_NEEDED: &str = "Log in as the teacher to add or delete grades.";

/// What a page needs to know about its visitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TeacherStatus {
    /// Whether changing grades needs a login.
    pub required: bool,
    /// The CSRF token that forms changing grades carry: the session's when logged in,
    /// empty when no login is required, `None` when a login is required but missing.
    pub csrf: Option<String>,
}

impl TeacherStatus {
    /// Whether the visitor may add and delete grades.
    pub fn may_change(&self) -> bool {
        self.csrf.is_some()
    }

    /// Whether the visitor is logged in (and so can log out).
    pub fn logged_in(&self) -> bool {
        self.required && self.csrf.is_some()
    }
}

#[cfg(feature = "ssr")]
pub mod server_side {
    //! The server's part: the login service in context, and the checks server functions
    //! make with it.

    use std::{net::IpAddr, sync::Arc};

    use leptos::prelude::*;

    use crate::backend::BoxFuture;

    /// A live session.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Session {
        pub id: String,
        pub csrf: String,
        /// How long its cookie lasts, in seconds.
        pub max_age: u64,
    }

    /// What an attempt to log in came to.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum LoginOutcome {
        /// The right password: a new session.
        LoggedIn(Session),
        /// A wrong password (answered after a delay).
        Wrong,
        /// Refused unchecked: this client has too many attempts waiting already; it may
        /// try again after this many seconds.
        TooMany { retry_after_secs: u64 },
    }

    /// The address of the client that sent the current request, as the server saw the
    /// connection (behind a reverse proxy, every client has the proxy's address).
    pub fn client_address() -> Option<IpAddr> {
        let parts = use_context::<http::request::Parts>()?;
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
    }

    /// Checks the teacher's password and keeps the sessions (implemented by the server).
    pub trait TeacherLogin: Send + Sync + 'static {
        /// Whether a password is configured, so that changes need a login.
        fn required(&self) -> bool;
        /// A new session if `password` is the teacher's; a wrong one is answered slowly.
        /// `client` is the address the attempt came from; attempts are paced per address.
        fn log_in(&self, password: String, client: Option<IpAddr>) -> BoxFuture<LoginOutcome>;
        /// The live session with this id.
        fn session(&self, id: &str) -> Option<Session>;
        /// Ends the session with this id.
        fn log_out(&self, id: &str);
    }

    /// The handle server functions find in context.
    pub type Teachers = Arc<dyn TeacherLogin>;

    pub fn teachers() -> Result<Teachers, ServerFnError> {
        use_context::<Teachers>().ok_or_else(|| ServerFnError::new("the portal has no login"))
    }

    /// The value of the session cookie on the current request.
    pub fn session_cookie() -> Option<String> {
        let parts = use_context::<http::request::Parts>()?;
        parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == super::SESSION_COOKIE)
            .map(|(_, value)| value.to_owned())
    }

    /// The current request's live session, if any.
    pub fn current_session(teachers: &Teachers) -> Option<Session> {
        session_cookie().and_then(|id| teachers.session(&id))
    }

    /// Whether the current request may change grades: no login is required, or it
    /// comes from a live session and carries that session's CSRF token. A refusal sets
    /// the answer's status (401 without a session, 403 with a wrong token).
    pub fn authorize(csrf: &str) -> Result<(), ServerFnError> {
        let teachers = teachers()?;
        if !teachers.required() {
            return Ok(());
        }
        let status = match current_session(&teachers) {
            Some(session)
                if constant_time_eq::constant_time_eq(
                    session.csrf.as_bytes(),
                    csrf.trim().as_bytes(),
                ) =>
            {
                return Ok(());
            }
            Some(_) => http::StatusCode::FORBIDDEN,
            None => http::StatusCode::UNAUTHORIZED,
        };
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
        Err(ServerFnError::new(super::LOGIN_NEEDED))
    }

    /// The `Set-Cookie` value that starts (or, with `None`, ends) a session.
    pub fn cookie(session: Option<&Session>) -> String {
        let (value, max_age) = match session {
            Some(session) => (session.id.as_str(), session.max_age),
            None => ("", 0),
        };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}",
            super::SESSION_COOKIE
        )
    }
}

/// Whether changing grades needs a login, and the visitor's CSRF token.
#[server]
pub async fn get_teacher_status() -> Result<TeacherStatus, ServerFnError> {
    use server_side::{current_session, teachers};
    let teachers = teachers()?;
    if !teachers.required() {
        return Ok(TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        });
    }
    Ok(TeacherStatus {
        required: true,
        csrf: current_session(&teachers).map(|session| session.csrf),
    })
}

/// Logs the teacher in and sends the browser on to `next` (a path of this site). A wrong
/// password is refused after a delay, as an error (401, or 429 for too many attempts at
/// once).
#[server]
pub async fn log_in(
    password: String,
    next: String,
) -> Result<crate::plain_form::FormOutcome, ServerFnError> {
    use crate::plain_form::FormOutcome;
    use server_side::{LoginOutcome, client_address, cookie, teachers};
    let next = local_path(&next);
    let teachers = teachers()?;
    let done = |next: String| {
        leptos_axum::redirect(&next);
        FormOutcome::Done {
            said: "Logged in.".into(),
            next: Some(next),
        }
    };
    if !teachers.required() {
        return Ok(done(next));
    }
    let (status, refusal) = match teachers.log_in(password, client_address()).await {
        LoginOutcome::LoggedIn(session) => {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.append_header(
                    http::header::SET_COOKIE,
                    http::HeaderValue::from_str(&cookie(Some(&session)))?,
                );
            }
            return Ok(done(next));
        }
        LoginOutcome::Wrong => (http::StatusCode::UNAUTHORIZED, "Wrong password.".to_owned()),
        LoginOutcome::TooMany { retry_after_secs } => {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.insert_header(http::header::RETRY_AFTER, retry_after_secs.into());
            }
            (
                http::StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts at once: try again in {retry_after_secs} s."),
            )
        }
    };
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
    if crate::plain_form::posted() {
        leptos_axum::redirect(&format!(
            "/login?error={}&next={}",
            crate::format::url_encode(&refusal),
            crate::format::url_encode(&next)
        ));
    }
    Err(ServerFnError::new(refusal))
}

/// Ends the session and sends the browser to the Grade Book.
#[server]
pub async fn log_out(csrf: String) -> Result<crate::plain_form::FormOutcome, ServerFnError> {
    use server_side::{authorize, cookie, session_cookie, teachers};
    authorize(&csrf)?;
    if let Some(id) = session_cookie() {
        teachers()?.log_out(&id);
    }
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(
            http::header::SET_COOKIE,
            http::HeaderValue::from_str(&cookie(None))?,
        );
    }
    leptos_axum::redirect("/students");
    Ok(crate::plain_form::FormOutcome::Done {
        said: "Logged out.".into(),
        next: Some("/students".into()),
    })
}

/// `next` if it is a path on this site, else the Grade Book (so a crafted link cannot
/// send the browser elsewhere after logging in). A path starts with one `/`; a browser
/// reads `\` as `/` and drops tabs and newlines anywhere in a URL (so `/\t/evil.example`
/// becomes `//evil.example`, another site), so no backslash, control character or
/// whitespace is allowed anywhere.
pub fn local_path(next: &str) -> String {
    let next = next.trim();
    let local = next.starts_with('/')
        && !next[1..].starts_with('/')
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if local {
        next.to_owned()
    } else {
        "/students".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_logging_in() {
        assert_eq!(local_path("/students/3"), "/students/3");
        assert_eq!(local_path("//evil.example/x"), "/students");
        assert_eq!(local_path("https://evil.example"), "/students");
        assert_eq!(local_path("/\\evil.example"), "/students");
        assert_eq!(local_path(""), "/students");
        for crafted in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/x",
            "/a b",
            "/\u{0}x",
        ] {
            assert_eq!(local_path(crafted), "/students", "{crafted:?}");
        }
    }

    mod properties {
        use super::super::local_path;
        use proptest::prelude::*;

        proptest! {
            /// Whatever `next` is, the page the browser goes to after logging in, resolved
            /// as a browser resolves a `Location` (the WHATWG URL parser), is on this site.
            #[test]
            fn the_page_after_login_is_always_on_this_site(
                next in prop_oneof![
                    any::<String>(),
                    "[/\\\\\t\n\r .a-z:@%]{0,12}",
                    "/[\t\n\r \u{0}-\u{1f}]{0,3}/[a-z.]{1,12}",
                ],
            ) {
                let site = url::Url::parse("http://portal.example:8080/login").unwrap();
                let path = local_path(&next);
                let went = site.join(&path).unwrap();
                prop_assert_eq!(went.host_str(), Some("portal.example"), "{:?} -> {:?}", next, path);
                prop_assert_eq!(went.port(), Some(8080));
                prop_assert_eq!(went.scheme(), "http");
            }
        }
    }

    #[test]
    fn a_visitor_may_change_grades_with_a_token() {
        let open = TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        };
        assert!(open.may_change() && !open.logged_in());
        let out = TeacherStatus {
            required: true,
            csrf: None,
        };
        assert!(!out.may_change() && !out.logged_in());
        let logged_in = TeacherStatus {
            required: true,
            csrf: Some("t".into()),
        };
        assert!(logged_in.may_change() && logged_in.logged_in());
    }
}
