//! `/students/{id}`: one student's grades, a chart of their scores over time against the
//! class average of each grade type ([`ScoresChart`]), the "Add a Grade" form and one
//! delete button per grade.
//!
//! Everything but the forms is drawn on the server. The delete buttons are plain forms
//! (the islands router posts a delete and diffs the page it is sent back to, so a grade
//! goes without a reload). "Add a Grade" and "Log out" are [`PostForm`] islands. When
//! changing grades needs a login ([`crate::teacher`]), the forms are shown only to the
//! logged-in teacher, each carrying the session's CSRF token; others see a link to log
//! in.

use std::collections::BTreeMap;

use leptos::{either::EitherOf3, prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::{
    api::DeleteGrade,
    components::{
        charts::ScoresChart,
        keyed::{IslandEnd, Keyed},
        unavailable::Unavailable,
    },
    format,
    islands::{
        live_grades::FollowGrades,
        post_form::{FieldKind, FieldSpec, FormSpec, PostForm},
    },
    pages::not_found::NotFound,
    teacher::{LogOut, TeacherStatus},
    wire::grading::{GradeType, Student},
};

/// What a student's page shows: the student, and the class's average of each grade type
/// (for the chart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentView {
    pub student: Student,
    pub class: BTreeMap<String, f64>,
}

/// Student `id` (`None` if there is no such student), with the class's averages by type.
#[server]
pub async fn load_student(id: i64) -> Result<Option<StudentView>, ServerFnError> {
    let class = crate::api::list_students().await?;
    let averages = crate::components::charts::type_averages(class.iter().flat_map(|s| &s.grades));
    Ok(class
        .into_iter()
        .find(|s| s.id == id)
        .map(|student| StudentView {
            student,
            class: averages,
        }))
}

#[component]
pub fn StudentPage() -> impl IntoView {
    let id = use_params_map()
        .with_untracked(|params| params.get("id").and_then(|id| id.parse::<i64>().ok()));
    let (field, error) = use_query_map().with_untracked(|query| {
        (
            query.get("field").unwrap_or_default(),
            query.get("error").unwrap_or_default(),
        )
    });
    let page = Resource::new(
        move || id,
        |id| async move {
            match id {
                Some(id) => load_student(id).await,
                None => Ok(None),
            }
        },
    );
    let teacher = Resource::new(|| (), |_| crate::teacher::get_teacher_status());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let (field, error) = (field.clone(), error.clone());
                Suspend::new(async move {
                    // Without an answer about the login, the forms stay hidden.
                    let teacher = teacher.await.unwrap_or(TeacherStatus {
                        required: true,
                        csrf: None,
                    });
                    match page.await {
                        Err(err) => EitherOf3::A(view! {
                            <Title text="Student"/>
                            <h1>"Student"</h1>
                            <Unavailable what="grading service" error=err.to_string()/>
                        }),
                        Ok(None) => EitherOf3::B(view! { <NotFound/> }),
                        Ok(Some(StudentView { student, class })) => {
                            let form = teacher.csrf.clone().map(|csrf| {
                                // Its props come from the URL (a refusal sent back): a new
                                // refusal is a new island (see `Keyed`).
                                let key = (student.id, csrf.clone(), field.clone(), error.clone());
                                view! {
                                    <Keyed key>
                                        <PostForm spec=add_grade_form(student.id, csrf.clone(), (field.clone(), error.clone()))/>
                                        <IslandEnd/>
                                    </Keyed>
                                }
                            });
                            // What the page shows, as its key: see `Keyed`.
                            let key = crate::components::keyed::key_of(&(&student, &class, &teacher));
                            EitherOf3::C(view! {
                                <Title text=format!("{}, {}", student.last_name, student.first_name)/>
                                <FollowGrades/>
                                <IslandEnd/>
                                <Keyed key>
                                    <StudentGrades student=student.clone() class=class.clone() teacher=teacher.clone()/>
                                </Keyed>
                                {form}
                            })
                        }
                    }
                })
            }}
        </Suspense>
    }
}

