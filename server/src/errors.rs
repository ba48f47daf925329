//! Which error to use where, and how one is shown to a person.
//!
//! | error | use it for | the person sees |
//! | --- | --- | --- |
//! | [`crate::http::ApiError`] | an HTTP answer: a status and a reason | `{"error": "<reason>"}` |
//! | [`crate::registry::store::StoreError`] | a change the registry's state did not make | a 404 or a 503, through `From` |
//! | [`crate::http::client::ClientError`] | a call to another service that came to nothing | a 502 or 503, through `From` |
//! | a module's own `thiserror` enum (`registry::validate::Invalid`, `registry::etcd::StartError`, …) | what one function can refuse or fail at, so its caller can match on it | [`report`]: the error and its causes |
//! | `String` | only what `clap` parses a flag's value with (clap shows it, beside the flag), and a `/healthz` check's reason | the text |
//!
//! An error whose cause is another error keeps it as its `#[source]` and does not repeat
//! its text in its own: [`report`] writes the whole chain, once.

use std::error::Error;

/// `err` and each of its causes, joined by ": ": what a person reads (a 4xx's reason, a
/// start-up failure on stderr).
pub fn report(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        // Some errors (sqlx's, say) repeat their cause in their own text: said once.
        let said = next.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = next.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("--etcd http://127.0.0.1:1")]
    struct Outer {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_report_names_every_cause_once() {
        let err = Outer {
            source: std::io::Error::other("refused"),
        };
        assert_eq!(super::report(&err), "--etcd http://127.0.0.1:1: refused");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the log: {source}")]
    struct Repeats {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_its_error_says_already_is_not_said_again() {
        let err = Repeats {
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(super::report(&err), "cannot open the log: disk full");
    }
}
