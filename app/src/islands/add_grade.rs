//! The "Add a Grade" form on a student's page. It is a plain form post first (answered
//! with a redirect back to the page, a refusal in the query string, which the server
//! draws beside its field). Hydrated, it sends the same fields to the same server
//! function ([`add_grade`]) itself: a refusal shows beside the field at fault at once,
//! and an added grade clears the form and has the islands router fetch the page again
//! ([`crate::live::refresh_page`]), so the new grade shows without a reload.

use leptos::prelude::*;

use crate::{
    api::{AddGrade, GradeOutcome},
    wire::grading::GradeType,
};
use leptos::server_fn::ServerFn;

/// The form for student `student_id`, carrying `csrf` (see [`crate::teacher`]); `field`
/// and `error` are a refusal a plain form post came back with (`field` empty for one
/// that is not about a field).
#[island]
pub fn AddGradeForm(student_id: i64, csrf: String, field: String, error: String) -> impl IntoView {
    let pending = RwSignal::new(false);
    // The refusal shown, by field (`None` for the form's own), and what was added.
    let refusal =
        RwSignal::new((!error.is_empty()).then(|| ((!field.is_empty()).then_some(field), error)));
    let added = RwSignal::new(None::<String>);
    let error_for = move |field: &'static str| {
        refusal.with(|r| match r {
            Some((Some(f), reason)) if f == field => Some(reason.clone()),
            _ => None,
        })
    };
    let form_error = move || {
        refusal.with(|r| match r {
            Some((None, reason)) => Some(reason.clone()),
            _ => None,
        })
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        let Some(submitted) = crate::plain_form::take_over(&event) else {
            return;
        };
        let field = |name| submitted.field(name);
        let (title, kind, score, csrf) =
            (field("title"), field("kind"), field("score"), field("csrf"));
        pending.set(true);
        leptos::task::spawn_local(async move {
            let student_id = student_id.to_string();
            let arguments = [
                ("student_id", student_id.as_str()),
                ("title", &title),
                ("kind", &kind),
                ("score", &score),
                ("csrf", &csrf),
            ];
            match crate::live::call::<GradeOutcome>(AddGrade::PATH, &arguments).await {
                Ok(GradeOutcome::Added(grade)) => {
                    submitted.form.reset();
                    refusal.set(None);
                    added.set(Some(format!(
                        "Added {} ({}).",
                        grade.title,
                        grade.kind.as_str()
                    )));
                    // The page around the form is the server's: the islands router
                    // fetches it again and diffs the new grade in.
                    crate::live::refresh_page();
                }
                Ok(GradeOutcome::Invalid { field, reason }) => {
                    added.set(None);
                    refusal.set(Some((field, reason)));
                }
                Err(reason) => {
                    added.set(None);
                    refusal.set(Some((None, reason)));
                }
            }
            pending.set(false);
        });
    };
    let labelled = move |id: &'static str,
                         label: &'static str,
                         field: &'static str,
                         input: AnyView| {
        view! {
            <div class="field" class:invalid=move || error_for(field).is_some()>
                <label for=id>{label}</label>
                {input}
                <p id=format!("{id}-error") class="field-error" aria-live="polite">{move || error_for(field)}</p>
            </div>
        }
    };
    let invalid = move |field: &'static str| move || error_for(field).is_some().to_string();
    view! {
        <section aria-labelledby="add-grade-heading" id="add-grade">
            <h2 id="add-grade-heading">"Add a Grade"</h2>
            <form method="post" action=AddGrade::PATH class="grade-form" on:submit=submit>
                <input type="hidden" name="student_id" value=student_id/>
                <input type="hidden" name="csrf" value=csrf/>
                {labelled(
                    "title",
                    "Title",
                    "Title",
                    view! {
                        <input id="title" name="title" type="text" required maxlength="200"
                            autocomplete="off" aria-describedby="title-error" aria-invalid=invalid("Title")/>
                    }
                    .into_any(),
                )}
                {labelled(
                    "kind",
                    "Type",
                    "Type",
                    view! {
                        <select id="kind" name="kind" aria-describedby="kind-error" aria-invalid=invalid("Type")>
                            {GradeType::ALL
                                .into_iter()
                                .map(|kind| view! { <option value=kind.as_str()>{kind.as_str()}</option> })
                                .collect_view()}
                        </select>
                    }
                    .into_any(),
                )}
                {labelled(
                    "score",
                    "Score",
                    "Score",
                    view! {
                        <input id="score" name="score" type="number" required min="0" max="100" step="any"
                            inputmode="decimal" aria-describedby="score-error" aria-invalid=invalid("Score")/>
                    }
                    .into_any(),
                )}
                <p class="form-error" role="alert">{form_error}</p>
                <p class="form-done" aria-live="polite">{move || added.get()}</p>
                <button type="submit" disabled=move || pending.get()>"Add grade"</button>
            </form>
        </section>
    }
}
