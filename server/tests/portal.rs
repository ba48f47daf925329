//! The teacher portal rendered on the server, against real services in this process: a
//! registry, a grading service and a log service on ephemeral ports. Pages, server
//! functions (as a browser without JavaScript would post them) and the live relays.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{SseReader, TestRegistry, fast_config};
use server::{
    grading::{self, Database, GradingConfig, GradingService},
    logs::{self, LogConfig, LogService, writer::Fsync},
    portal::{
        self, PortalBackend,
        site::SiteArgs,
        teacher_login::{TeacherArgs, TeacherLogins},
    },
    runtime::Providers,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wire::registry::{Patch, PatchEntry};

fn temp_dir() -> std::path::PathBuf {
    common::temp_dir("portal")
}

async fn serve(router: impl Into<axum::Router>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = router.into();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// A portal whose providers hold the services it was given.
struct TestPortal {
    url: String,
    grading: Option<String>,
    log: Option<String>,
    /// Every log service instance (`log` is the first).
    logs: Vec<String>,
    _registry: TestRegistry,
}

/// The grading service a [`TestPortal`] is given.
enum Grading {
    None,
    /// This project's, on SQLite.
    Ours,
    /// Another implementation, as this router.
    Other(axum::Router),
}

impl TestPortal {
    async fn start(with_grading: bool, with_log: bool) -> TestPortal {
        TestPortal::start_with(with_grading, usize::from(with_log)).await
    }

    /// A portal with a grading service if `with_grading`, and `log_instances` log
    /// services.
    async fn start_with(with_grading: bool, log_instances: usize) -> TestPortal {
        let grading = if with_grading {
            Grading::Ours
        } else {
            Grading::None
        };
        TestPortal::start_on(grading, log_instances).await
    }

    async fn start_on(grading: Grading, log_instances: usize) -> TestPortal {
        let dir = temp_dir();
        let registry = TestRegistry::start(fast_config()).await;
        let providers = Arc::new(Providers::default());
        let mut added = Vec::new();
        let grading = match grading {
            Grading::None => None,
            Grading::Ours => {
                let service = GradingService::start(
                    &GradingConfig::on(Database::Sqlite(dir.join("g.db"))),
                    CancellationToken::new(),
                )
                .await
                .unwrap();
                Some(serve(grading::router(service)).await)
            }
            Grading::Other(router) => Some(serve(router).await),
        };
        if let Some(url) = &grading {
            added.push(PatchEntry {
                name: "GradingService".into(),
                url: url.clone(),
            });
        }
        let mut log_urls = Vec::new();
        for n in 0..log_instances {
            let config = LogConfig {
                log_file: dir.join(format!("l{n}.log")),
                fsync: Fsync::Never,
                max_file_size: 1 << 30,
                keep_files: 1,
            };
            let service = LogService::start(&config, CancellationToken::new()).unwrap();
            let url = serve(logs::router(service)).await;
            added.push(PatchEntry {
                name: "LogService".into(),
                url: url.clone(),
            });
            log_urls.push(url);
        }
        providers.apply(&Patch {
            added,
            removed: vec![],
        });
        let backend = PortalBackend::new(
            providers,
            server::runtime::RegistryClient::new(&registry.url),
            None,
            CancellationToken::new(),
        );
        let site = SiteArgs {
            site_root: dir.join("site").display().to_string(),
            output_name: app::OUTPUT_NAME.into(),
            reload_port: 3001,
            prometheus_url: Some("http://127.0.0.1:9090/classic/targets".into()),
        };
        let teachers = TeacherLogins::new(&TeacherArgs {
            teacher_password_hash: None,
            teacher_session: Duration::from_secs(60),
            hash_teacher_password: false,
        })
        .unwrap();
        let url = serve(portal::router(
            backend,
            teachers,
            site.monitoring(),
            site.leptos_options("127.0.0.1:3000".parse().unwrap()),
        ))
        .await;
        TestPortal {
            url,
            grading,
            log: log_urls.first().cloned(),
            logs: log_urls,
            _registry: registry,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = common::no_redirects()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let response_status = response.status().as_u16();
        let html = response.text().await.unwrap();
        (response_status, without_markers(&html))
    }
}

/// `html` without the comments Leptos puts around the parts of a page that may change
/// (the islands router reads them; a reader does not see them).
fn without_markers(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        rest = match rest[start..].find("-->") {
            Some(end) => &rest[start + end + 3..],
            None => "",
        };
    }
    out.push_str(rest);
    out.replace("<!>", "")
}

/// The `action` of the page's "Add a Grade" form: the add_grade server function's URL.
fn form_action(html: &str) -> String {
    let tag = html
        .match_indices("<form")
        .map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()])
        .find(|tag| tag.contains("grade-form"))
        .expect("the grade form");
    let start = tag.find("action=\"").unwrap() + 8;
    tag[start..start + tag[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_root_redirects_to_the_grade_book() {
    let portal = TestPortal::start(true, true).await;
    let response = common::no_redirects()
        .get(format!("{}/", portal.url))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(response.headers()["location"], "/students");
}

#[tokio::test]
async fn the_grade_book_lists_students_with_their_averages() {
    let portal = TestPortal::start(true, true).await;
    let (status, html) = portal.get("/students").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<title>Grade Book · distributed</title>"),
        "{html}"
    );
    assert!(html.contains("<h1>Grade Book</h1>"));
    assert!(
        html.contains(r#"href="/students/1""#) && html.contains("Carter, Nick"),
        "{html}"
    );
    for average in ["87.0%", "93.7%", "47.3%", "97.0%", "97.3%"] {
        assert!(html.contains(average), "{average} in {html}");
    }
    assert!(
        html.contains(r#"aria-current="page""#),
        "the nav marks the current page"
    );
}

#[tokio::test]
async fn the_grade_book_says_when_there_are_no_students() {
    let portal = TestPortal::start(true, true).await;
    for id in 1..=5 {
        let response = reqwest::Client::new()
            .delete(format!(
                "{}/students/{id}",
                portal.grading.as_ref().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let (status, html) = portal.get("/students").await;
    assert_eq!(status, 200);
    assert!(html.contains("No students found"), "{html}");
}

#[tokio::test]
async fn a_student_page_shows_grades_and_the_form() {
    let portal = TestPortal::start(true, true).await;
    let (status, html) = portal.get("/students/1").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Carter, Nick</h1>"), "{html}");
    assert!(html.contains("<td>Final Exam</td><td>Exam</td>"), "{html}");
    assert!(html.contains("Add a Grade"));
    for field in [
        r#"name="title""#,
        r#"name="kind""#,
        r#"name="score""#,
        r#"<label for="score">Score</label>"#,
    ] {
        assert!(html.contains(field), "{field}");
    }
    for kind in ["Test", "Quiz", "Exam", "Homework"] {
        assert!(
            html.contains(&format!(r#"<option value="{kind}">{kind}</option>"#)),
            "{kind}"
        );
    }

    let response = reqwest::Client::new()
        .post(format!("{}/students", portal.grading.as_ref().unwrap()))
        .body(r#"{"FirstName":"Ada","LastName":"Lovelace"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (_, html) = portal.get("/students/6").await;
    assert!(html.contains("No grades available"), "{html}");
}

#[tokio::test]
async fn an_unknown_student_gets_the_404_page() {
    let portal = TestPortal::start(true, true).await;
    for path in ["/students/99", "/students/abc", "/no/such/page"] {
        let (status, html) = portal.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("Page not found"), "{path}: {html}");
    }
}

#[tokio::test]
async fn a_form_posted_without_javascript_adds_the_grade_and_comes_back() {
    let portal = TestPortal::start(true, true).await;
    let (_, html) = portal.get("/students/2").await;
    let action = form_action(&html);
    let post = |form: &'static [(&'static str, &'static str)]| {
        let url = format!("{}{action}", portal.url);
        let referer = format!("{}/students/2", portal.url);
        async move {
            common::no_redirects()
                .post(url)
                .header("accept", "text/html")
                .header("referer", referer)
                .form(form)
                .send()
                .await
                .unwrap()
        }
    };
    let response = post(&[
        ("student_id", "2"),
        ("title", "Oral test"),
        ("kind", "Test"),
        ("score", "71.5"),
        ("csrf", ""),
    ])
    .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(response.headers()["location"], "/students/2");
    let (_, html) = portal.get("/students/2").await;
    assert!(
        html.contains("<td>Oral test</td><td>Test</td><td class=\"number\">71.5</td>"),
        "{html}"
    );

    // A refusal comes back in the query, and the page shows it beside the field.
    let response = post(&[
        ("student_id", "2"),
        ("title", "   "),
        ("kind", "Quiz"),
        ("score", "50"),
        ("csrf", ""),
    ])
    .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/students/2?field=title&error=Title%20must%20not%20be%20empty"),
        "{location}"
    );
    let (_, html) = portal.get(&location).await;
    assert!(
        html.contains(r#"<div class="field invalid"><label for="title">Title</label>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"aria-invalid="true"><p id="title-error""#),
        "{html}"
    );
    assert!(
        html.contains(r#"class="field-error">Title must not be empty</p>"#),
        "{html}"
    );
    let response = post(&[
        ("student_id", "2"),
        ("title", "Quiz"),
        ("kind", "Quiz"),
        ("score", "120"),
        ("csrf", ""),
    ])
    .await;
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("field=score")
    );
    let response = post(&[
        ("student_id", "2"),
        ("title", "Quiz"),
        ("kind", "Essay"),
        ("score", "20"),
        ("csrf", ""),
    ])
    .await;
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("field=kind")
    );
    let (_, html) = portal.get("/students/2").await;
    assert_eq!(
        html.matches("<tr><td>").count(),
        4,
        "only the valid grade was added"
    );
}

/// What a hydrated page's form (the `PostForm` island) is answered: JSON saying what to
/// do next, never a redirect; the same server functions answer a plain post with one.
#[tokio::test]
async fn a_hydrated_form_is_answered_with_what_to_do_next() {
    use app::plain_form::FormOutcome;
    let portal = TestPortal::start(true, true).await;
    let (_, html) = portal.get("/students/2").await;
    let add_grade = form_action(&html);
    let (_, html) = portal.get("/students").await;
    let add_student = {
        let at = html
            .find("class=\"student-form\"")
            .expect("the add-student form");
        let tag = &html[html[..at].rfind("<form").unwrap()..at];
        let start = tag.find("action=\"").unwrap() + 8;
        tag[start..start + tag[start..].find('"').unwrap()].to_owned()
    };
    let call = |action: String, form: Vec<(&'static str, &'static str)>| {
        let url = format!("{}{action}", portal.url);
        async move {
            let response = common::no_redirects()
                .post(url)
                .header("accept", "application/json")
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                200,
                "a hydrated call is never redirected"
            );
            response.json::<FormOutcome>().await.unwrap()
        }
    };
    let grade = |title: &'static str, kind: &'static str, score: &'static str| {
        vec![
            ("student_id", "2"),
            ("title", title),
            ("kind", kind),
            ("score", score),
            ("csrf", ""),
        ]
    };
    // Each refusal names the form's field at fault, by its name in the form.
    for (form, field) in [
        (grade("  ", "Quiz", "50"), "title"),
        (grade("Quiz", "Essay", "50"), "kind"),
        (grade("Quiz", "Quiz", "101"), "score"),
    ] {
        let FormOutcome::Refused {
            field: Some(named),
            reason,
        } = call(add_grade.clone(), form).await
        else {
            panic!("refused with a field: {field}");
        };
        assert_eq!(named, field, "{reason}");
    }
    assert_eq!(
        call(add_grade.clone(), grade("Hydrated quiz", "Quiz", "64")).await,
        FormOutcome::Done {
            said: "Added Hydrated quiz (Quiz).".into(),
            next: None,
        },
        "a grade added: the page is fetched again"
    );
    let refused = call(
        add_student.clone(),
        vec![("first_name", "Ada"), ("last_name", " "), ("csrf", "")],
    )
    .await;
    assert!(
        matches!(&refused, FormOutcome::Refused { field: Some(field), .. } if field == "last_name"),
        "{refused:?}"
    );
    let FormOutcome::Done {
        next: Some(next), ..
    } = call(
        add_student,
        vec![
            ("first_name", "Ada"),
            ("last_name", "Hydrated"),
            ("csrf", ""),
        ],
    )
    .await
    else {
        panic!("a student added goes to their page");
    };
    let (status, html) = portal.get(&next).await;
    assert_eq!(status, 200);
    assert!(html.contains("Hydrated, Ada"), "{html}");
}

#[tokio::test]
async fn pages_say_plainly_when_a_service_is_unavailable() {
    let portal = TestPortal::start(false, false).await;
    for (path, what) in [
        ("/students", "grading service"),
        ("/students/1", "grading service"),
        ("/logs", "log service"),
    ] {
        let (status, html) = portal.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains(&format!("The {what} is unavailable")),
            "{path}: {html}"
        );
        assert!(html.contains("no instance of"), "{path}: {html}");
    }
}

#[tokio::test]
async fn the_registry_page_lists_instances_and_the_relay_streams_events() {
    let portal = TestPortal::start(true, true).await;
    let client = reqwest::Client::new();
    let services = format!("{}/services", portal._registry.url);
    common::register(&client, &services, &serde_json::json!({
        "ServiceName": "LogService", "ServiceURL": portal.log.clone().unwrap(), "RequiredServices": [],
    }))
    .await;
    let (status, html) = portal.get("/registry").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Registry</h1>"));
    assert!(
        html.contains(&format!(r#"data-url="{}""#, portal.log.clone().unwrap())),
        "{html}"
    );
    assert!(html.contains(r#"class="badge badge-passing""#), "{html}");
    assert!(
        html.contains(
            r#"<a href="http://127.0.0.1:9090/classic/targets" rel="external">Prometheus</a>"#
        ),
        "the link to the Prometheus the portal was given: {html}"
    );

    let mut stream = SseReader::open(
        &client,
        &format!("{}/portal/events/registry", portal.url),
        None,
    )
    .await;
    let event = stream.next(common::PATIENCE).await;
    assert_eq!(event.name, "snapshot");
    assert!(event.data.contains("LogService"));
}

#[tokio::test]
async fn the_logs_page_filters_and_the_relay_tails_the_log() {
    let portal = TestPortal::start(true, true).await;
    let log = portal.log.clone().unwrap();
    let client = reqwest::Client::new();
    for message in [
        "[GradingService] - grade added: Quiz 9",
        "[Portal] - page served",
    ] {
        assert_eq!(
            client
                .post(format!("{log}/log"))
                .body(message)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let (status, html) = portal.get("/logs?service=GradingService").await;
    assert_eq!(status, 200);
    assert!(html.contains("grade added: Quiz 9"), "{html}");
    assert!(!html.contains("page served"), "filtered by service");
    let (_, html) = portal.get("/logs?text=PAGE").await;
    assert!(
        html.contains("page served") && !html.contains("Quiz 9"),
        "filtered by text"
    );

    let mut stream = SseReader::open(
        &client,
        &format!("{}/portal/events/logs?service=Portal", portal.url),
        None,
    )
    .await;
    // The relay answers once the log service has answered it, and the log service
    // subscribes before it answers: the record cannot be missed.
    client
        .post(format!("{log}/log"))
        .body("[Portal] - live one")
        .send()
        .await
        .unwrap();
    let event = stream.next(common::PATIENCE).await;
    assert_eq!(event.name, "record");
    assert!(event.data.contains("live one"));

    let without_log = TestPortal::start(true, false).await;
    let mut stream = SseReader::open(
        &client,
        &format!("{}/portal/events/logs", without_log.url),
        None,
    )
    .await;
    let event = stream.next(common::PATIENCE).await;
    assert_eq!(event.name, "unavailable");
    assert!(event.data.contains("LogService"), "{}", event.data);
}

#[tokio::test]
async fn with_several_log_instances_the_logs_page_and_its_tail_show_every_one() {
    let portal = TestPortal::start_with(false, 2).await;
    let client = reqwest::Client::new();
    let post = |instance: usize, message: &str| {
        let request = client
            .post(format!("{}/log", portal.logs[instance]))
            .body(format!("[Shipper{instance}] - {message}"))
            .send();
        async move { assert_eq!(request.await.unwrap().status(), 200) }
    };
    // Stored in turn on one instance then the other, each in a millisecond of its own
    // (times are stored to the millisecond): the page interleaves them by time.
    for n in 0..4 {
        post(n % 2, &format!("record {n}")).await;
        next_millisecond().await;
    }
    let (status, html) = portal.get("/logs?text=record").await;
    assert_eq!(status, 200);
    let at = |text: &str| {
        html.find(text)
            .unwrap_or_else(|| panic!("{text} is not on the page"))
    };
    assert!(
        at("record 3") < at("record 2")
            && at("record 2") < at("record 1")
            && at("record 1") < at("record 0"),
        "newest first across both instances"
    );

    let mut stream = SseReader::open(
        &client,
        &format!("{}/portal/events/logs?text=live", portal.url),
        None,
    )
    .await;
    post(1, "live from the second").await;
    post(0, "live from the first").await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = stream.next(common::PATIENCE).await;
        assert_eq!(event.name, "record", "{}", event.data);
        seen.push(event.data);
    }
    assert!(seen[0].contains("live from the second"), "{seen:?}");
    assert!(seen[1].contains("live from the first"), "{seen:?}");
}

#[tokio::test]
async fn the_grade_book_finds_sorts_pages_and_downloads_as_csv() {
    let portal = TestPortal::start(true, false).await;
    let grading = portal.grading.clone().unwrap();
    let client = reqwest::Client::new();
    for n in 0..60 {
        let added = client
            .post(format!("{grading}/students"))
            .body(format!(
                r#"{{"FirstName":"F{n}","LastName":"Pupil{n:02}"}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 201);
    }

    let (status, html) = portal.get("/students?q=CARTER").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Carter, Nick") && !html.contains("Baggio"),
        "{html}"
    );
    assert!(html.contains("Students 1–1 of 1"), "{html}");
    let (_, html) = portal.get("/students?sort=average").await;
    let at = |text: &str| html.find(text).unwrap_or_else(|| panic!("{text}"));
    assert!(
        at("Baggio, Roberto") < at("Carter, Nick"),
        "highest average first"
    );
    assert!(at("Carter, Nick") < at("Stone, Emma"));
    let (_, html) = portal.get("/students?page=2").await;
    assert!(html.contains("Students 51–65 of 65"), "{html}");
    assert!(html.contains("Page 2 of 2") && !html.contains("Carter, Nick"));
    assert!(html.contains("Pupil59, F59"));

    // The CSV holds every grade of the API's answer, one row each, and every student.
    let answer = client
        .get(format!("{}/students.csv", portal.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/csv; charset=utf-8");
    let text = answer.text().await.unwrap();
    let students: Vec<wire::grading::Student> =
        common::get_json(format!("{grading}/students")).await;
    let mut expected = vec![server::portal::grade_book_csv::HEADER.to_owned()];
    for student in &students {
        let who = format!(
            "{},{},{}",
            student.id, student.last_name, student.first_name
        );
        if student.grades.is_empty() {
            expected.push(format!("{who},,,,,"));
        }
        for grade in &student.grades {
            expected.push(format!(
                "{who},{},{},{},{},{}",
                grade.id,
                grade.title,
                grade.kind.as_str(),
                grade.score,
                grade.added.as_deref().unwrap_or_default()
            ));
        }
    }
    let rows: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(rows, expected);
    assert_eq!(rows.len(), 1 + 15 + 60);
}

/// A grading service with only the original's API (see the wire protocol): `GET
/// /students` answers the whole class with the Go field names and no `Average`, whatever
/// the query or `Accept` header; `GET /students/{id}` one student; anything else 404 (so
/// `/students/summary` too, as the original's non-numeric id). Every request it is sent
/// is counted in `asked`.
fn the_originals_grading_service(asked: Arc<AtomicUsize>) -> axum::Router {
    use axum::{Json, extract::Path, http::StatusCode, routing::get};
    let class = serde_json::json!([
        {"ID": 1, "FirstName": "Nick", "LastName": "Carter", "Grades": [
            {"Title": "Quiz 1", "Type": "Quiz", "Score": 85},
            {"Title": "Final Exam", "Type": "Exam", "Score": 94},
            {"Title": "Quiz 2", "Type": "Quiz", "Score": 82}]},
        {"ID": 2, "FirstName": "Roberto", "LastName": "Baggio", "Grades": [
            {"Title": "Quiz 1", "Type": "Quiz", "Score": 100},
            {"Title": "Final Exam", "Type": "Exam", "Score": 100},
            {"Title": "Quiz 2", "Type": "Quiz", "Score": 81}]},
        {"ID": 3, "FirstName": "Emma", "LastName": "Stone", "Grades": [
            {"Title": "Quiz 1", "Type": "Quiz", "Score": 67},
            {"Title": "Final Exam", "Type": "Exam", "Score": 0},
            {"Title": "Quiz 2", "Type": "Quiz", "Score": 75}]},
        {"ID": 4, "FirstName": "Rachel", "LastName": "McAdams", "Grades": []}
    ]);
    let one = class.clone();
    axum::Router::new()
        .route(
            "/students",
            get(move || {
                let class = class.clone();
                async move { Json(class) }
            }),
        )
        .route(
            "/students/{id}",
            get(move |Path(id): Path<String>| {
                let one = one.clone();
                async move {
                    let id: i64 = id.parse().map_err(|_| StatusCode::NOT_FOUND)?;
                    one.as_array()
                        .unwrap()
                        .iter()
                        .find(|s| s["ID"] == id)
                        .map(|s| Json(s.clone()))
                        .ok_or(StatusCode::NOT_FOUND)
                }
            }),
        )
        .layer(axum::middleware::map_request(
            move |request: axum::extract::Request| {
                asked.fetch_add(1, Ordering::SeqCst);
                async move { request }
            },
        ))
}

/// The portal reads a grading service that has only the original's API: the Grade Book
/// (its search, orders, averages and histogram worked out by the portal from the whole
/// class) and a student's page; the live grade stream says the service has none rather
/// than relaying its JSON list as events.
#[tokio::test]
async fn the_portal_works_with_the_originals_grading_service() {
    let asked = Arc::new(AtomicUsize::new(0));
    let portal = TestPortal::start_on(
        Grading::Other(the_originals_grading_service(asked.clone())),
        0,
    )
    .await;
    let (status, html) = portal.get("/students").await;
    assert_eq!(status, 200, "{html}");
    for shown in [
        "Carter, Nick",
        "87.0%",
        "93.7%",
        "47.3%",
        "McAdams, Rachel",
        "Students 1–4 of 4",
    ] {
        assert!(html.contains(shown), "{shown} in {html}");
    }
    // The histogram: 90–100, 80–89 and 40–49 hold one student each; one has no grades.
    assert!(
        html.contains(
            "3 students with grades, by average: 90–100: 1, 80–89: 1, 40–49: 1. 1 without grades."
        ),
        "{html}"
    );
    let (_, html) = portal.get("/students?q=STONE").await;
    assert!(
        html.contains("Stone, Emma") && !html.contains("Carter, Nick"),
        "{html}"
    );
    let (_, html) = portal.get("/students?sort=average").await;
    let at = |text: &str| {
        html.find(text)
            .unwrap_or_else(|| panic!("{text} in {html}"))
    };
    assert!(at("Baggio, Roberto") < at("Carter, Nick"));
    assert!(at("Carter, Nick") < at("Stone, Emma"));
    assert!(
        at("Stone, Emma") < at("McAdams, Rachel"),
        "the ungraded last"
    );
    // A page past the last shows the last, from one reading of the class: the summary
    // asked for (404), then the class, and nothing more.
    let before = asked.load(Ordering::SeqCst);
    let (_, html) = portal.get("/students?page=9").await;
    assert!(html.contains("Students 1–4 of 4"), "{html}");
    assert_eq!(asked.load(Ordering::SeqCst) - before, 2);

    let (status, html) = portal.get("/students/1").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h1>Carter, Nick</h1>"), "{html}");
    assert!(html.contains("87.0%"), "the average, worked out: {html}");

    let mut events = SseReader::open(
        &reqwest::Client::new(),
        &format!("{}/portal/events/grades", portal.url),
        None,
    )
    .await;
    let event = events.next(common::PATIENCE).await;
    assert_eq!(event.name, "unavailable", "{}", event.data);
    assert!(event.data.contains("has no event stream"), "{}", event.data);
}

/// Returns once the wall clock has moved on to the next millisecond.
async fn next_millisecond() {
    let millis = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    let now = millis();
    while millis() == now {
        tokio::task::yield_now().await;
    }
}

/// The standalone `portal` binary, as the original's `cmd/portal` ran: it registers as
/// `Portal`, finds the grading and log services through the registry, and serves pages
/// from them.
#[tokio::test]
async fn the_standalone_portal_registers_finds_its_services_and_serves_pages() {
    use common::Process;
    let dir = temp_dir();
    let registry = Process::registry(&dir);
    let service = |binary: &str, extra: [&str; 2]| {
        let mut args = vec!["--addr", "127.0.0.1:0", "--registry-url", &registry.url];
        args.extend(extra);
        Process::start(binary, &args, &dir)
    };
    let log = service(env!("CARGO_BIN_EXE_logservice"), ["--log-file", "p.log"]);
    let grading = service(env!("CARGO_BIN_EXE_gradingservice"), ["--database", "p.db"]);
    let site = dir.join("site");
    let portal = service(
        env!("CARGO_BIN_EXE_portal"),
        ["--site-root", site.to_str().unwrap()],
    );
    let client = common::client();

    // Registered as Portal, requiring both services.
    let listed: Vec<wire::registry::InstanceInfo> =
        common::eventually("the portal to register", || async {
            let listed: Vec<wire::registry::InstanceInfo> = client
                .get(format!("{}/services/Portal", registry.url))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (!listed.is_empty()).then_some(listed)
        })
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].registration.service_url, portal.url);
    let mut required = listed[0].registration.required_services.clone();
    required.sort();
    assert_eq!(required, ["GradingService", "LogService"]);

    // The Grade Book comes from the grading service it found through the registry.
    let page = common::eventually("the Grade Book to show the students", || async {
        let response = client
            .get(format!("{}/students", portal.url))
            .send()
            .await
            .ok()?;
        let html = response.text().await.ok()?;
        html.contains("Carter, Nick").then_some(html)
    })
    .await;
    assert!(page.contains("Clarkson, Kelly"), "{page}");

    // A grade added through the grading service shows on the student's page, and its
    // log record on the logs page, read from the log service.
    let added = client
        .post(format!("{}/students/3/grades", grading.url))
        .body(r#"{"Title":"Portal process quiz","Type":"Quiz","Score":88}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let student = client
        .get(format!("{}/students/3", portal.url))
        .send()
        .await
        .unwrap();
    assert_eq!(student.status(), 200);
    assert!(
        student
            .text()
            .await
            .unwrap()
            .contains("Portal process quiz")
    );
    common::until("the change to show on the logs page", || async {
        let Ok(response) = client
            .get(format!("{}/logs?service=GradingService", portal.url))
            .send()
            .await
        else {
            return false;
        };
        response
            .text()
            .await
            .is_ok_and(|html| html.contains("grade added: Portal process quiz"))
    })
    .await;
    drop(log);
}