/// The "Add a Grade" form for student `student_id`, carrying `csrf` (see
/// [`crate::teacher`]), with the refusal a plain post came back with (`field` and
/// `error` in the query).
fn add_grade_form(student_id: i64, csrf: String, refused: (String, String)) -> FormSpec {
    FormSpec {
        action: crate::api::AddGrade::PATH.into(),
        class: "grade-form".into(),
        heading: Some(("add-grade".into(), "Add a Grade".into())),
        hidden: vec![
            ("student_id".into(), student_id.to_string()),
            ("csrf".into(), csrf),
        ],
        fields: vec![
            FieldSpec {
                name: "title".into(),
                label: "Title".into(),
                kind: FieldKind::Text(200),
                autocomplete: "off".into(),
            },
            FieldSpec {
                name: "kind".into(),
                label: "Type".into(),
                kind: FieldKind::Choice(GradeType::ALL.map(|kind| kind.as_str().into()).to_vec()),
                autocomplete: "off".into(),
            },
            FieldSpec {
                name: "score".into(),
                label: "Score".into(),
                kind: FieldKind::Percent,
                autocomplete: "off".into(),
            },
        ],
        submit: "Add grade".into(),
        refusal_beside: None,
        refused,
    }
}

/// Everything on the page above the form: the login bar, the name, the average, the
/// chart and the grades with their delete buttons.
#[component]
fn StudentGrades(
    student: Student,
    class: BTreeMap<String, f64>,
    teacher: TeacherStatus,
) -> impl IntoView {
    let name = format!("{}, {}", student.last_name, student.first_name);
    let page = format!("/students/{}", student.id);
    let average = student.average.map(|average| {
        view! { <p class="lede">"Average: "<strong>{format::percent(average)}</strong></p> }
    });
    let csrf = teacher.csrf.clone();
    let grades = (!student.grades.is_empty()).then(|| {
        let hidden = csrf.is_none();
        let student_id = student.id;
        let rows = student
            .grades
            .iter()
            .map(|grade| {
                let delete = csrf.clone().map(|csrf| {
                    view! { <DeleteForm student_id grade_id=grade.id title=grade.title.clone() csrf/> }
                });
                view! {
                    <tr>
                        <td>{grade.title.clone()}</td>
                        <td>{grade.kind.as_str()}</td>
                        <td class="number">{format::score(grade.score)}</td>
                        <td>
                            {grade.added.as_deref().and_then(|time| {
                                let shown = format::added(time)?;
                                Some(view! { <time datetime=time.to_owned()>{shown}</time> })
                            })}
                        </td>
                        <td hidden=hidden>{delete}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="data">
                <thead>
                    <tr>
                        <th scope="col">"Title"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col" class="number">"Score"</th>
                        <th scope="col">"Added"</th>
                        <th scope="col" hidden=hidden><span class="visually-hidden">"Delete"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    let none = student
        .grades
        .is_empty()
        .then(|| view! { <p class="empty">"No grades available"</p> });
    view! {
        <p class="breadcrumb"><a href="/students">"Grade Book"</a></p>
        <div class="teacher-bar"><TeacherBar teacher page/></div>
        <h1>{name}</h1>
        {average}
        <h2>"Grades"</h2>
        <div class="student-chart"><ScoresChart student=student.clone() class/></div>
        {none}
        {grades}
    }
}

/// The login bar: "Logged in as the teacher" with a button to log out, or a link to log
/// in; nothing when no login is needed.
#[component]
fn TeacherBar(teacher: TeacherStatus, page: String) -> impl IntoView {
    if teacher.logged_in() {
        EitherOf3::A(view! {
            <span>"Logged in as the teacher."</span>
            <PostForm spec=FormSpec {
                action: LogOut::PATH.into(),
                class: "log-out".into(),
                hidden: vec![("csrf".into(), teacher.csrf.unwrap_or_default())],
                submit: "Log out".into(),
                ..FormSpec::default()
            }/>
            <IslandEnd/>
        })
    } else if teacher.required {
        EitherOf3::B(view! {
            <a href=format!("/login?next={}", format::url_encode(&page))>"Log in"</a>
            " as the teacher to add or delete grades."
        })
    } else {
        EitherOf3::C(())
    }
}

/// A grade's delete button: a plain form post, answered with a redirect back here.
#[component]
fn DeleteForm(student_id: i64, grade_id: i64, title: String, csrf: String) -> impl IntoView {
    view! {
        <form method="post" action=DeleteGrade::PATH class="delete-grade">
            <input type="hidden" name="student_id" value=student_id/>
            <input type="hidden" name="grade_id" value=grade_id/>
            <input type="hidden" name="csrf" value=csrf/>
            <button type="submit" class="link-button" aria-label=format!("Delete {title}")>"Delete"</button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::html;
    use crate::wire::grading::{Grade, GradeType};

    /// What a hostile value would need to break out of an attribute or inject markup.
    fn assert_inert(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains(r#"" onmouseover"#), "{html}");
    }

    #[test]
    fn a_delete_button_escapes_the_title_and_the_token() {
        let form = html(|| {
            view! {
                <DeleteForm student_id=3 grade_id=7 title=r#""><script>alert(1)</script>"#.into()
                    csrf=r#"x" onmouseover="steal()"#.into()/>
            }
        });
        assert_inert(&form);
        assert!(
            form.contains(r#"aria-label="Delete &quot;>&lt;script>"#)
                || form.contains(r#"aria-label="Delete &quot;&gt;&lt;script&gt;"#),
            "{form}"
        );
        assert!(form.contains(r#"name="student_id" value="3""#), "{form}");
        assert!(form.contains(r#"name="grade_id" value="7""#), "{form}");
    }

    fn student(grades: Vec<Grade>) -> Student {
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
        let grade = Grade {
            id: 3,
            title: "<script>alert(1)</script>".into(),
            kind: GradeType::Quiz,
            score: 91.5,
            added: Some("2026-12-05T09:30:00Z".into()),
        };
        let visitor = TeacherStatus {
            required: true,
            csrf: None,
        };
        let page = |student: Student, teacher: TeacherStatus| {
            html(move || view! { <StudentGrades student class=BTreeMap::new() teacher/> })
        };
        let shown = page(student(vec![grade.clone()]), visitor);
        assert_inert(&shown);
        assert!(shown.contains("<h1>&lt;Love&gt;, Ada</h1>"), "{shown}");
        assert!(shown.contains(r#"<strong>91.5%</strong>"#), "{shown}");
        assert!(
            shown.contains(r#"<td class="number">91.5</td><td><time datetime="2026-12-05T09:30:00Z">2026-12-05 09:30 UTC</time></td><td hidden></td>"#),
            "{shown}"
        );
        assert!(shown.contains("Log in"), "{shown}");
        insta::assert_snapshot!(crate::snapshot::tag_lines(&shown));

        let teacher = TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        };
        let shown = page(student(vec![grade]), teacher.clone());
        assert!(shown.contains(r#"name="grade_id" value="3""#), "{shown}");
        assert!(!shown.contains(" hidden"), "{shown}");

        let shown = page(student(Vec::new()), teacher);
        assert!(shown.contains("No grades available"), "{shown}");
        assert!(!shown.contains("<table"), "{shown}");
        assert!(!shown.contains("Average"), "{shown}");
    }

    #[test]
    fn the_teacher_bar_escapes_the_token_and_the_page() {
        let bar = |teacher: TeacherStatus, page: &str| {
            let page = page.to_owned();
            html(move || view! { <TeacherBar teacher page/> })
        };
        let logged_in = TeacherStatus {
            required: true,
            csrf: Some(r#"t" onmouseover="steal()"#.into()),
        };
        let shown = bar(logged_in, "/students/1");
        assert_inert(&shown);
        assert!(shown.contains("Log out"), "{shown}");

        let visitor = TeacherStatus {
            required: true,
            csrf: None,
        };
        let shown = bar(visitor, r#"/students/1"><img src=x onerror=alert(1)>"#);
        assert_inert(&shown);
        assert!(shown.contains("Log in"), "{shown}");

        let open = TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        };
        assert_eq!(bar(open, "/students/1"), "");
    }
}
