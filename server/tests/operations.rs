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
    api::{AddGrade, DeleteGrade},
    teacher::{GetTeacherStatus, LogIn, LogOut, TeacherStatus},
    wire::grading::Student,
};
use common::{Process, free_port};
use leptos::server_fn::ServerFn;
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE, WWW_AUTHENTICATE},
};
use serde_json::{Value, json};

const TOKEN: &str = "s3cret-token";

/// The all-in-one server on a free port, with `extra` flags; its base URL.
async fn start_server(tag: &str, extra: &[&str]) -> (Process, String) {
    let dir = common::temp_dir(tag);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--addr",
        addr.as_str(),
        "--site-root",
        dir.to_str().unwrap(),
        "--log-file",
        "ops.log",
        "--database",
        "ops.db",
    ];
    args.extend_from_slice(extra);
    let process = Process::start(env!("CARGO_BIN_EXE_server"), &args, &dir);
    let base = format!("http://{addr}");
    common::wait_up(&base, "/healthz").await;
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
    let (registry, good, bad) = (free_port(), free_port(), free_port());
    let registry_url = format!("http://127.0.0.1:{registry}");
    let _registry = Process::registry_with(registry, &dir, &["--token", TOKEN]);
    let log_service = |port: u16, token: Option<&str>| {
        let addr = format!("127.0.0.1:{port}");
        let file = format!("log-{port}.log");
        let mut args = vec![
            "--addr",
            addr.as_str(),
            "--registry-url",
            registry_url.as_str(),
            "--log-file",
            file.as_str(),
        ];
        if let Some(token) = token {
            args.extend(["--token", token]);
        }
        Process::start(env!("CARGO_BIN_EXE_logservice"), &args, &dir)
    };
    let _good = log_service(good, Some(TOKEN));
    let _bad = log_service(bad, None);
    let client = common::no_redirects();
    let started = Instant::now();
    loop {
        let listed: Vec<Value> = match client.get(format!("{registry_url}/services")).send().await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let urls: Vec<&str> = listed
            .iter()
            .filter_map(|i| i["ServiceURL"].as_str())
            .collect();
        if urls.contains(&format!("http://127.0.0.1:{good}").as_str()) {
            assert!(
                !urls.contains(&format!("http://127.0.0.1:{bad}").as_str()),
                "a service without the token registered"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never registered: {urls:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

#[tokio::test]
async fn with_a_teacher_password_changing_grades_needs_a_login() {
    let hash = server::teacher_login::hash_password("teach-me").unwrap();
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
    let section = &html[html.find(r#"id="add-grade""#).expect("the form's section")..];
    assert!(
        section[..section.find('>').unwrap()].contains("hidden"),
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

    // The right one: an HttpOnly, SameSite session cookie.
    let response = call(
        &client,
        &base,
        LogIn::PATH,
        &[("password", "teach-me"), ("next", "/students/1")],
        None,
    )
    .await;
    assert!(response.status().is_success() || response.status().is_redirection());
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
    assert!(response.status().is_success() || response.status().is_redirection());
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

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_the_work_done() {
    let (_server, base) = start_server("metrics", &[]).await;
    let client = common::no_redirects();
    // Let a heartbeat round or two pass.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = scrape(&client, &base).await;
    for name in [
        "tokio_alive_tasks",
        "process_open_sockets",
        "process_resident_memory_bytes",
    ] {
        assert!(value(&before, name) > 0.0, "{name} missing");
    }
    assert_eq!(
        value(
            &before,
            r#"registry_instances{service="GradingService",status="passing"}"#
        ),
        1.0
    );
    assert!(value(&before, "registry_patches_sent_total") >= 3.0);
    assert!(value(&before, "registry_heartbeat_seconds_count") >= 3.0);

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
    assert_eq!(value(&after, posted) - value(&before, posted), 3.0);
    assert!(value(&after, written) - value(&before, written) >= 3.0);
    assert_eq!(value(&after, refused) - value(&before, refused), 1.0);
    assert!(
        value(&after, "registry_heartbeat_seconds_count")
            >= value(&before, "registry_heartbeat_seconds_count")
    );
    // Ids in paths do not make new series: the route's pattern is the label.
    client
        .get(format!("{base}/grading/students/2"))
        .send()
        .await
        .unwrap();
    let ids = scrape(&client, &base).await;
    assert!(
        value(
            &ids,
            r#"http_requests_total{route="/grading/students/{id}",method="GET",status="200"}"#
        ) >= 1.0,
        "{:?}",
        ids.keys()
            .filter(|k| k.contains("students"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn healthz_answers_on_every_binary() {
    let (_server, base) = start_server("healthz", &[]).await;
    let client = common::no_redirects();
    let body: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["checks"]["grading database"], "ok", "{body}");
    assert_eq!(body["checks"]["log writer"], "ok", "{body}");

    let dir = common::temp_dir("healthz-registry");
    let port = free_port();
    let _registry = Process::registry(port, &dir);
    let registry = format!("http://127.0.0.1:{port}");
    common::wait_up(&registry, "/healthz").await;
    let response = client
        .get(format!("{registry}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_grading_service_is_unhealthy_without_its_database() {
    let dir = common::temp_dir("healthz-db");
    let service = server::grading::GradingService::start(&server::grading::GradingConfig {
        database: dir.join("grades.db"),
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, server::health::router())
            .await
            .unwrap()
    });
    let client = common::no_redirects();
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    service.store.close().await;
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["checks"]["grading database"], "ok", "{body}");
}

#[tokio::test]
async fn each_request_gets_one_log_line() {
    let dir = common::temp_dir("request-log");
    let port = free_port();
    let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_registryservice"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    common::wait_up(&base, "/healthz").await;
    let client = common::no_redirects();
    client
        .get(format!("{base}/services/RequestLogProbe"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("stderr")).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("/services/RequestLogProbe"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    let line = lines[0];
    for part in ["method=GET", "status=200", "latency="] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}
