//! Forms that are plain HTML forms first: every form of the portal works with JavaScript
//! off, and a hydrated page takes some of them over to answer without a reload.
//!
//! - Server side, server functions answer two kinds of caller: the hydrated page, which
//!   reads their result, and a browser with JavaScript off, which posted a plain HTML
//!   form and must be sent on to a page with a redirect. [`posted`] tells them apart (the
//!   server functions of [`crate::api`] and [`crate::teacher`] both use it).
//! - Browser side, [`take_over`] reads a submitted form's fields in place of the browser,
//!   so a page needs no form component of the router's (whose code for turning form
//!   data into typed arguments cost the WASM tens of kilobytes).

use leptos::web_sys::{FormData, HtmlFormElement};
use serde::{Deserialize, Serialize};

/// What a form's server function answers a hydrated page
/// ([`crate::islands::post_form::PostForm`]); a browser without JavaScript is sent on
/// with a redirect instead (see [`posted`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FormOutcome {
    /// Done: what to tell the visitor, and the page to show next (`None`: this one,
    /// fetched again).
    Done { said: String, next: Option<String> },
    /// Refused: the field at fault (its name in the form), if one is, and why.
    Refused {
        field: Option<String>,
        reason: String,
    },
}

/// Whether the current request is a form posted by a browser without JavaScript: it
/// accepts HTML, where a hydrated page's call does not.
#[cfg(feature = "ssr")]
pub fn posted() -> bool {
    use leptos::prelude::use_context;
    use_context::<http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
    })
}

/// A submitted form, taken over from the browser: its element and its fields. `None`
/// (and the browser submits the form itself) if they cannot be read.
pub fn take_over(event: &leptos::ev::SubmitEvent) -> Option<Submitted> {
    use leptos::wasm_bindgen::JsCast;
    let form = event.target()?.dyn_into::<HtmlFormElement>().ok()?;
    let data = FormData::new_with_form(&form).ok()?;
    event.prevent_default();
    Some(Submitted { form, data })
}

/// A form [`take_over`] took.
pub struct Submitted {
    pub form: HtmlFormElement,
    data: FormData,
}

impl Submitted {
    /// The text of field `name` (empty if there is none).
    pub fn field(&self, name: &str) -> String {
        self.data.get(name).as_string().unwrap_or_default()
    }
}
