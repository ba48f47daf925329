//! `/students`, the Grade Book: the students, each linking to their page, with their
//! average formatted as the original did (`87.0%`), found by name (`?q=carter`), sorted
//! (`?sort=name`, `?sort=average`; by ID otherwise) and shown a page at a time (`?page=2`,
//! 50 per page), so a class of 1,000 is not one huge page. The grading service does the
//! searching, sorting and paging in SQL (`GET /students?q=&sort=&page=&per_page=`), and
//! counts the histogram's bands (`GET /students/summary`): the portal asks for the page it
//! shows, never for every student. The search is a plain GET form, the same with
//! JavaScript or without. The whole grade book downloads as CSV from `/students.csv`
//! (served by the portal's server side). Above the table is a histogram of the class's
//! averages by 10-point band, and each row has a bar of the student's average
//! ([`crate::components::charts`]); below the table, "Add a student" is shown to whoever
//! may change grades (a [`PostForm`] island, see [`crate::api::add_student`]).
//!
//! Everything here is drawn on the server; the search form sits in the
//! [`SearchAsYouType`] island, and the pager's and the names' links are plain anchors,
//! which the islands router follows without a reload.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{
    api::AddStudent,
    components::{
        charts::{AverageBar, ClassHistogram},
        keyed::{IslandEnd, Keyed},
        unavailable::Unavailable,
    },
    format,
    islands::{
        live_grades::FollowGrades,
        post_form::{FieldKind, FieldSpec, FormSpec, PostForm},
        search::SearchAsYouType,
    },
    teacher::TeacherStatus,
    wire::grading::Student,
};
use leptos::server_fn::ServerFn;

/// Students per page.
pub const PAGE_SIZE: usize = 50;

/// One page of the Grade Book, as asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeBookPage {
    pub students: Vec<Student>,
    /// How many students match the search, on every page.
    pub matching: usize,
    /// The page shown (from 1), within `1..=pages`.
    pub page: usize,
    pub pages: usize,
}

/// How the Grade Book is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// By ID: the order students were added (the original's).
    #[default]
    Id,
    /// By last name, then first name.
    Name,
    /// Highest average first; students without grades last.
    Average,
}

impl Order {
    /// The `sort` parameter's value; anything unknown is by ID.
    pub fn parse(value: &str) -> Order {
        match value {
            "name" => Order::Name,
            "average" => Order::Average,
            _ => Order::Id,
        }
    }

    /// The grading API's name for this order.
    pub fn wire(self) -> crate::wire::grading::StudentOrder {
        use crate::wire::grading::StudentOrder;
        match self {
            Order::Id => StudentOrder::Id,
            Order::Name => StudentOrder::Name,
            Order::Average => StudentOrder::Average,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Order::Id => "",
            Order::Name => "name",
            Order::Average => "average",
        }
    }
}

/// One page of the Grade Book and the class's histogram: what `/students` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeBook {
    pub page: GradeBookPage,
    /// The class's averages by 10-point band (the whole class, not the search).
    pub bands: [usize; 10],
    /// Students without an average.
    pub ungraded: usize,
}

