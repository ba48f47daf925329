//! Server functions answer two kinds of caller: the hydrated page, which reads their
//! result, and a browser with JavaScript off, which posted a plain HTML form and must be
//! sent on to a page with a redirect. [`posted`] tells them apart. (Server side only; the
//! server functions of [`crate::api`] and [`crate::teacher`] both use it.)

use leptos::prelude::use_context;

/// Whether the current request is a form posted by a browser without JavaScript: it
/// accepts HTML, where a hydrated page's call does not.
pub fn posted() -> bool {
    use_context::<http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
    })
}
