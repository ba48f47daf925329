//! Every form of the portal that changes something: "Add a Grade", "Add a student",
//! the login and "Log out". Each is one island, [`PostForm`], drawn from a description
//! ([`FormSpec`]) by the same `view!` on the server and in the browser.
//!
//! - Without JavaScript it is a plain form post to its server function, which answers
//!   with a redirect: on to the next page, or back with the refusal in the query
//!   (`?field=&error=`), which the page hands back to the form to show beside its field.
//! - Hydrated, the island sends the same fields to the same server function itself
//!   ([`crate::live::call`]) and reads a [`FormOutcome`]: a refusal shows beside the
//!   field at fault at once; a change done goes to the page the function names
//!   ([`crate::live::go_to`]), or clears the form and has the islands router fetch this
//!   page again ([`crate::live::refresh_page`]), so a new grade shows without a reload.
//!
//! One island for four forms, rather than one apiece: the "Add a Grade" island alone cost
//! the WASM 20 KB gzipped (measured before the shared fetch), and the budget is 250 KB;
//! the four forms through this one cost 1.3 KB more than it did.

use leptos::{either::Either, prelude::*};
use serde::{Deserialize, Serialize};

use crate::plain_form::FormOutcome;

/// A form [`PostForm`] draws.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormSpec {
    /// The server function's URL (its `PATH`).
    pub action: String,
    /// The form's class.
    pub class: String,
    /// With a heading, the form is a section of the page, `id` its anchor (a plain post's
    /// refusal comes back to `#id`); without one it is the form alone.
    pub heading: Option<(String, String)>,
    /// Hidden fields: name and value.
    pub hidden: Vec<(String, String)>,
    pub fields: Vec<FieldSpec>,
    /// The button's text.
    pub submit: String,
    /// The field a refusal naming no field is shown beside (the login's password);
    /// `None`: under the form.
    pub refusal_beside: Option<String>,
    /// A refusal to show from the start (a plain post came back with it): the field's
    /// name (empty for none) and the reason; an empty reason is none.
    pub refused: (String, String),
}

/// A field of a [`FormSpec`]: always required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// The field's name, which is also its element's id; its refusal is shown in the
    /// element `{name}-error`.
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    /// The `autocomplete` attribute.
    pub autocomplete: String,
}

/// What kind of input a [`FieldSpec`] is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldKind {
    /// One line of text, at most this many characters.
    Text(u32),
    /// A password.
    Password,
    /// A number from 0 to 100, fractions allowed.
    Percent,
    /// One of these.
    Choice(Vec<String>),
}

impl Default for FieldKind {
    fn default() -> FieldKind {
        FieldKind::Text(100)
    }
}

/// The form `spec` describes (see the module's documentation).
#[island]
pub fn PostForm(spec: FormSpec) -> impl IntoView {
    let FormSpec {
        action,
        class,
        heading,
        hidden,
        fields,
        submit,
        refusal_beside,
        refused: (refused_field, refused_reason),
    } = spec;
    let pending = RwSignal::new(false);
    // The refusal shown: the field's name (empty for the form's own) and the reason.
    let refusal = RwSignal::new((!refused_reason.is_empty()).then(|| {
        let field = match (refused_field.is_empty(), &refusal_beside) {
            (true, Some(beside)) => beside.clone(),
            _ => refused_field,
        };
        (field, refused_reason)
    }));
    let said = RwSignal::new(None::<String>);
    let reason_for = move |name: &str| {
        refusal.with(|r| match r {
            Some((field, reason)) if field == name => Some(reason.clone()),
            _ => None,
        })
    };
    let submit_to = action.clone();
    let beside = refusal_beside.unwrap_or_default();
    // What the form sends: its hidden fields and its fields, by name.
    let names: Vec<String> = hidden
        .iter()
        .map(|(name, _)| name.clone())
        .chain(fields.iter().map(|field| field.name.clone()))
        .collect();
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        let Some(submitted) = crate::plain_form::take_over(&event) else {
            return;
        };
        let (action, beside) = (submit_to.clone(), beside.clone());
        let values: Vec<(String, String)> = names
            .iter()
            .map(|name| (name.clone(), submitted.field(name)))
            .collect();
        pending.set(true);
        leptos::task::spawn_local(async move {
            let arguments: Vec<(&str, &str)> = values
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            match crate::live::call::<FormOutcome>(&action, &arguments).await {
                Ok(FormOutcome::Done { said: text, next }) => {
                    refusal.set(None);
                    match next {
                        Some(next) => crate::live::go_to(&next),
                        None => {
                            submitted.form.reset();
                            said.set(Some(text));
                            // The page around the form is the server's: the islands
                            // router fetches it again and diffs the change in.
                            crate::live::refresh_page();
                        }
                    }
                }
                Ok(FormOutcome::Refused { field, reason }) => {
                    said.set(None);
                    refusal.set(Some((field.unwrap_or(beside), reason)));
                }
                Err(reason) => {
                    said.set(None);
                    refusal.set(Some((beside, reason)));
                }
            }
            pending.set(false);
        });
    };
    let fields = fields
        .into_iter()
        .map(|field| {
            let FieldSpec {
                name,
                label,
                kind,
                autocomplete,
            } = field;
            let error_id = format!("{name}-error");
            let invalid = {
                let name = name.clone();
                move || reason_for(&name).is_some()
            };
            let reason = {
                let name = name.clone();
                move || reason_for(&name)
            };
            let (kind, length, choices) = match kind {
                FieldKind::Text(length) => ("text", Some(length), None),
                FieldKind::Password => ("password", None, None),
                FieldKind::Percent => ("number", None, None),
                FieldKind::Choice(choices) => ("", None, Some(choices)),
            };
            let number = kind == "number";
            let (invalid_select, invalid_input) = (invalid.clone(), invalid.clone());
            let input = match choices {
                Some(choices) => Either::Left(view! {
                    <select id=name.clone() name=name.clone() aria-describedby=error_id.clone()
                        aria-invalid=move || invalid_select().to_string()>
                        {choices
                            .into_iter()
                            .map(|choice| {
                                let value = choice.clone();
                                view! { <option value=value>{choice}</option> }
                            })
                            .collect_view()}
                    </select>
                }),
                None => Either::Right(view! {
                    <input id=name.clone() name=name.clone() type=kind required
                        maxlength=length.map(|length| length.to_string())
                        autocomplete=autocomplete
                        min=number.then_some("0") max=number.then_some("100")
                        step=number.then_some("any") inputmode=number.then_some("decimal")
                        aria-describedby=error_id.clone() aria-invalid=move || invalid_input().to_string()/>
                }),
            };
            view! {
                <div class="field" class:invalid=move || invalid()>
                    <label for=name>{label}</label>
                    {input}
                    <p id=error_id class="field-error" aria-live="polite">{reason}</p>
                </div>
            }
        })
        .collect_view();
    let form_error = move || reason_for("");
    let form = view! {
        <form method="post" action=action class=class on:submit=on_submit>
            {hidden
                .into_iter()
                .map(|(name, value)| view! { <input type="hidden" name=name value=value/> })
                .collect_view()}
            {fields}
            <p class="form-error" role="alert">{form_error}</p>
            <p class="form-done" aria-live="polite">{move || said.get()}</p>
            <button type="submit" disabled=move || pending.get()>{submit}</button>
        </form>
    };
    match heading {
        Some((id, heading)) => Either::Left(view! {
            <section aria-labelledby=format!("{id}-heading") id=id.clone()>
                <h2 id=format!("{id}-heading")>{heading}</h2>
                {form}
            </section>
        }),
        None => Either::Right(form),
    }
}
