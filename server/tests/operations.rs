//! Access control and operations, with the real binaries: the shared-secret token (each
//! rule passing and failing), the teacher login, `/metrics` (parsed as Prometheus text,
//! its counters moving with the work done), `/healthz` and the request log.

mod common;

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use app::{
    api::{AddGrade, AddStudent, DeleteGrade},
    teacher::{GetTeacherStatus, LogIn, LogOut, TeacherStatus},
    wire::grading::Student,
};
use common::{Process, until};
use leptos::server_fn::ServerFn;
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE},
};
use serde_json::{Value, json};

const TOKEN: &str = "s3cret-token";

/// The all-in-one server on a free port, with `extra` flags; its base URL.
async fn start_server(tag: &str, extra: &[&str]) -> (Process, String) {
    let dir = common::temp_dir(tag);
    let mut args = vec![
        "--addr",
        "127.0.0.1:0",
        "--site-root",
        dir.to_str().unwrap(),
        "--log-file",
        "ops.log",
        "--database",
        "ops.db",
    ];
    args.extend_from_slice(extra);
    let process = Process::start(env!("CARGO_BIN_EXE_server"), &args, &dir);
    let base = process.url.clone();
    // Its portal has found its grading service (through its registry) once the Grade
    // Book lists the students.
    let client = common::no_redirects();
    until("the portal to find the grading service", || async {
        match client.get(format!("{base}/students")).send().await {
            Ok(page) => page
                .text()
                .await
                .is_ok_and(|html| html.contains("Carter, Nick")),
            Err(_) => false,
        }
    })
    .await;
    (process, base)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts a 401 with a reason and the `WWW-Authenticate` challenge.
async fn assert_unauthorized(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert!(
        response.headers().contains_key(WWW_AUTHENTICATE),
        "{what}: no challenge"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("Bearer"),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn with_a_token_every_write_needs_it_and_reads_stay_open() {
    let (_server, base) = start_server("token", &["--token", TOKEN]).await;
    let client = common::no_redirects();
    let services = format!("{base}/services");
    let registration = json!({
        "ServiceName": "TokenService",
        "ServiceURL": "http://127.0.0.1:9/token",
        "TTL": "1m"
    });

    // Register: refused without the token, or with a wrong one; taken with it.
    let response = client
        .post(&services)
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, "register without a token").await;
    let response = client
        .post(&services)
        .header(AUTHORIZATION, bearer("wrong"))
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, "register with a wrong token").await;
    let response = client
        .post(&services)
        .header(AUTHORIZATION, bearer(TOKEN))
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Renew and deregister, the same.
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let response = client
            .request(method.clone(), &services)
            .body("http://127.0.0.1:9/token")
            .send()
            .await
            .unwrap();
        assert_unauthorized(response, &format!("{method} without a token")).await;
        let response = client
            .request(method.clone(), &services)
            .header(AUTHORIZATION, bearer(TOKEN))
            .body("http://127.0.0.1:9/token")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method} with the token");
    }

    // Writing logs, the same.
    let response = client
        .post(format!("{base}/log"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, "a log write without a token").await;
    let response = client
        .post(format!("{base}/log"))
        .header(AUTHORIZATION, bearer(TOKEN))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Grades and patches change what others see: the same.
    let grade = json!({ "Title": "Quiz", "Type": "Quiz", "Score": 90 });
    let response = client
        .post(format!("{base}/grading/students/1/grades"))
        .json(&grade)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, "a grade without a token").await;
    let response = client
        .post(format!("{base}/grading/students/1/grades"))
        .header(AUTHORIZATION, bearer(TOKEN))
        .json(&grade)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let patch = json!({ "Added": [{ "Name": "LogService", "URL": "http://127.0.0.1:9/fake" }] });
    let update = format!("{base}/_instances/GradingService/services");
    let response = client.post(&update).json(&patch).send().await.unwrap();
    assert_unauthorized(response, "a patch without a token").await;

    // Reads stay open.
    for path in [
        "/services",
        "/services/LogService",
        "/log",
        "/grading/students",
    ] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
    }

    // The runtime sends the token: the server's own services registered with it.
    let listed: Vec<Value> = client
        .get(&services)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for name in ["LogService", "GradingService", "Portal"] {
        assert!(
            listed.iter().any(|i| i["ServiceName"] == name),
            "{name} did not register: {listed:?}"
        );
    }
    // And the portal, reading through its backend with the token, still shows the grades.
    let page = client
        .get(format!("{base}/students/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Quiz"));
}

