//! `/students`, the Grade Book: the students, each linking to their page, with their
//! average formatted as the original did (`87.0%`), found by name (`?q=carter`), sorted
//! (`?sort=name`, `?sort=average`; by ID otherwise) and shown a page at a time (`?page=2`,
//! 50 per page), so a class of 1,000 is not one huge page. The search is a plain GET form,
//! the same with JavaScript or without. The whole grade book downloads as CSV from
//! `/students.csv` (served by the portal's server side). Above the table is a histogram of
//! the class's averages by 10-point band, and each row has a bar of the student's average
//! ([`crate::charts`]); below the table, "Add a student" is shown to whoever may change
//! grades (a plain form post, see [`crate::api::add_student`]).
//!
//! The form, the table and the pager are HTML made on the server ([`render`]) and
//! swapped in whole, so the browser's WASM carries no code to draw them; the pager's and
//! the names' links are plain anchors, which the router still follows without a reload.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{
    api::AddStudent, charts, format, teacher::TeacherStatus, unavailable::Unavailable,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By ID: the order students were added (the original's).
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

    fn as_str(self) -> &'static str {
        match self {
            Order::Id => "",
            Order::Name => "name",
            Order::Average => "average",
        }
    }
}

/// The students matching `q` (a part of their name, any case, as "First Last" or
/// "Last, First"), in `order`, page `page` (from 1; past the end is the last page).
pub fn select(mut students: Vec<Student>, q: &str, order: Order, page: usize) -> GradeBookPage {
    let q = q.trim().to_lowercase();
    if !q.is_empty() {
        students.retain(|s| {
            let first_last = format!("{} {}", s.first_name, s.last_name).to_lowercase();
            let last_first = format!("{}, {}", s.last_name, s.first_name).to_lowercase();
            first_last.contains(&q) || last_first.contains(&q)
        });
    }
    match order {
        Order::Id => students.sort_by_key(|s| s.id),
        Order::Name => students.sort_by(|a, b| {
            (
                a.last_name.to_lowercase(),
                a.first_name.to_lowercase(),
                a.id,
            )
                .cmp(&(
                    b.last_name.to_lowercase(),
                    b.first_name.to_lowercase(),
                    b.id,
                ))
        }),
        Order::Average => students.sort_by(|a, b| {
            b.average
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&a.average.unwrap_or(f64::NEG_INFINITY))
                .then(a.id.cmp(&b.id))
        }),
    }
    let matching = students.len();
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let students = students
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    GradeBookPage {
        students,
        matching,
        page,
        pages,
    }
}

/// One page of the Grade Book (see [`select`]), as the HTML of its table and pager
/// ([`render`]): made on the server, so the browser needs no code to draw it (its links
/// are plain anchors, which the router still follows without a reload).
/// `field` and `error` are a refusal of the "Add a student" form, sent back in the query.
#[server]
pub async fn grade_book(
    q: String,
    sort: String,
    page: usize,
    field: String,
    error: String,
) -> Result<String, ServerFnError> {
    let students = crate::api::list_students().await?;
    // Without an answer about the login, the form stays hidden.
    let teacher = crate::teacher::get_teacher_status()
        .await
        .unwrap_or(TeacherStatus {
            required: true,
            csrf: None,
        });
    let order = Order::parse(&sort);
    let histogram = crate::charts::class_histogram(&students);
    let mut html = render(&select(students, &q, order, page), &q, order, &histogram);
    html.push_str(&add_student_form(&teacher, &field, &error));
    Ok(html)
}

