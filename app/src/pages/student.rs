//! `/students/{id}`: one student's grades, a chart of their scores over time against the
//! class average of each grade type ([`crate::charts::student_scores`]), the "Add a Grade"
//! form and one delete button per grade.
//!
//! Everything but the form is HTML made on the server ([`student_html`]), as on the
//! registry page: the browser needs no code to draw it, which keeps the WASM small (each
//! hydrated view costs kilobytes). The delete buttons and the login bar are plain forms
//! and links. The "Add a Grade" form is a plain form post (answered with a redirect back
//! here, a refusal in the query string); hydrated, it sends the same fields to the same
//! server function without a reload, shows a refusal beside the field at fault, and asks
//! for the page again when the grade is added. When changing grades needs a login
//! ([`crate::teacher`]), the forms are shown only to the logged-in teacher, each carrying
//! the session's CSRF token; others see a link to log in.

use leptos::{either::EitherOf3, prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::{
    api::{AddGrade, DeleteGrade, GradeOutcome, add_grade},
    format::{self, html_escape},
    pages::not_found::NotFound,
    teacher::{LogOut, TeacherStatus},
    unavailable::Unavailable,
    wire::grading::{GradeType, Student},
};

/// A student's page as the server made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    /// "Last, First": the page's title.
    pub name: String,
    /// Everything above the form: the login bar, the name, the average, the chart and
    /// the grades with their delete buttons.
    pub html: String,
    /// The CSRF token the form carries, if the visitor may add grades.
    pub csrf: Option<String>,
}

/// Student `id`'s page (`None` if there is no such student), with the class's grades for
/// the chart and the visitor's login for the forms.
#[server]
pub async fn student_html(id: i64) -> Result<Option<Rendered>, ServerFnError> {
    let class = crate::api::list_students().await?;
    let Some(student) = class.iter().find(|s| s.id == id) else {
        return Ok(None);
    };
    // Without an answer about the login, the forms stay hidden.
    let teacher = crate::teacher::get_teacher_status()
        .await
        .unwrap_or(TeacherStatus {
            required: true,
            csrf: None,
        });
    let chart = crate::charts::student_scores(student, &class);
    Ok(Some(Rendered {
        name: format!("{}, {}", student.last_name, student.first_name),
        html: render(student, &teacher, &chart),
        csrf: teacher.csrf,
    }))
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
    // The last submission's answer (hydrated), kept while the page is asked for again.
    let outcome = RwSignal::new(None::<Result<GradeOutcome, ServerFnError>>);
    let added = RwSignal::new(0u32);
    let page = Resource::new(
        move || (id(), added.get()),
        |(id, _)| async move {
            match id {
                Some(id) => student_html(id).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(err) => EitherOf3::A(view! {
                        <Title text="Student"/>
                        <h1>"Student"</h1>
                        <Unavailable what="grading service" error=err.to_string() retry=move || page.refetch()/>
                    }),
                    Ok(None) => EitherOf3::B(view! { <NotFound/> }),
                    Ok(Some(Rendered { name, html, csrf })) => {
                        let student_id = id().unwrap_or_default();
                        EitherOf3::C(view! {
                            <Title text=name/>
                            <div inner_html=html></div>
                            <AddGradeForm student_id csrf outcome added/>
                        })
                    }
                }
            })}
        </Suspense>
    }
}

