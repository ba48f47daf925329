//! `/students/{id}`: one student's grades, a chart of their scores over time against the
//! class average of each grade type ([`crate::charts::student_scores`], made on the
//! server and asked for again when a grade is added), the "Add a Grade" form and a
//! delete button a grade.
//!
//! The "Add a Grade" form is a Leptos `ActionForm`: hydrated, it submits without a
//! reload, refreshes the grades and shows a refusal beside the field at fault; without
//! JavaScript it is a plain form post, answered with a redirect back here (a refusal in
//! the query string). The delete buttons and the login bar are plain forms and links,
//! written as HTML strings: they need no code in the browser, which keeps the WASM small
//! (each hydrated view costs kilobytes). When changing grades needs a login
//! ([`crate::teacher`]), the forms are shown only to the logged-in teacher, each carrying
//! the session's CSRF token; others see a link to log in.

use leptos::{
    either::{Either, EitherOf3},
    prelude::*,
    server_fn::ServerFn,
};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    api::{AddGrade, DeleteGrade, GradeOutcome, get_student},
    format::{self, html_escape},
    pages::not_found::NotFound,
    teacher::{LogOut, TeacherStatus, get_teacher_status},
    unavailable::Unavailable,
    wire::grading::{GradeType, Student},
};

/// The chart of student `id`'s scores against the class ([`crate::charts::student_scores`]):
/// empty if the student has no grades or is not found.
#[server]
pub async fn student_chart(id: i64) -> Result<String, ServerFnError> {
    let class = crate::api::list_students().await?;
    Ok(class
        .iter()
        .find(|s| s.id == id)
        .map(|student| crate::charts::student_scores(student, &class))
        .unwrap_or_default())
}

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
    let teacher = Resource::new(|| (), |()| get_teacher_status());
    // Asked again whenever a grade is added here (a delete reloads the page).
    let chart = Resource::new(
        move || (id(), add.version().get()),
        |(id, _)| async move {
            match id {
                Some(id) => student_chart(id).await.unwrap_or_default(),
                None => String::new(),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match student.await {
                    Err(err) => EitherOf3::A(view! {
                        <Title text="Student"/>
                        <h1>"Student"</h1>
                        <Unavailable what="grading service" error=err.to_string() retry=move || student.refetch()/>
                    }),
                    Ok(None) => EitherOf3::B(view! { <NotFound/> }),
                    Ok(Some(student)) => {
                        // Without an answer about the login, the forms stay hidden.
                        let teacher = teacher.await.unwrap_or(TeacherStatus {
                            required: true,
                            csrf: None,
                        });
                        let chart = chart.await;
                        EitherOf3::C(view! { <StudentView student teacher add chart/> })
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn StudentView(
    student: Student,
    teacher: TeacherStatus,
    add: ServerAction<AddGrade>,
    /// The scores chart, as HTML made on the server.
    chart: String,
) -> impl IntoView {
    let name = format!("{}, {}", student.last_name, student.first_name);
    let average = student.average.map(format::percent);
    let grades = student.grades;
    let student_id = student.id;
    let csrf = teacher.csrf.clone().unwrap_or_default();
    let may_change = teacher.may_change();
    let bar = teacher_bar(&teacher, &format!("/students/{student_id}"));
    view! {
        <Title text=name.clone()/>
        <p class="breadcrumb"><A href="/students">"Grade Book"</A></p>
        <div class="teacher-bar" inner_html=bar></div>
        <h1>{name}</h1>
        {average.map(|average| view! { <p class="lede">"Average: " <strong>{average}</strong></p> })}
        <h2>"Grades"</h2>
        <div class="student-chart" inner_html=chart></div>
        {if grades.is_empty() {
            Either::Left(view! { <p class="empty">"No grades available"</p> })
        } else {
            Either::Right(
            view! {
                <table class="data">
                    <thead>
                        <tr>
                            <th scope="col">"Title"</th>
                            <th scope="col">"Type"</th>
                            <th scope="col" class="number">"Score"</th>
                            <th scope="col" hidden=!may_change><span class="visually-hidden">"Delete"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {grades
                            .into_iter()
                            .map(|grade| {
                                let delete = if may_change {
                                    delete_form(student_id, grade.id, &grade.title, &csrf)
                                } else {
                                    String::new()
                                };
                                view! {
                                    <tr>
                                        <td>{grade.title}</td>
                                        <td>{grade.kind.as_str()}</td>
                                        <td class="number">{format::score(grade.score)}</td>
                                        <td hidden=!may_change inner_html=delete></td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            })
        }}
        <AddGradeForm student_id add csrf=csrf.clone() shown=may_change/>
    }
}

/// The login bar: "Logged in as the teacher" with a button to log out, or a link to log
/// in; empty when no login is needed. Plain HTML (see the module's notes).
fn teacher_bar(teacher: &TeacherStatus, page: &str) -> String {
    if teacher.logged_in() {
        format!(
            r#"<span>Logged in as the teacher.</span><form method="post" action="{}" class="log-out"><input type="hidden" name="csrf" value="{}"/><button type="submit" class="link-button">Log out</button></form>"#,
            LogOut::PATH,
            html_escape(teacher.csrf.as_deref().unwrap_or_default())
        )
    } else if teacher.required {
        format!(
            r#"<a href="/login?next={}">Log in</a> as the teacher to add or delete grades."#,
            html_escape(&format::url_encode(page))
        )
    } else {
        String::new()
    }
}

/// A grade's delete button: a plain form post, answered with a redirect back here.
fn delete_form(student_id: i64, grade_id: i64, title: &str, csrf: &str) -> String {
    format!(
        r#"<form method="post" action="{}" class="delete-grade"><input type="hidden" name="student_id" value="{student_id}"/><input type="hidden" name="grade_id" value="{grade_id}"/><input type="hidden" name="csrf" value="{}"/><button type="submit" class="link-button" aria-label="Delete {}">Delete</button></form>"#,
        DeleteGrade::PATH,
        html_escape(csrf),
        html_escape(title)
    )
}

#[component]
fn AddGradeForm(
    student_id: i64,
    add: ServerAction<AddGrade>,
    csrf: String,
    /// Whether the visitor may add grades (else the form is hidden).
    shown: bool,
) -> impl IntoView {
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
        Some(Err(err)) => Some(format::server_error(&err)),
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
        <section aria-labelledby="add-grade-heading" id="add-grade" hidden=!shown>
            <h2 id="add-grade-heading">"Add a Grade"</h2>
            <ActionForm action=add attr:class="grade-form">
                <input type="hidden" name="student_id" value=student_id/>
                <input type="hidden" name="csrf" value=csrf/>
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a hostile value would need to break out of an attribute or inject markup.
    fn assert_inert(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains(r#"" onmouseover"#), "{html}");
    }

    #[test]
    fn a_delete_button_escapes_the_title_and_the_token() {
        let form = delete_form(
            3,
            7,
            r#""><script>alert(1)</script>"#,
            r#"x" onmouseover="steal()"#,
        );
        assert_inert(&form);
        assert!(
            form.contains(r#"aria-label="Delete &quot;&gt;&lt;script&gt;"#),
            "{form}"
        );
        assert!(form.contains(r#"name="student_id" value="3""#), "{form}");
        assert!(form.contains(r#"name="grade_id" value="7""#), "{form}");
    }

    #[test]
    fn the_teacher_bar_escapes_the_token_and_the_page() {
        let logged_in = TeacherStatus {
            required: true,
            csrf: Some(r#"t" onmouseover="steal()"#.into()),
        };
        let bar = teacher_bar(&logged_in, "/students/1");
        assert_inert(&bar);
        assert!(bar.contains("Log out"), "{bar}");

        let visitor = TeacherStatus {
            required: true,
            csrf: None,
        };
        let bar = teacher_bar(&visitor, r#"/students/1"><img src=x onerror=alert(1)>"#);
        assert_inert(&bar);
        assert!(bar.contains("Log in"), "{bar}");

        let open = TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        };
        assert_eq!(teacher_bar(&open, "/students/1"), "");
    }
}