/// `/students` with these parameters (empty ones left out).
fn link(q: &str, order: Order, page: usize) -> String {
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

#[component]
pub fn Students() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let order = move || Order::parse(&query.read().get("sort").unwrap_or_default());
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|page| page.parse().ok())
            .unwrap_or(1)
    };
    let refusal = move || {
        let query = query.read();
        (
            query.get("field").unwrap_or_default(),
            query.get("error").unwrap_or_default(),
        )
    };
    let book = Resource::new(
        move || (q(), order(), page(), refusal()),
        |(q, order, page, (field, error))| {
            grade_book(q, order.as_str().to_owned(), page, field, error)
        },
    );
    // The form is drawn once and left alone, so the field being typed in keeps its
    // focus; once hydrated, each change of the search or the order shows its result at
    // once (the URL replaced, not stacked in the history).
    let navigate = leptos_router::hooks::use_navigate();
    let search = move |ev: leptos::ev::Event| {
        let field = event_target::<leptos::web_sys::Element>(&ev).id();
        let value = event_target_value(&ev);
        let (q, order) = query.with_untracked(searched);
        let to = match field.as_str() {
            "q" => link(&value, order, 1),
            "sort" => link(&q, Order::parse(&value), 1),
            _ => return,
        };
        navigate(
            &to,
            leptos_router::NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };
    let form_html = query.with_untracked(|query| {
        let (q, order) = searched(query);
        form(&q, order)
    });
    view! {
        <Title text="Grade Book"/>
        <h1>"Grade Book"</h1>
        <div class="grade-book-search" inner_html=form_html on:input=search></div>
        <Transition fallback=|| view! { <p>"Loading students…"</p> }>
            {move || Suspend::new(async move {
                match book.await {
                    Err(err) => Either::Left(view! {
                        <Unavailable what="grading service" error=err.to_string() retry=move || book.refetch()/>
                    }),
                    Ok(html) => Either::Right(view! { <div class="grade-book" inner_html=html></div> }),
                }
            })}
        </Transition>
    }
}

/// The search and the order a query asks for.
fn searched(query: &leptos_router::params::ParamsMap) -> (String, Order) {
    (
        query.get("q").unwrap_or_default(),
        Order::parse(&query.get("sort").unwrap_or_default()),
    )
}

/// The search form: a plain GET form, the same with or without JavaScript.
fn form(q: &str, order: Order) -> String {
    use crate::format::html_escape as esc;
    let option = |value: Order, label: &str| {
        format!(
            r#"<option value="{}"{}>{label}</option>"#,
            value.as_str(),
            if value == order { " selected" } else { "" }
        )
    };
    format!(
        r#"<form method="get" action="/students" class="filters" role="search"><div class="field"><label for="q">Find a student</label><input id="q" name="q" type="search" placeholder="name…" value="{}"></div><div class="field"><label for="sort">Sort by</label><select id="sort" name="sort">{}{}{}</select></div><button type="submit">Show</button><a class="download" href="/students.csv" download="grade-book.csv" rel="external">Download CSV</a></form>"#,
        esc(q.trim()),
        option(Order::Id, "ID"),
        option(Order::Name, "Name"),
        option(Order::Average, "Average"),
    )
}

