//! `/students/{id}`: one student's grades and the "Add a Grade" form.
//!
//! The form is a Leptos `ActionForm`: hydrated, it submits without a reload, refreshes
//! the grades and shows a refusal beside the field at fault; without JavaScript it is a
//! plain form post, answered with a redirect back here (the refusal in the query string).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    api::{AddGrade, GradeOutcome, get_student},
    format,
    pages::not_found::NotFound,
    unavailable::Unavailable,
    wire::grading::{GradeType, Student},
};

#[component]
pub fn StudentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
    };
    let add = ServerAction::<AddGrade>::new();
    let student = Resource::new(
        move || (id(), add.version().get()),
        |(id, _)| async move {
            match id {
                Some(id) => get_student(id).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match student.await {
                    Err(err) => view! {
                        <Title text="Student"/>
                        <h1>"Student"</h1>
                        <Unavailable what="grading service" error=err.to_string() retry=move || student.refetch()/>
                    }
                    .into_any(),
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Ok(Some(student)) => view! { <StudentView student add/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StudentView(student: Student, add: ServerAction<AddGrade>) -> impl IntoView {
    let name = format!("{}, {}", student.last_name, student.first_name);
    let average = student.average.map(format::percent);
    let grades = student.grades;
    view! {
        <Title text=name.clone()/>
        <p class="breadcrumb"><A href="/students">"Grade Book"</A></p>
        <h1>{name}</h1>
        {average.map(|average| view! { <p class="lede">"Average: " <strong>{average}</strong></p> })}
        <h2>"Grades"</h2>
        {if grades.is_empty() {
            view! { <p class="empty">"No grades available"</p> }.into_any()
        } else {
            view! {
                <table class="data">
                    <thead>
                        <tr>
                            <th scope="col">"Title"</th>
                            <th scope="col">"Type"</th>
                            <th scope="col" class="number">"Score"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {grades
                            .into_iter()
                            .map(|grade| {
                                view! {
                                    <tr>
                                        <td>{grade.title}</td>
                                        <td>{grade.kind.as_str()}</td>
                                        <td class="number">{format::score(grade.score)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            }
            .into_any()
        }}
        <AddGradeForm student_id=student.id add/>
    }
}

#[component]
fn AddGradeForm(student_id: i64, add: ServerAction<AddGrade>) -> impl IntoView {
    let query = use_query_map();
    // The refusal to show beside `field`: the last submission's (hydrated), or the one a
    // plain form post was redirected back with.
    let error_for = move |field: &'static str| -> Option<String> {
        match add.value().get() {
            Some(Ok(GradeOutcome::Invalid {
                field: Some(f),
                reason,
            })) => (f == field).then_some(reason),
            Some(_) => None,
            None => query.with(|q| {
                (q.get("field").as_deref() == Some(field))
                    .then(|| q.get("error"))
                    .flatten()
            }),
        }
    };
    let form_error = move || match add.value().get() {
        Some(Ok(GradeOutcome::Invalid {
            field: None,
            reason,
        })) => Some(reason),
        Some(Err(err)) => Some(
            err.to_string()
                .trim_start_matches("error running server function: ")
                .to_owned(),
        ),
        Some(_) => None,
        None => query.with(|q| {
            q.get("field")
                .filter(|f| f.is_empty())
                .and_then(|_| q.get("error"))
        }),
    };
    let added = move || match add.value().get() {
        Some(Ok(GradeOutcome::Added(grade))) => {
            Some(format!("Added {} ({}).", grade.title, grade.kind.as_str()))
        }
        _ => None,
    };
    let field = move |id: &'static str,
                      label: &'static str,
                      field: &'static str,
                      input: AnyView| {
        let error_id = format!("{id}-error");
        view! {
            <div class="field" class:invalid=move || error_for(field).is_some()>
                <label for=id>{label}</label>
                {input}
                <p id=error_id class="field-error" aria-live="polite">{move || error_for(field)}</p>
            </div>
        }
    };
    view! {
        <section aria-labelledby="add-grade-heading" id="add-grade">
            <h2 id="add-grade-heading">"Add a Grade"</h2>
            <ActionForm action=add attr:class="grade-form">
                <input type="hidden" name="student_id" value=student_id/>
                {field(
                    "title",
                    "Title",
                    "Title",
                    view! {
                        <input id="title" name="title" type="text" required maxlength="200"
                            autocomplete="off" aria-describedby="title-error"
                            aria-invalid=move || error_for("Title").is_some().to_string()/>
                    }
                    .into_any(),
                )}
                {field(
                    "kind",
                    "Type",
                    "Type",
                    view! {
                        <select id="kind" name="kind" aria-describedby="kind-error">
                            {GradeType::ALL
                                .into_iter()
                                .map(|kind| view! { <option value=kind.as_str()>{kind.as_str()}</option> })
                                .collect_view()}
                        </select>
                    }
                    .into_any(),
                )}
                {field(
                    "score",
                    "Score",
                    "Score",
                    view! {
                        <input id="score" name="score" type="number" required min="0" max="100" step="any"
                            inputmode="decimal" aria-describedby="score-error"
                            aria-invalid=move || error_for("Score").is_some().to_string()/>
                    }
                    .into_any(),
                )}
                <p class="form-error" role="alert">{form_error}</p>
                <p class="form-done" aria-live="polite">{added}</p>
                <button type="submit" disabled=move || add.pending().get()>"Add grade"</button>
            </ActionForm>
        </section>
    }
}