#[tokio::test]
async fn with_token_reads_reading_needs_the_token_too() {
    let (_server, base) = start_server("token-reads", &["--token", TOKEN, "--token-reads"]).await;
    let client = common::no_redirects();
    for path in ["/services", "/services/LogService", "/log"] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_unauthorized(response, &format!("GET {path} without a token")).await;
        let response = client
            .get(format!("{base}{path}"))
            .header(AUTHORIZATION, bearer(TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path} with the token");
    }
    // The portal's registry page reads with the token.
    let page = client.get(format!("{base}/registry")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("GradingService"));
}

#[tokio::test]
async fn a_standalone_service_registers_with_the_token_and_not_without() {
    let dir = common::temp_dir("token-standalone");
    let registry = Process::registry_with(&dir, &["--token", TOKEN]);
    let log_service = |token: Option<&str>, file: &str| {
        let mut args = vec![
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            registry.url.as_str(),
            "--log-file",
            file,
        ];
        if let Some(token) = token {
            args.extend(["--token", token]);
        }
        Process::start(env!("CARGO_BIN_EXE_logservice"), &args, &dir)
    };
    let good = log_service(Some(TOKEN), "good.log");
    let bad = log_service(None, "bad.log");
    let client = common::no_redirects();
    let listed = || async {
        let listed: Vec<Value> = match client
            .get(format!("{}/services", registry.url))
            .send()
            .await
        {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        listed
            .iter()
            .filter_map(|i| i["ServiceURL"].as_str().map(str::to_owned))
            .collect::<Vec<String>>()
    };
    until("the service with the token to register", || async {
        listed().await.contains(&good.url)
    })
    .await;
    // The one without has been refused meanwhile: it tries at once, then backs off.
    let refused = r#"http_requests_total{route="/services",method="POST",status="401"}"#;
    until(
        "the registry to refuse the service without the token",
        || async { value(&scrape(&client, &registry.url).await, refused) >= 1.0 },
    )
    .await;
    assert!(
        !listed().await.contains(&bad.url),
        "a service without the token registered"
    );
}

/// A server function call: a form post, with a cookie if given.
async fn call(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut request = client.post(format!("{base}{path}")).form(form);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

async fn student_one(client: &reqwest::Client, base: &str) -> Student {
    client
        .get(format!("{base}/grading/students/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn grades_of(client: &reqwest::Client, base: &str) -> Vec<String> {
    let student = student_one(client, base).await;
    student.grades.into_iter().map(|g| g.title).collect()
}

/// Registers a `GradingService` instance at `url` (its heartbeat at `/heartbeat`) with
/// the registry at `base`, without a token; the registry's answer.
async fn register_grading_at(client: &reqwest::Client, base: &str, url: &str) -> reqwest::Response {
    let registration = json!({
        "ServiceName": "GradingService",
        "ServiceURL": url,
        "HeartbeatURL": format!("{url}/heartbeat"),
    });
    client
        .post(format!("{base}/services"))
        .json(&registration)
        .send()
        .await
        .unwrap()
}

/// A grading instance that takes an addition and then never answers (it passes the
/// request on to the real one, so the grade is stored, and holds the portal's call until
/// it times out): the portal tries the real instance next with the same Idempotency-Key,
/// and the grade is stored once.
#[tokio::test]
async fn a_grade_whose_first_instance_times_out_is_stored_once() {
    let (_server, base) = start_server("idempotent", &[]).await;
    let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}", listener.local_addr().unwrap());
    let (seen, real) = (keys.clone(), format!("{base}/grading"));
    let app = axum::Router::new()
        .route("/heartbeat", axum::routing::get(|| async { "ok" }))
        .fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let (seen, real) = (seen.clone(), real.clone());
                async move {
                    let mut passed = reqwest::Client::new()
                        .request(method.clone(), format!("{real}{uri}"))
                        .body(body);
                    if let Some(key) = headers.get("idempotency-key") {
                        seen.lock().unwrap().push(key.to_str().unwrap().to_owned());
                        passed = passed.header("idempotency-key", key.clone());
                    }
                    let answer = passed
                        .header(CONTENT_TYPE, "application/json")
                        .send()
                        .await
                        .unwrap();
                    let (status, body) = (answer.status(), answer.bytes().await.unwrap());
                    if method == axum::http::Method::POST {
                        // Stored; the answer never comes.
                        std::future::pending::<()>().await;
                    }
                    (
                        axum::http::StatusCode::from_u16(status.as_u16()).unwrap(),
                        body,
                    )
                }
            },
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = common::no_redirects();
    let response = register_grading_at(&client, &base, &slow).await;
    assert_eq!(response.status(), 200);

    // The portal picks instances in turn: add grades until one went through the slow one.
    let mut tries = 0;
    let title = loop {
        tries += 1;
        assert!(tries <= 20, "no addition went through the slow instance");
        let title = format!("Retried {tries}");
        let form = [
            ("student_id", "1"),
            ("title", title.as_str()),
            ("kind", "Quiz"),
            ("score", "66"),
            ("csrf", ""),
        ];
        let response = call(&client, &base, AddGrade::PATH, &form, None).await;
        assert!(response.status().is_success(), "{}", response.status());
        if !keys.lock().unwrap().is_empty() {
            break title;
        }
    };
    let stored = grades_of(&client, &base)
        .await
        .into_iter()
        .filter(|t| *t == title)
        .count();
    assert_eq!(stored, 1, "{title} stored {stored} times");
}

/// A listener standing in for a student's machine: it answers every request with 200 and
/// keeps the `Authorization` header each one carried.
async fn attacker() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        async move {
            let authorization = headers
                .get(AUTHORIZATION)
                .map(|value| value.to_str().unwrap_or("?").to_owned());
            record.lock().unwrap().push(authorization);
            "[]"
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// With a teacher login and no --token, the internal token closes every way an anonymous
/// client could name an instance to the portal: registering one (the registry's writes),
/// or pushing a patch to the portal's update route. So the portal never sends its token
/// to a URL the student chose, and the teacher's grades never go there.
#[tokio::test]
async fn with_a_teacher_login_no_anonymous_client_can_point_the_portal_elsewhere() {
    let hash = server::portal::teacher_login::hash_password("teach-me").unwrap();
    // On etcd, other registry nodes would take registrations this server's own token
    // cannot guard: a teacher login there needs a shared --token.
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--addr", "127.0.0.1:0", "--etcd", "http://127.0.0.1:9"])
        .args(["--teacher-password-hash", &hash])
        .env_remove("DISTRIBUTED_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--token"), "{stderr}");

    let (_server, base) = start_server("login-registry", &["--teacher-password-hash", &hash]).await;
    let (evil, seen) = attacker().await;
    let client = common::no_redirects();
    let response = register_grading_at(&client, &base, &evil).await;
    assert_unauthorized(response, "an anonymous registration with a teacher login").await;
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let response = client
            .request(method.clone(), format!("{base}/services"))
            .body(format!("{base}/grading"))
            .send()
            .await
            .unwrap();
        assert_unauthorized(response, &format!("an anonymous {method} /services")).await;
    }
    let patch = json!({ "Added": [{ "Name": "GradingService", "URL": evil }], "Removed": [] });
    for kind in ["full", "delta"] {
        let response = client
            .post(format!("{base}/_instances/Portal/services"))
            .header("registry-patch", kind)
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_unauthorized(response, "an anonymous patch to the portal").await;
    }
    // The registry lists no instance at the student's URL, and the portal, asked for the
    // Grade Book many times over (round-robin would reach a second instance), still
    // shows the real one and never calls out.
    let listing = client
        .get(format!("{base}/services"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listing.contains(&evil), "{listing}");
    for _ in 0..6 {
        let page = client.get(format!("{base}/students")).send().await.unwrap();
        assert!(page.text().await.unwrap().contains("Carter, Nick"));
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "the student's listener was called: {:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn with_a_teacher_password_changing_grades_needs_a_login() {
    let hash = server::portal::teacher_login::hash_password("teach-me").unwrap();
    let (_server, base) = start_server("login", &["--teacher-password-hash", &hash]).await;
    let client = common::no_redirects();
    let add = |csrf: &'static str| {
        [
            ("student_id", "1"),
            ("title", "Login quiz"),
            ("kind", "Quiz"),
            ("score", "77"),
            ("csrf", csrf),
        ]
    };

    // Viewing stays open, without the form.
    let page = client
        .get(format!("{base}/students/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Log in"), "no login link");
    assert!(
        !html.contains(r#"id="add-grade""#),
        "the form shows without a login"
    );
    assert!(
        !html.contains("delete-grade"),
        "delete buttons without a login"
    );

    // Adding without a session: 401, nothing stored.
    let response = call(&client, &base, AddGrade::PATH, &add(""), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !grades_of(&client, &base)
            .await
            .contains(&"Login quiz".to_owned())
    );
    // Nor around the portal, through the grading API itself: the server gave its grading
    // service a token of its own.
    let response = client
        .post(format!("{base}/grading/students/1/grades"))
        .json(&json!({ "Title": "Login quiz", "Type": "Quiz", "Score": 77 }))
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, "an anonymous grade with a teacher login").await;
    let response = client
        .delete(format!("{base}/grading/students/1"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, "an anonymous delete with a teacher login").await;
    assert!(
        !grades_of(&client, &base)
            .await
            .contains(&"Login quiz".to_owned())
    );
    assert_eq!(student_one(&client, &base).await.grades.len(), 3);

    // A wrong password: refused, and slowly.
    let started = Instant::now();
    let response = call(
        &client,
        &base,
        LogIn::PATH,
        &[("password", "guess"), ("next", "/students/1")],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(SET_COOKIE).is_none());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Too many at once from one address: those past the four waiting are refused at
    // once, 429 with when to try again.
    let flood = futures::future::join_all((0..8).map(|_| {
        call(
            &client,
            &base,
            LogIn::PATH,
            &[("password", "guess"), ("next", "/students/1")],
            None,
        )
    }))
    .await;
    let refused: Vec<_> = flood
        .iter()
        .filter(|answer| answer.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        refused.len() >= 3,
        "{:?}",
        flood.iter().map(|a| a.status()).collect::<Vec<_>>()
    );
    for answer in refused {
        let after: u64 = answer.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=5).contains(&after), "Retry-After: {after}");
    }

    // The right one: an HttpOnly, SameSite session cookie.
    let response = call(
        &client,
        &base,
        LogIn::PATH,
        &[("password", "teach-me"), ("next", "/students/1")],
        None,
    )
    .await;
    // A server function call: 200, and `Location` for the page to go on to.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[LOCATION], "/students/1");
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    // The session's CSRF token.
    let status: TeacherStatus = call(&client, &base, GetTeacherStatus::PATH, &[], Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert!(status.logged_in());
    let csrf = status.csrf.unwrap();

    // A session without its CSRF token (a forged form): 403, nothing stored.
    let response = call(
        &client,
        &base,
        AddGrade::PATH,
        &add("forged"),
        Some(&cookie),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !grades_of(&client, &base)
            .await
            .contains(&"Login quiz".to_owned())
    );

    // Adding a student follows the same rules: refused without the session or with a
    // forged token, added with both.
    let pupils = || async {
        let students: Vec<Student> = common::get_json(format!("{base}/grading/students")).await;
        students.iter().filter(|s| s.last_name == "Pupil").count()
    };
    let student = |csrf: &'static str| {
        [
            ("first_name", "Login"),
            ("last_name", "Pupil"),
            ("csrf", csrf),
        ]
    };
    let response = call(&client, &base, AddStudent::PATH, &student(""), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = call(
        &client,
        &base,
        AddStudent::PATH,
        &student("forged"),
        Some(&cookie),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(pupils().await, 0);
    let form = [
        ("first_name", "Login"),
        ("last_name", "Pupil"),
        ("csrf", csrf.as_str()),
    ];
    let response = call(&client, &base, AddStudent::PATH, &form, Some(&cookie)).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(pupils().await, 1);

    // With both: stored.
    let mut form = add("").to_vec();
    form[4] = ("csrf", csrf.as_str());
    let response = call(&client, &base, AddGrade::PATH, &form, Some(&cookie)).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert!(
        grades_of(&client, &base)
            .await
            .contains(&"Login quiz".to_owned())
    );

    // Deleting: refused without the login, done with it.
    let student = student_one(&client, &base).await;
    let grade = student
        .grades
        .iter()
        .find(|g| g.title == "Login quiz")
        .unwrap();
    let grade_id = grade.id.to_string();
    let delete = |csrf: &str| {
        vec![
            ("student_id".to_owned(), "1".to_owned()),
            ("grade_id".to_owned(), grade_id.clone()),
            ("csrf".to_owned(), csrf.to_owned()),
        ]
    };
    let response = client
        .post(format!("{base}{}", DeleteGrade::PATH))
        .form(&delete(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        grades_of(&client, &base)
            .await
            .contains(&"Login quiz".to_owned())
    );
    let response = client
        .post(format!("{base}{}", DeleteGrade::PATH))
        .header(COOKIE, &cookie)
        .form(&delete(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        !grades_of(&client, &base)
            .await
            .contains(&"Login quiz".to_owned())
    );

    // Logging out ends the session.
    let response = call(
        &client,
        &base,
        LogOut::PATH,
        &[("csrf", &csrf)],
        Some(&cookie),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[LOCATION], "/students");
    let response = call(&client, &base, AddGrade::PATH, &form, Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The samples of Prometheus text: `name{labels}` → value. Panics on a line that is
/// neither a comment nor a sample.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line:?}");
        }
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn scrape(client: &reqwest::Client, base: &str) -> HashMap<String, f64> {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    parse_prometheus(&response.text().await.unwrap())
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// `/metrics` passes Prometheus' own checker, `promtool check metrics` (Debian's
/// prometheus, installed by `scripts/bootstrap.sh test`), with no lint finding, also
/// when service names hold quotes, backslashes and non-ASCII text (label values).
#[tokio::test]
async fn metrics_pass_promtool_with_any_service_name() {
    use std::io::Write;
    let (_server, base) = start_server("promtool", &[]).await;
    let client = common::no_redirects();
    let names = [
        r#"Quo"ted"#,
        r"Back\slash\",
        "Ünïcødé 漢字 🚀",
        r#"All "\ three é"#,
    ];
    for (i, name) in names.iter().enumerate() {
        let registration =
            json!({ "ServiceName": name, "ServiceURL": format!("http://127.0.0.1:9/{i}") });
        let response = client
            .post(format!("{base}/services"))
            .json(&registration)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
    }
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in names {
        let escaped = name.replace('\\', r"\\").replace('"', r#"\""#);
        assert!(
            text.contains(&format!(
                r#"registry_instances{{service="{escaped}",status="passing"}} 1"#
            )),
            "{name} is not listed as {escaped}:\n{text}"
        );
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool is installed: run scripts/bootstrap.sh test (apt-get install prometheus)",
        );
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(checked.status.success(), "promtool: {said}\n{text}");
    assert_eq!(said.trim(), "", "promtool's findings:\n{text}");
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_the_work_done() {
    let (_server, base) = start_server("metrics", &[]).await;
    let client = common::no_redirects();
    let passing = r#"registry_instances{service="GradingService",status="passing"}"#;
    let before = common::eventually("three registrations and heartbeat rounds", || async {
        let samples = scrape(&client, &base).await;
        (value(&samples, passing) == 1.0
            && value(&samples, "registry_patches_sent_total") >= 3.0
            && value(&samples, "registry_heartbeat_seconds_count") >= 3.0)
            .then_some(samples)
    })
    .await;
    for name in [
        "tokio_alive_tasks",
        "process_open_sockets",
        "process_resident_memory_bytes",
    ] {
        assert!(value(&before, name) > 0.0, "{name} missing");
    }

    let posted = r#"http_requests_total{route="/log",method="POST",status="200"}"#;
    let written = "log_records_written_total";
    for i in 0..3 {
        let response = client
            .post(format!("{base}/log"))
            .body(format!("metrics test {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let refused = r#"http_requests_total{route="/services",method="POST",status="400"}"#;
    let response = client
        .post(format!("{base}/services"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let after = scrape(&client, &base).await;
    // The catalogue of families (names, types and help; the README lists them): a family
    // added, renamed or explained differently shows as a diff of its snapshot.
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut catalogue: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("# HELP ") || line.starts_with("# TYPE "))
        .collect();
    catalogue.sort_unstable();
    insta::assert_snapshot!("metrics_catalogue", catalogue.join("\n"));
    // (The hosted services' log shippers may post their own records in the same window:
    // a clean-clone `make test` once counted 4.)
    assert!(value(&after, posted) - value(&before, posted) >= 3.0);
    assert!(value(&after, written) - value(&before, written) >= 3.0);
    assert_eq!(value(&after, refused) - value(&before, refused), 1.0);
    assert!(
        value(&after, "registry_heartbeat_seconds_count")
            >= value(&before, "registry_heartbeat_seconds_count")
    );
    // The registry's revision is the one its listing carries, and moves with each change
    // (heartbeat rounds move it too, so it is read around the listing).
    let revision = "registry_revision";
    let low = value(&scrape(&client, &base).await, revision);
    let listing = client.get(format!("{base}/services")).send().await.unwrap();
    let listed: f64 = listing.headers()[wire::registry::REVISION_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let high = value(&scrape(&client, &base).await, revision);
    assert!(
        low > 0.0 && low <= listed && listed <= high,
        "{low} {listed} {high}"
    );

    // Ids in paths do not make new series: the route's pattern is the label.
    let student =
        r#"http_requests_total{route="/grading/students/{id}",method="GET",status="200"}"#;
    for id in [2, 3] {
        client
            .get(format!("{base}/grading/students/{id}"))
            .send()
            .await
            .unwrap();
    }
    let ids = scrape(&client, &base).await;
    assert_eq!(
        value(&ids, student) - value(&after, student),
        2.0,
        "{:?}",
        ids.keys()
            .filter(|k| k.contains("students"))
            .collect::<Vec<_>>()
    );
}

/// `GET /healthz` on `base`: its status and body.
async fn healthz(base: &str) -> (StatusCode, Value) {
    let response = common::no_redirects()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn healthz_answers_on_every_binary() {
    let (_server, base) = start_server("healthz", &[]).await;
    let (status, body) = healthz(&base).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "ok", "checks": {
            "grading database": "ok", "log writer": "ok", "registry history": "ok"
        }})
    );

    let dir = common::temp_dir("healthz-standalone");
    let registry = Process::registry(&dir);
    let service = |binary: &str, extra: &[&str]| {
        let mut args = vec!["--addr", "127.0.0.1:0", "--registry-url", &registry.url];
        args.extend_from_slice(extra);
        Process::start(binary, &args, &dir)
    };
    let log = service(env!("CARGO_BIN_EXE_logservice"), &["--log-file", "h.log"]);
    let grading = service(
        env!("CARGO_BIN_EXE_gradingservice"),
        &["--database", "h.db"],
    );
    let site = dir.to_str().unwrap();
    let portal = service(env!("CARGO_BIN_EXE_portal"), &["--site-root", site]);
    for (process, checks) in [
        (&registry, json!({"registry history": "ok"})),
        (&log, json!({"log writer": "ok"})),
        (&grading, json!({"grading database": "ok"})),
        (&portal, json!({})),
    ] {
        let (status, body) = healthz(&process.url).await;
        assert_eq!(status, 200, "{}: {body}", process.url);
        assert_eq!(body, json!({"status": "ok", "checks": checks}));
    }
}

#[tokio::test]
async fn the_grading_service_is_unhealthy_without_its_database_and_no_other_is() {
    let start = |name: &str| {
        let dir = common::temp_dir(name);
        async move {
            let service = server::grading::GradingService::start(
                &server::grading::GradingConfig::on(server::grading::Database::Sqlite(
                    dir.join("grades.db"),
                )),
                tokio_util::sync::CancellationToken::new(),
            )
            .await
            .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let health = axum::Router::from(service.health().router());
            tokio::spawn(async move { axum::serve(listener, health).await.unwrap() });
            (service, base)
        }
    };
    // Two grading services in one process, as a test binary or a host of several
    // services has them: each answers for its own database only.
    let (closed, closed_base) = start("healthz-db-closed").await;
    let (_open, open_base) = start("healthz-db-open").await;
    assert_eq!(healthz(&closed_base).await.0, 200);
    closed.store.close().await;
    let (status, body) = healthz(&closed_base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["checks"]["grading database"], "ok", "{body}");
    let (status, body) = healthz(&open_base).await;
    assert_eq!(status, 200, "another service's closed database: {body}");
    assert_eq!(
        body,
        json!({"status": "ok", "checks": {"grading database": "ok"}})
    );
}

/// A `registryservice` at INFO with `extra` flags, its stderr in a file.
fn logging_registry(dir: &std::path::Path, extra: &[&str]) -> (Process, std::path::PathBuf) {
    let path = dir.join(format!("stderr-{}", extra.len()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_registryservice"));
    command
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&path).unwrap());
    (Process::spawn(command), path)
}

/// The lines of the file at `path` that contain `text`.
fn lines_with(path: &std::path::Path, text: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| line.contains(text))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn requests_are_logged_only_with_access_log_and_refusals_always() {
    let dir = common::temp_dir("request-log");
    let client = common::no_redirects();
    for access_log in [false, true] {
        let flags: &[&str] = if access_log { &["--access-log"] } else { &[] };
        let (registry, stderr) = logging_registry(&dir, flags);
        let probe = client
            .get(format!("{}/services/RequestLogProbe", registry.url))
            .send()
            .await
            .unwrap();
        assert_eq!(probe.status(), 200);
        let refused = client
            .delete(format!("{}/services", registry.url))
            .body("http://127.0.0.1:9/refusal-probe")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 404);
        // A line is written before its answer goes out: both are in the file now.
        let refusals = lines_with(&stderr, "request refused");
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        for part in ["method=DELETE", "uri=/services", "status=404", "reason="] {
            assert!(
                refusals[0].contains(part),
                "{part} missing from {refusals:?}"
            );
        }
        let probes = lines_with(&stderr, "/services/RequestLogProbe");
        if access_log {
            assert_eq!(probes.len(), 1, "{probes:?}");
            for part in ["method=GET", "status=200", "latency="] {
                assert!(probes[0].contains(part), "{part} missing from {probes:?}");
            }
        } else {
            assert_eq!(probes, Vec::<String>::new(), "a request line by default");
        }
    }
}

#[tokio::test]
async fn a_standalone_portal_with_a_login_warns_when_grades_are_open() {
    let dir = common::temp_dir("portal-open-grades");
    let registry = Process::registry(&dir);
    let _grading = Process::start(
        env!("CARGO_BIN_EXE_gradingservice"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            &registry.url,
            "--database",
            "open.db",
        ],
        &dir,
    );
    let hash = server::portal::teacher_login::hash_password("teach-me").unwrap();
    let stderr = dir.join("portal-stderr");
    let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
    command
        .args(["--addr", "127.0.0.1:0", "--registry-url", &registry.url])
        .args(["--site-root", dir.to_str().unwrap()])
        .args(["--teacher-password-hash", &hash])
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let _portal = Process::spawn(command);
    let warning = common::eventually("the portal's warning", || async {
        lines_with(&stderr, "accepts grade changes without a token")
            .into_iter()
            .next()
    })
    .await;
    assert!(warning.contains("--token"), "names the flag: {warning}");
}

/// The all-in-one server awaits its background tasks before it exits: a change logged
/// just before SIGTERM is shipped to its log service, and written, before the process
/// ends (the log shipper's last delivery goes to the server's own `/log`, which it keeps
/// serving until then).
#[tokio::test]
async fn records_logged_just_before_sigterm_reach_the_log() {
    // Checks that tolerate a loaded machine: a log service wrongly found critical would
    // leave the grading service nowhere to ship, which is not what this test is about.
    let lenient = ["--heartbeat-timeout", "5s", "--heartbeat-failures", "10"];
    let (mut server, base) = start_server("last-words", &lenient).await;
    let client = common::client();
    let add = |title: &'static str| {
        let request = client
            .post(format!("{base}/grading/students/1/grades"))
            .json(&json!({"Title": title, "Type": "Quiz", "Score": 77}));
        async move {
            let added = request.send().await.unwrap();
            assert_eq!(added.status(), StatusCode::CREATED);
        }
    };
    // The grading service ships through the log service once it has been told where that
    // is: wait for a first line to arrive.
    add("First words").await;
    until("the first grade's line in the log", || {
        common::shows(format!("{base}/log?text=First%20words"), "First words")
    })
    .await;

    add("Last words").await;
    let status = server.terminate();
    assert!(status.success(), "the server exited with {status:?}");
    let log = std::fs::read_to_string(server.dir.join("ops.log")).unwrap();
    assert!(
        log.lines()
            .any(|line| line.contains("grade added: Last words (Quiz) 77")),
        "the last grade's line is not in the log file:\n{log}"
    );
}

/// Our binaries, by name.
const BINARIES: [(&str, &str); 5] = [
    ("server", env!("CARGO_BIN_EXE_server")),
    ("registryservice", env!("CARGO_BIN_EXE_registryservice")),
    ("logservice", env!("CARGO_BIN_EXE_logservice")),
    ("gradingservice", env!("CARGO_BIN_EXE_gradingservice")),
    ("portal", env!("CARGO_BIN_EXE_portal")),
];

/// Each binary's `--help`, as a user reads it (in a clean environment: clap shows the
/// values of the flags' environment variables): a change to a flag, its default or its
/// text shows as a diff of `tests/snapshots/operations__help_<binary>.snap`.
#[test]
fn every_binarys_help_reads_as_its_snapshot() {
    for (name, binary) in BINARIES {
        let output = Command::new(binary)
            .arg("--help")
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "{name} --help failed");
        insta::assert_snapshot!(
            format!("help_{name}"),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// What each binary says when it refuses to start, for the three mistakes a user makes
/// most (a public URL that is not http, an address beyond loopback without a token, a
/// database it cannot use), in one snapshot: the reasons stay as good as they are.
#[test]
fn every_binarys_start_up_refusals_read_as_their_snapshot() {
    let mut said = String::new();
    let everyone: &[&str] = &[
        "server",
        "registryservice",
        "logservice",
        "gradingservice",
        "portal",
    ];
    let cases: [(&str, &[&str], &[&str]); 3] = [
        (
            "a public URL that is not http",
            &["--addr", "127.0.0.1:0", "--public-url", "ftp://x"],
            everyone,
        ),
        (
            "beyond loopback without a token",
            &["--addr", "0.0.0.0:0"],
            everyone,
        ),
        (
            "a database it cannot use",
            &["--addr", "127.0.0.1:0", "--database", "mysql://db/grades"],
            &["server", "gradingservice"],
        ),
    ];
    for (case, args, binaries) in cases {
        said.push_str(&format!("## {case}: {}\n", args.join(" ")));
        for (name, binary) in BINARIES.iter().filter(|(name, _)| binaries.contains(name)) {
            let output = Command::new(binary)
                .args(args)
                .env_clear()
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            said.push_str(&format!(
                "{name} (exit {:?}): {}\n",
                output.status.code(),
                stderr.trim()
            ));
        }
    }
    insta::assert_snapshot!(said);
}

/// Every binary that takes `--public-url` refuses one that is not an absolute http(s)
/// URL, naming the flag, before it binds anything.
#[test]
fn a_public_url_that_is_not_http_is_refused_by_every_binary() {
    for binary in [
        env!("CARGO_BIN_EXE_server"),
        env!("CARGO_BIN_EXE_registryservice"),
        env!("CARGO_BIN_EXE_logservice"),
        env!("CARGO_BIN_EXE_gradingservice"),
        env!("CARGO_BIN_EXE_portal"),
    ] {
        let output = Command::new(binary)
            .args(["--addr", "127.0.0.1:0", "--public-url", "ftp://x"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{binary}: {stderr}");
        assert!(stderr.contains("--public-url"), "{binary}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("listening on"),
            "{binary} listened"
        );
    }
}

/// A database URL's password never reaches stderr, however the URL is refused: by our
/// own check, or by clap (whose message would repeat the value as given).
#[test]
fn a_database_password_is_never_printed() {
    for (binary, database) in [
        (
            env!("CARGO_BIN_EXE_gradingservice"),
            "postgres://grader:s3cret@:5432/grades",
        ),
        (
            env!("CARGO_BIN_EXE_gradingservice"),
            "postgres:?password=s3cret",
        ),
        (
            env!("CARGO_BIN_EXE_gradingservice"),
            "postgres:grader:s3cret@db/grades",
        ),
        (
            env!("CARGO_BIN_EXE_server"),
            "postgresql://grader:s3cret@/x?sslpassword=s3cret",
        ),
    ] {
        let output = Command::new(binary)
            .args(["--addr", "127.0.0.1:0", "--database", database])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{binary}: {stderr}");
        assert!(stderr.contains("--database"), "{binary}: {stderr}");
        assert!(
            !stderr.contains("s3cret"),
            "{binary} printed the password: {stderr}"
        );
    }
    // Nor does --help, which shows the environment's values of other flags.
    let output = Command::new(env!("CARGO_BIN_EXE_gradingservice"))
        .arg("--help")
        .env("GRADING_DATABASE", "postgres://grader:s3cret@db/grades")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--database"), "{help}");
    assert!(
        !help.contains("s3cret"),
        "--help printed the password: {help}"
    );
}

/// Protected mode: every binary refuses an address beyond loopback without a token,
/// naming --token and --open, before it binds anything; `--open` (here as
/// DISTRIBUTED_OPEN) lets it listen.
#[test]
fn without_a_token_every_binary_refuses_an_address_beyond_loopback() {
    for binary in [
        env!("CARGO_BIN_EXE_server"),
        env!("CARGO_BIN_EXE_registryservice"),
        env!("CARGO_BIN_EXE_logservice"),
        env!("CARGO_BIN_EXE_gradingservice"),
        env!("CARGO_BIN_EXE_portal"),
    ] {
        let output = Command::new(binary)
            .args(["--addr", "0.0.0.0:0"])
            .env_remove("DISTRIBUTED_TOKEN")
            .env_remove("DISTRIBUTED_OPEN")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{binary}: {stderr}");
        for flag in ["--token", "--open", "0.0.0.0:0"] {
            assert!(
                stderr.contains(flag),
                "{binary} does not name {flag}: {stderr}"
            );
        }
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("listening on"),
            "{binary} listened"
        );
    }
    // With a token, listening beyond loopback still needs the URL others reach it at:
    // `http://0.0.0.0:…` would reach nobody else.
    for binary in [
        env!("CARGO_BIN_EXE_server"),
        env!("CARGO_BIN_EXE_registryservice"),
        env!("CARGO_BIN_EXE_logservice"),
    ] {
        let output = Command::new(binary)
            .args(["--addr", "0.0.0.0:0", "--token", TOKEN])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{binary}: {stderr}");
        assert!(stderr.contains("--public-url"), "{binary}: {stderr}");
    }
    let dir = common::temp_dir("open");
    let mut open = Command::new(env!("CARGO_BIN_EXE_registryservice"))
        .args(["--addr", "0.0.0.0:0", "--public-url", "http://127.0.0.1:9"])
        .env("DISTRIBUTED_OPEN", "1")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(open.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    open.kill().unwrap();
    open.wait().unwrap();
    assert!(first.contains("listening on http://0.0.0.0:"), "{first}");
}

/// The all-in-one server ships the life of each service it hosts under that service's
/// name: started, registered, told of a provider, and at SIGTERM stopping and
/// deregistered, so a first look at `/logs` shows the system assemble itself.
#[tokio::test]
async fn the_all_in_one_server_ships_each_services_life_under_its_name() {
    let (mut server, base) = start_server("lifecycle", &[]).await;
    for (service, text) in [
        ("LogService", "started"),
        ("LogService", "registered"),
        ("GradingService", "registered"),
        ("GradingService", "told of a provider added: LogService"),
        ("Portal", "registered"),
        ("Portal", "told of a provider added: GradingService"),
    ] {
        let query = format!(
            "{base}/log?service={service}&text={}",
            text.replace(' ', "%20").replace(':', "%3A")
        );
        until(&format!("[{service}] {text} in the log"), || {
            common::shows(query.clone(), text)
        })
        .await;
    }
    assert!(server.terminate().success());
    let log = std::fs::read_to_string(server.dir.join("ops.log")).unwrap();
    for line in [
        "GradingService\tINFO stopping",
        "GradingService\tINFO deregistered",
    ] {
        assert!(
            log.contains(line),
            "{line:?} is not in the log file:\n{log}"
        );
    }
}
