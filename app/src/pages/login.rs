//! `/login`: the teacher's login form. Logging in lets the teacher add and delete grades
//! (see [`crate::teacher`]); viewing needs no login. After logging in, the browser goes
//! back to the page in `?next=` (the Grade Book by default); a wrong password comes back
//! here with the reason in `?error=`. A plain form post: logging in loads the next page
//! anyway, so the page ships no code.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::teacher::LogIn;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let (next, error) = query.with_untracked(|query| {
        (
            query.get("next").unwrap_or_else(|| "/students".into()),
            query.get("error"),
        )
    });
    view! {
        <Title text="Teacher login"/>
        <h1>"Teacher login"</h1>
        <p class="lede">"Log in to add and delete grades. Anyone may view them."</p>
        <LoginForm next error/>
    }
}

/// The form, sending the browser on to `next`, with `error` beside the password.
#[component]
fn LoginForm(next: String, error: Option<String>) -> impl IntoView {
    let refused = error.is_some();
    view! {
        <form method="post" action=LogIn::PATH class="login-form">
            <input type="hidden" name="next" value=next/>
            <div class="field" class:invalid=refused>
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    required
                    autocomplete="current-password"
                    aria-describedby="password-error"
                    aria-invalid=refused.to_string()
                />
                <p id="password-error" class="field-error" aria-live="polite">{error}</p>
            </div>
            <button type="submit">"Log in"</button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_what_the_query_carries() {
        let form = crate::snapshot::html(|| {
            view! { <LoginForm next=r#"/x"><script>"#.into() error=Some("<b>no</b>".into())/> }
        });
        assert!(!form.contains("<script>"), "{form}");
        assert!(!form.contains("<b>"), "{form}");
        assert!(form.contains(r#"class="field invalid""#), "{form}");
    }
}