/// The students matching `q`, in the order `sort` names, page `page` (from 1; past the
/// end is the last page), with the class's histogram: one question to the grading
/// service (`/students/summary` with the page), which searches, sorts, cuts the page and
/// counts the bands in SQL. The original's grading service has no summary (it answers
/// 404): from it, the whole class (`GET /students`) is read and the same summary worked
/// out here ([`ClassSummary::of_class`](crate::wire::grading::ClassSummary::of_class)).
#[server]
pub async fn load_grade_book(
    q: String,
    sort: String,
    page: usize,
) -> Result<GradeBook, ServerFnError> {
    use crate::{
        backend::{Target, get_json_unless_missing},
        wire::{
            grading::{ClassSummary, MAX_SEARCH_CHARS},
            registry::GRADING_SERVICE,
        },
    };
    // A search longer than the service takes is cut, not refused: it comes from the
    // address bar, and the page should still show.
    let q: String = q.trim().chars().take(MAX_SEARCH_CHARS).collect();
    let q_param = format::url_encode(&q);
    let order = Order::parse(&sort).wire();
    // The summary and the page asked for, in one call; only a page past the last is
    // asked for again, as the last. From the original's service, the class is read once
    // and both answers worked out from it.
    let mut class: Option<Vec<crate::wire::grading::Student>> = None;
    let mut summary_with = async |page: usize| -> Result<ClassSummary, ServerFnError> {
        if class.is_none() {
            let summary = get_json_unless_missing::<ClassSummary>(
                Target::Service(GRADING_SERVICE),
                format!(
                    "/students/summary?q={q_param}&sort={}&page={page}&per_page={PAGE_SIZE}",
                    order.as_str()
                ),
            )
            .await?;
            match summary {
                Some(summary) => return Ok(summary),
                None => class = Some(crate::api::list_students().await?),
            }
        }
        // Here the class has been read: `of_class` borrows it and copies only the page.
        let whole = class.as_deref().unwrap_or_default();
        let page = u32::try_from(page).unwrap_or(u32::MAX);
        Ok(ClassSummary::of_class(
            whole,
            &q,
            order,
            page,
            PAGE_SIZE as u32,
        ))
    };
    // The service takes pages up to 1,000,000; a page past the last is the last.
    let asked = page.clamp(1, 1_000_000);
    let mut summary = summary_with(asked).await?;
    let matching = usize::try_from(summary.matching).unwrap_or(usize::MAX);
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = asked.min(pages);
    if page != asked && matching > 0 {
        summary = summary_with(page).await?;
    }
    let students = summary.page.take().unwrap_or_default();
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok(GradeBook {
        page: GradeBookPage {
            students,
            matching,
            page,
            pages,
        },
        bands: summary.bands.map(count),
        ungraded: count(summary.ungraded),
    })
}

/// `/students` with these parameters (empty ones left out).
pub fn link(q: &str, order: Order, page: usize) -> String {
    let mut params = Vec::new();
    if !q.trim().is_empty() {
        params.push(format!("q={}", format::url_encode(q.trim())));
    }
    if order != Order::Id {
        params.push(format!("sort={}", order.as_str()));
    }
    if page > 1 {
        params.push(format!("page={page}"));
    }
    if params.is_empty() {
        "/students".into()
    } else {
        format!("/students?{}", params.join("&"))
    }
}

/// What `/students` was asked for.
#[derive(Debug, Clone, Default, PartialEq)]
struct Asked {
    q: String,
    order: Order,
    page: usize,
    /// A refusal of the "Add a student" form: its field and reason.
    field: String,
    error: String,
}

#[component]
pub fn Students() -> impl IntoView {
    let query = use_query_map();
    let asked = query.with_untracked(|query| Asked {
        q: query.get("q").unwrap_or_default(),
        order: Order::parse(&query.get("sort").unwrap_or_default()),
        page: query
            .get("page")
            .and_then(|page| page.parse().ok())
            .unwrap_or(1),
        field: query.get("field").unwrap_or_default(),
        error: query.get("error").unwrap_or_default(),
    });
    let book = Resource::new(
        {
            let asked = asked.clone();
            move || (asked.q.clone(), asked.order, asked.page)
        },
        |(q, order, page)| load_grade_book(q, order.as_str().to_owned(), page),
    );
    let teacher = Resource::new(|| (), |_| crate::teacher::get_teacher_status());
    let (q, order) = (asked.q.clone(), asked.order);
    view! {
        <Title text="Grade Book"/>
        <h1>"Grade Book"</h1>
        <SearchAsYouType>
            <SearchForm q=q.clone() order/>
        </SearchAsYouType>
        <IslandEnd/>
        <FollowGrades/>
        <IslandEnd/>
        <Suspense fallback=|| view! { <p>"Loading students…"</p> }>
            {move || {
                let asked = asked.clone();
                Suspend::new(async move {
                    // Without an answer about the login, the form stays hidden.
                    let teacher = teacher.await.unwrap_or(TeacherStatus {
                        required: true,
                        csrf: None,
                    });
                    match book.await {
                        Err(err) => Either::Left(view! {
                            <Unavailable what="grading service" error=err.to_string()/>
                        }),
                        Ok(book) => {
                            // What the page shows, as its key: see `Keyed`.
                            let key = crate::components::keyed::key_of(&(&book, &teacher, &asked.field, &asked.error));
                            Either::Right(view! {
                                <div class="grade-book">
                                    <Keyed key>
                                        <ClassHistogram counts=book.bands ungraded=book.ungraded/>
                                        <GradeBookTable book=book.page.clone() q=asked.q.clone() order=asked.order/>
                                        <AddStudentForm teacher=teacher.clone() field=asked.field.clone() error=asked.error.clone()/>
                                    </Keyed>
                                </div>
                            })
                        }
                    }
                })
            }}
        </Suspense>
    }
}