/// Everything on the page above the form, as HTML.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn render(student: &Student, teacher: &TeacherStatus, chart: &str) -> String {
    use std::fmt::Write as _;
    let name = format!("{}, {}", student.last_name, student.first_name);
    let mut html = format!(
        r#"<p class="breadcrumb"><a href="/students">Grade Book</a></p><div class="teacher-bar">{}</div><h1>{}</h1>"#,
        teacher_bar(teacher, &format!("/students/{}", student.id)),
        html_escape(&name)
    );
    if let Some(average) = student.average {
        let _ = write!(
            html,
            r#"<p class="lede">Average: <strong>{}</strong></p>"#,
            format::percent(average)
        );
    }
    let _ = write!(
        html,
        r#"<h2>Grades</h2><div class="student-chart">{chart}</div>"#
    );
    if student.grades.is_empty() {
        html.push_str(r#"<p class="empty">No grades available</p>"#);
        return html;
    }
    let csrf = teacher.csrf.as_deref();
    let hidden = if csrf.is_some() { "" } else { " hidden" };
    let _ = write!(
        html,
        r#"<table class="data"><thead><tr><th scope="col">Title</th><th scope="col">Type</th><th scope="col" class="number">Score</th><th scope="col"{hidden}><span class="visually-hidden">Delete</span></th></tr></thead><tbody>"#
    );
    for grade in &student.grades {
        let delete = csrf
            .map(|csrf| delete_form(student.id, grade.id, &grade.title, csrf))
            .unwrap_or_default();
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td class="number">{}</td><td{hidden}>{delete}</td></tr>"#,
            html_escape(&grade.title),
            grade.kind.as_str(),
            format::score(grade.score)
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// The login bar: "Logged in as the teacher" with a button to log out, or a link to log
/// in; empty when no login is needed. Plain HTML (see the module's notes).
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
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
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn delete_form(student_id: i64, grade_id: i64, title: &str, csrf: &str) -> String {
    format!(
        r#"<form method="post" action="{}" class="delete-grade"><input type="hidden" name="student_id" value="{student_id}"/><input type="hidden" name="grade_id" value="{grade_id}"/><input type="hidden" name="csrf" value="{}"/><button type="submit" class="link-button" aria-label="Delete {}">Delete</button></form>"#,
        DeleteGrade::PATH,
        html_escape(csrf),
        html_escape(title)
    )
}

/// The "Add a Grade" form: a plain form post, or, hydrated, [`add_grade`] called with the
/// same fields without a reload (`outcome` takes its answer; `added` counts the grades
/// added, which asks for the page again).
#[component]
fn AddGradeForm(
    student_id: i64,
    /// The token the form carries; `None` hides the form (the visitor may not add).
    csrf: Option<String>,
    outcome: RwSignal<Option<Result<GradeOutcome, ServerFnError>>>,
    added: RwSignal<u32>,
) -> impl IntoView {
    let query = use_query_map();
    let pending = RwSignal::new(false);
    // The refusal to show beside `field`: the last submission's (hydrated), or the one a
    // plain form post was redirected back with.
    let error_for = move |field: &'static str| -> Option<String> {
        match outcome.get() {
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
    let form_error = move || match outcome.get() {
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
    let done = move || match outcome.get() {
        Some(Ok(GradeOutcome::Added(grade))) => {
            Some(format!("Added {} ({}).", grade.title, grade.kind.as_str()))
        }
        _ => None,
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
            let answer = add_grade(student_id, title, kind, score, csrf).await;
            if matches!(answer, Ok(GradeOutcome::Added(_))) {
                submitted.form.reset();
                added.update(|n| *n += 1);
            }
            outcome.set(Some(answer));
            pending.set(false);
        });
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
    let shown = csrf.is_some();
    view! {
        <section aria-labelledby="add-grade-heading" id="add-grade" hidden=!shown>
            <h2 id="add-grade-heading">"Add a Grade"</h2>
            <form method="post" action=AddGrade::PATH class="grade-form" on:submit=submit>
                <input type="hidden" name="student_id" value=student_id/>
                <input type="hidden" name="csrf" value=csrf.unwrap_or_default()/>
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
                <p class="form-done" aria-live="polite">{done}</p>
                <button type="submit" disabled=move || pending.get()>"Add grade"</button>
            </form>
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

    fn student(grades: Vec<crate::wire::grading::Grade>) -> Student {
        Student {
            id: 7,
            first_name: "Ada".into(),
            last_name: "<Love>".into(),
            average: (!grades.is_empty()).then_some(91.5),
            grades,
        }
    }

    #[test]
    fn the_page_escapes_names_and_titles_and_hides_deleting_from_visitors() {
        let grade = crate::wire::grading::Grade {
            id: 3,
            title: "<script>alert(1)</script>".into(),
            kind: GradeType::Quiz,
            score: 91.5,
        };
        let visitor = TeacherStatus {
            required: true,
            csrf: None,
        };
        let html = render(&student(vec![grade.clone()]), &visitor, "<svg></svg>");
        assert_inert(&html);
        assert!(html.contains("<h1>&lt;Love&gt;, Ada</h1>"), "{html}");
        assert!(html.contains(r#"<strong>91.5%</strong>"#), "{html}");
        assert!(
            html.contains(r#"<div class="student-chart"><svg></svg></div>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<td class="number">91.5</td><td hidden></td>"#),
            "{html}"
        );
        assert!(html.contains("Log in"), "{html}");

        let teacher = TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        };
        let html = render(&student(vec![grade]), &teacher, "");
        assert!(html.contains(r#"name="grade_id" value="3""#), "{html}");
        assert!(!html.contains(" hidden"), "{html}");

        let html = render(&student(Vec::new()), &teacher, "");
        assert!(html.contains("No grades available"), "{html}");
        assert!(!html.contains("<table"), "{html}");
        assert!(!html.contains("Average"), "{html}");
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