/// The page below its heading and search form: the class's histogram (`histogram`,
/// made from the whole class, not the search), the table of students with a bar of each
/// one's average (or "No students found") and, when there are several pages, the pager;
/// every name is escaped.
pub fn render(book: &GradeBookPage, q: &str, order: Order, histogram: &str) -> String {
    use crate::format::html_escape as esc;
    let mut html = String::from(histogram);
    if book.students.is_empty() {
        html.push_str(r#"<p class="empty">No students found</p>"#);
        return html;
    }
    let first = (book.page - 1) * PAGE_SIZE + 1;
    let last = first + book.students.len() - 1;
    html.push_str(&format!(
        r#"<p class="page-state" aria-live="polite">Students {first}–{last} of {}</p><table class="data"><caption class="visually-hidden">Students and their average scores</caption><thead><tr><th scope="col">Name</th><th scope="col" class="number">Average</th><th scope="col"><span class="visually-hidden">Average as a bar</span></th><th scope="col" class="number">Grades</th></tr></thead><tbody>"#,
        book.matching
    ));
    for student in &book.students {
        html.push_str(&format!(
            r#"<tr><td><a href="/students/{}">{}, {}</a></td><td class="number">{}</td><td class="bar-cell">{}</td><td class="number">{}</td></tr>"#,
            student.id,
            esc(&student.last_name),
            esc(&student.first_name),
            student.average.map(format::percent).unwrap_or_else(|| "—".into()),
            charts::average_bar(student.average),
            student.grades.len()
        ));
    }
    html.push_str("</tbody></table>");
    if book.pages > 1 {
        html.push_str(r#"<nav class="pager" aria-label="Pages">"#);
        if book.page > 1 {
            html.push_str(&format!(
                r#"<a href="{}" rel="prev">← Previous</a>"#,
                esc(&link(q, order, book.page - 1))
            ));
        }
        html.push_str(&format!(
            "<span>Page {} of {}</span>",
            book.page, book.pages
        ));
        if book.page < book.pages {
            html.push_str(&format!(
                r#"<a href="{}" rel="next">Next →</a>"#,
                esc(&link(q, order, book.page + 1))
            ));
        }
        html.push_str("</nav>");
    }
    html
}

/// "Add a student": a plain form post (the server function redirects to the new
/// student's page, or back here with the refusal in `field` and `error`), shown to whoever
/// may change grades; a link to log in for others, when a login is needed.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn add_student_form(teacher: &TeacherStatus, field: &str, error: &str) -> String {
    use crate::format::html_escape as esc;
    if !teacher.may_change() {
        return if teacher.required {
            r#"<p class="add-student-login"><a href="/login?next=%2Fstudents">Log in</a> as the teacher to add students.</p>"#.into()
        } else {
            String::new()
        };
    }
    let input = |name: &str, id: &str, label: &str| {
        let refused = field == id && !error.is_empty();
        format!(
            r#"<div class="field{}"><label for="{name}">{label}</label><input id="{name}" name="{name}" type="text" required maxlength="100" autocomplete="off" aria-describedby="{id}-error" aria-invalid="{refused}"><p id="{id}-error" class="field-error" aria-live="polite">{}</p></div>"#,
            if refused { " invalid" } else { "" },
            if refused { esc(error) } else { String::new() },
        )
    };
    format!(
        r#"<section id="add-student" aria-labelledby="add-student-heading"><h2 id="add-student-heading">Add a student</h2><form method="post" action="{}" class="student-form"><input type="hidden" name="csrf" value="{}">{}{}<p class="form-error" role="alert">{}</p><button type="submit">Add student</button></form></section>"#,
        AddStudent::PATH,
        esc(teacher.csrf.as_deref().unwrap_or_default()),
        input("first_name", "first", "First name"),
        input("last_name", "last", "Last name"),
        if field.is_empty() {
            esc(error)
        } else {
            String::new()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(id: i64, first: &str, last: &str, average: Option<f64>) -> Student {
        Student {
            id,
            first_name: first.into(),
            last_name: last.into(),
            grades: vec![],
            average,
        }
    }

    fn class() -> Vec<Student> {
        vec![
            student(1, "Nick", "Carter", Some(87.0)),
            student(2, "Roberto", "Baggio", Some(93.7)),
            student(3, "Emma", "Stone", Some(47.3)),
            student(4, "Ada", "Lovelace", None),
        ]
    }

    fn ids(page: &GradeBookPage) -> Vec<i64> {
        page.students.iter().map(|s| s.id).collect()
    }

    #[test]
    fn a_search_finds_any_part_of_either_name_in_any_case() {
        assert_eq!(ids(&select(class(), "carter", Order::Id, 1)), [1]);
        assert_eq!(ids(&select(class(), "  CARTER, n ", Order::Id, 1)), [1]);
        assert_eq!(ids(&select(class(), "emma st", Order::Id, 1)), [3]);
        assert_eq!(ids(&select(class(), "o", Order::Id, 1)), [2, 3, 4]);
        let none = select(class(), "zz", Order::Id, 3);
        assert_eq!((none.matching, none.page, none.pages), (0, 1, 1));
    }

    #[test]
    fn orders_by_id_name_or_average_with_the_ungraded_last() {
        assert_eq!(ids(&select(class(), "", Order::Id, 1)), [1, 2, 3, 4]);
        assert_eq!(ids(&select(class(), "", Order::Name, 1)), [2, 1, 4, 3]);
        assert_eq!(ids(&select(class(), "", Order::Average, 1)), [2, 1, 3, 4]);
        assert_eq!(Order::parse("bogus"), Order::Id);
    }

    #[test]
    fn pages_hold_fifty_and_a_page_past_the_end_is_the_last() {
        let many: Vec<Student> = (1..=120)
            .map(|id| student(id, "F", &format!("L{id:03}"), None))
            .collect();
        let second = select(many.clone(), "", Order::Id, 2);
        assert_eq!((second.matching, second.page, second.pages), (120, 2, 3));
        assert_eq!(second.students.first().map(|s| s.id), Some(51));
        assert_eq!(second.students.len(), 50);
        let last = select(many, "", Order::Id, 99);
        assert_eq!((last.page, last.students.len()), (3, 20));
    }

    #[test]
    fn the_table_escapes_names_and_pages_keep_the_search() {
        let mut many: Vec<Student> = (1..=60)
            .map(|id| student(id, "F", &format!("L{id:03}"), Some(50.0)))
            .collect();
        many[0].last_name = "<b>O'Hara & Co</b>".into();
        let html = render(&select(many, "", Order::Id, 1), "", Order::Id, "");
        assert!(
            html.contains("&lt;b&gt;O&#39;Hara &amp; Co&lt;/b&gt;, F"),
            "{html}"
        );
        assert!(!html.contains("<b>"));
        assert!(html.contains("Students 1–50 of 60"));
        assert!(html.contains(r#"<a href="/students?page=2" rel="next">Next →</a>"#));
        let html = render(
            &select(class(), "<zz>", Order::Name, 1),
            "<zz>",
            Order::Name,
            "",
        );
        assert!(html.ends_with(r#"<p class="empty">No students found</p>"#));
        let html = form("<zz>", Order::Name);
        assert!(html.contains(r#"value="&lt;zz&gt;""#), "{html}");
        assert!(html.contains(r#"<option value="name" selected>Name</option>"#));
    }

    #[test]
    fn the_add_form_is_for_whoever_may_change_grades_and_shows_a_refusal_by_its_field() {
        let open = TeacherStatus {
            required: false,
            csrf: Some(String::new()),
        };
        let form = add_student_form(&open, "last", "Last name must not be <empty>");
        assert!(form.contains(AddStudent::PATH), "{form}");
        assert!(form.contains(r#"<p id="last-error" class="field-error" aria-live="polite">Last name must not be &lt;empty&gt;</p>"#), "{form}");
        assert!(form.contains(r#"<div class="field invalid"><label for="last_name">"#));
        assert!(
            form.contains(r#"<p id="first-error" class="field-error" aria-live="polite"></p>"#)
        );
        let visitor = TeacherStatus {
            required: true,
            csrf: None,
        };
        let link = add_student_form(&visitor, "", "");
        assert!(link.contains("Log in") && !link.contains("<form"), "{link}");
        let teacher = TeacherStatus {
            required: true,
            csrf: Some(r#"t"><script>"#.into()),
        };
        let form = add_student_form(&teacher, "", "grading is <down>");
        assert!(
            !form.contains("<script>") && !form.contains("<down>"),
            "{form}"
        );
        assert!(form.contains(r#"<p class="form-error" role="alert">grading is &lt;down&gt;</p>"#));
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
