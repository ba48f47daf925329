//! `/login`: the teacher's login form. Logging in lets the teacher add and delete grades
//! (see [`crate::teacher`]); viewing needs no login. After logging in, the browser goes
//! back to the page in `?next=` (the Grade Book by default); a wrong password comes back
//! here with the reason in `?error=`. The form is a [`PostForm`] island: hydrated, a
//! refusal shows beside the password without a reload, and the next page comes through
//! the islands router.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::keyed::IslandEnd,
    islands::post_form::{FieldKind, FieldSpec, FormSpec, PostForm},
    teacher::LogIn,
};

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
    let spec = FormSpec {
        action: LogIn::PATH.into(),
        class: "login-form".into(),
        hidden: vec![("next".into(), next)],
        fields: vec![FieldSpec {
            name: "password".into(),
            label: "Password".into(),
            kind: FieldKind::Password,
            autocomplete: "current-password".into(),
        }],
        submit: "Log in".into(),
        refusal_beside: Some("password".into()),
        refused: (String::new(), error.unwrap_or_default()),
        ..FormSpec::default()
    };
    view! {
        <PostForm spec/>
        <IslandEnd/>
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