/// The search form: a plain GET form, the same with or without JavaScript (and sent as
/// the visitor types by the [`SearchAsYouType`] island around it).
#[component]
fn SearchForm(q: String, order: Order) -> impl IntoView {
    let option = move |value: Order, label: &'static str| {
        view! { <option value=value.as_str() selected=value == order>{label}</option> }
    };
    view! {
        <form method="get" action="/students" class="filters" role="search">
            <div class="field">
                <label for="q">"Find a student"</label>
                <input id="q" name="q" type="search" placeholder="name…" value=q.trim().to_owned()/>
            </div>
            <div class="field">
                <label for="sort">"Sort by"</label>
                <select id="sort" name="sort">
                    {option(Order::Id, "ID")}
                    {option(Order::Name, "Name")}
                    {option(Order::Average, "Average")}
                </select>
            </div>
            <button type="submit">"Show"</button>
            <a class="download" href="/students.csv" download="grade-book.csv" rel="external">"Download CSV"</a>
        </form>
    }
}

/// The table of students with a bar of each one's average (or "No students found") and,
/// when there are several pages, the pager.
#[component]
fn GradeBookTable(book: GradeBookPage, q: String, order: Order) -> impl IntoView {
    if book.students.is_empty() {
        return Either::Left(view! { <p class="empty">"No students found"</p> });
    }
    let first = (book.page - 1) * PAGE_SIZE + 1;
    let last = first + book.students.len() - 1;
    let rows = book
        .students
        .into_iter()
        .map(|student| {
            view! {
                <tr>
                    <td>
                        <a href=format!("/students/{}", student.id)>
                            {format!("{}, {}", student.last_name, student.first_name)}
                        </a>
                    </td>
                    <td class="number">{student.average.map(format::percent).unwrap_or_else(|| "—".into())}</td>
                    <td class="bar-cell"><AverageBar average=student.average/></td>
                    <td class="number">{student.grades.len()}</td>
                </tr>
            }
        })
        .collect_view();
    let pager = (book.pages > 1).then(|| {
        view! {
            <nav class="pager" aria-label="Pages">
                {(book.page > 1).then(|| view! { <a href=link(&q, order, book.page - 1) rel="prev">"← Previous"</a> })}
                <span>{format!("Page {} of {}", book.page, book.pages)}</span>
                {(book.page < book.pages).then(|| view! { <a href=link(&q, order, book.page + 1) rel="next">"Next →"</a> })}
            </nav>
        }
    });
    Either::Right(view! {
        <p class="page-state" aria-live="polite">{format!("Students {first}–{last} of {}", book.matching)}</p>
        <table class="data">
            <caption class="visually-hidden">"Students and their average scores"</caption>
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col" class="number">"Average"</th>
                    <th scope="col"><span class="visually-hidden">"Average as a bar"</span></th>
                    <th scope="col" class="number">"Grades"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        {pager}
    })
}

