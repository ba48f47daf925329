//! `/login`: the teacher's login form. Logging in lets the teacher add and delete grades
//! (see [`crate::teacher`]); viewing needs no login. After logging in, the browser goes
//! back to the page in `?next=` (the Grade Book by default); a wrong password comes back
//! here with the reason in `?error=`.
//!
//! The form is a plain form post written as an HTML string, even when hydrated: logging
//! in loads the next page anyway, and the browser then needs no code for it (each
//! hydrated view adds kilobytes to the WASM).

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{format::html_escape, teacher::LogIn};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let form = move || {
        let query = query.read();
        login_form(
            &query.get("next").unwrap_or_else(|| "/students".into()),
            query.get("error").as_deref(),
        )
    };
    view! {
        <Title text="Teacher login"/>
        <h1>"Teacher login"</h1>
        <p class="lede">"Log in to add and delete grades. Anyone may view them."</p>
        <div inner_html=form></div>
    }
}

/// The form, sending the browser on to `next`, with `error` beside the password.
fn login_form(next: &str, error: Option<&str>) -> String {
    let invalid = if error.is_some() { " invalid" } else { "" };
    format!(
        r#"<form method="post" action="{action}" class="login-form"><input type="hidden" name="next" value="{next}"/><div class="field{invalid}"><label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password" aria-describedby="password-error" aria-invalid="{flag}"/><p id="password-error" class="field-error" aria-live="polite">{error}</p></div><button type="submit">Log in</button></form>"#,
        action = LogIn::PATH,
        next = html_escape(next),
        flag = error.is_some(),
        error = html_escape(error.unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_form_escapes_what_the_query_carries() {
        let form = super::login_form(r#"/x"><script>"#, Some("<b>no</b>"));
        assert!(!form.contains("<script>"), "{form}");
        assert!(!form.contains("<b>"), "{form}");
        assert!(form.contains(r#"class="field invalid""#));
    }
}