/// "Add a student", a [`PostForm`] island, shown to whoever may change grades (a plain
/// post is sent on to the new student's page, or back here with the refusal in `field`
/// and `error`, shown beside its field); a link to log in for others, when a login is
/// needed.
#[component]
fn AddStudentForm(teacher: TeacherStatus, field: String, error: String) -> impl IntoView {
    let Some(csrf) = teacher.csrf else {
        return Either::Left(teacher.required.then(|| {
            view! {
                <p class="add-student-login">
                    <a href="/login?next=%2Fstudents">"Log in"</a>
                    " as the teacher to add students."
                </p>
            }
        }));
    };
    let name = |name: &str, label: &str| FieldSpec {
        name: name.into(),
        label: label.into(),
        kind: FieldKind::Text(100),
        autocomplete: "off".into(),
    };
    let spec = FormSpec {
        action: AddStudent::PATH.into(),
        class: "student-form".into(),
        heading: Some(("add-student".into(), "Add a student".into())),
        hidden: vec![("csrf".into(), csrf)],
        fields: vec![
            name("first_name", "First name"),
            name("last_name", "Last name"),
        ],
        submit: "Add student".into(),
        refusal_beside: None,
        refused: (field, error),
    };
    Either::Right(view! {
        <PostForm spec/>
        <IslandEnd/>
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{html, tag_lines};

    fn student(id: i64, first: &str, last: &str, average: Option<f64>) -> Student {
        Student {
            id,
            first_name: first.into(),
            last_name: last.into(),
            grades: vec![],
            average,
        }
    }

    #[test]
    fn the_table_escapes_names_and_pages_keep_the_search() {
        let mut many: Vec<Student> = (1..=60)
            .map(|id| student(id, "F", &format!("L{id:03}"), Some(50.0)))
            .collect();
        many[0].last_name = "<b>O'Hara & Co</b>".into();
        many.truncate(PAGE_SIZE);
        let book = GradeBookPage {
            students: many,
            matching: 60,
            page: 1,
            pages: 2,
        };
        let html = html(|| view! { <GradeBookTable book q=String::new() order=Order::Id/> });
        assert!(
            html.contains("&lt;b&gt;O'Hara &amp; Co&lt;/b&gt;, F"),
            "{html}"
        );
        assert!(!html.contains("<b>"));
        assert!(html.contains("Students 1–50 of 60"));
        assert!(
            html.contains(r#"<a href="/students?page=2" rel="next">Next →</a>"#),
            "{html}"
        );
        let book = GradeBookPage {
            students: vec![],
            matching: 0,
            page: 1,
            pages: 1,
        };
        let html = crate::snapshot::html(
            || view! { <GradeBookTable book q="<zz>".into() order=Order::Name/> },
        );
        assert_eq!(html, r#"<p class="empty">No students found</p>"#);
        let form =
            crate::snapshot::html(|| view! { <SearchForm q="<zz>".into() order=Order::Name/> });
        assert!(form.contains(r#"value="&lt;zz&gt;""#), "{form}");
        assert!(
            form.contains(r#"<option value="name" selected>Name</option>"#),
            "{form}"
        );
        insta::assert_snapshot!(tag_lines(&form));
    }

    #[test]
    fn the_add_form_is_for_whoever_may_change_grades_and_shows_a_refusal_by_its_field() {
        let open = TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        };
        let form = html(|| {
            view! { <AddStudentForm teacher=open field="last_name".into() error="Last name must not be <empty>".into()/> }
        });
        assert!(form.contains(AddStudent::PATH), "{form}");
        assert!(
            form.contains("Last name must not be &lt;empty&gt;</p>"),
            "{form}"
        );
        assert!(
            form.contains(r#"<div class="field invalid"><label for="last_name">"#),
            "{form}"
        );
        insta::assert_snapshot!(tag_lines(&form));
        let visitor = TeacherStatus {
            required: true,
            csrf: None,
        };
        let link = html(
            || view! { <AddStudentForm teacher=visitor field=String::new() error=String::new()/> },
        );
        assert!(link.contains("Log in") && !link.contains("<form"), "{link}");
        let teacher = TeacherStatus {
            required: true,
            csrf: Some(r#"t"><script>"#.into()),
        };
        let form = html(|| {
            view! { <AddStudentForm teacher field=String::new() error="grading is <down>".into()/> }
        });
        assert!(
            !form.contains("<script>") && !form.contains("<down>"),
            "{form}"
        );
        assert!(
            form.contains(r#"<p role="alert" class="form-error">grading is &lt;down&gt;</p>"#),
            "{form}"
        );
    }

    #[test]
    fn links_keep_the_search_and_the_order() {
        assert_eq!(link("", Order::Id, 1), "/students");
        assert_eq!(
            link(" ada l ", Order::Average, 2),
            "/students?q=ada%20l&sort=average&page=2"
        );
    }
}
