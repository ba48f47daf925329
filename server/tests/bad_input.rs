//! The bad-input battery: every endpoint of every service, run as the real binaries, is
//! sent malformed, truncated, oversized and deeply nested JSON, wrong types, odd Unicode,
//! invalid and relative URLs, huge headers, slow bodies, empty bodies, and wrong methods
//! and content types.
//!
//! The rule for every answer: a refusal is the route's own, with the status that names
//! what is wrong (400 for malformed input, 413 for too large, 404 for an unknown id or
//! path, 405 for a wrong method) and a reason in its body (JSON `{"error": ...}` from the
//! APIs, text from server functions, a page from the portal); input that is odd but
//! acceptable (a log message in right-to-left script, say) may be taken (2xx). Never a 5xx, never a hang, and the process still serves afterwards with its
//! memory bounded: repeating the battery does not make it grow.

mod common;

use std::time::{Duration, Instant};

use app::api::{AddGrade, ListStudents, RecentLogs, RegistryInstances};
use app::pages::student::LoadStudent;
use common::Process;
use leptos::server_fn::ServerFn;
use reqwest::{Method, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The request deadline the processes run with, short so slow bodies are quick to test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a raw request may wait for its answer (or the connection's end) before the
/// server counts as holding it: only a hang comes near it on a loaded machine.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// What an answer may be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Refused with this status and a reason.
    Refused(u16),
    /// Taken (2xx) or refused with a reason; never a 5xx.
    Either,
}

#[derive(Debug, Clone)]
struct Case {
    what: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    expect: Expect,
}

fn case(what: impl Into<String>, method: Method, path: &str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        what: what.into(),
        method,
        path: path.to_owned(),
        content_type: None,
        body: body.into(),
        expect: Expect::Refused(400),
    }
}

impl Case {
    fn typed(mut self, content_type: &'static str) -> Case {
        self.content_type = Some(content_type);
        self
    }

    fn may_be_taken(mut self) -> Case {
        self.expect = Expect::Either;
        self
    }

    /// Refused with `status` rather than 400.
    fn refused_with(mut self, status: u16) -> Case {
        self.expect = Expect::Refused(status);
        self
    }
}

/// The bodies that no JSON endpoint may take, built from a `good` sample of what it does
/// take.
fn bad_json(method: Method, path: &str, good: &Value) -> Vec<Case> {
    let text = good.to_string();
    let mut cases = vec![
        case("empty body", method.clone(), path, ""),
        case("blank body", method.clone(), path, " \r\n\t "),
        case("malformed JSON", method.clone(), path, r#"{"a": "#),
        case(
            "truncated JSON",
            method.clone(),
            path,
            &text[..text.len() / 2],
        ),
        case(
            "trailing garbage",
            method.clone(),
            path,
            format!("{text} {{"),
        ),
        // Deep, but within every route's body limit (16 KiB at the least), so that the
        // refusal is the JSON decoder's, not the size limit's.
        case(
            "deeply nested arrays",
            method.clone(),
            path,
            "[".repeat(7_000) + &"]".repeat(7_000),
        ),
        case(
            "deeply nested objects",
            method.clone(),
            path,
            r#"{"a":"#.repeat(2_500) + "1" + &"}".repeat(2_500),
        ),
        case("an array", method.clone(), path, "[]"),
        case("a string", method.clone(), path, r#""text""#),
        case("null", method.clone(), path, "null"),
        case("a number", method.clone(), path, "1e999"),
        case(
            "every string a number",
            method.clone(),
            path,
            retyped(good).to_string(),
        ),
        case(
            "invalid UTF-8",
            method.clone(),
            path,
            [b"\xff\xfe".as_slice(), text.as_bytes()].concat(),
        ),
        case(
            "a lone surrogate",
            method.clone(),
            path,
            first_string_replaced(good, r"\ud800"),
        ),
        case(
            "oversized",
            method.clone(),
            path,
            " ".repeat(17 * 1024 * 1024) + &text,
        )
        .refused_with(413),
        case(
            "multipart garbage",
            method.clone(),
            path,
            "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--",
        )
        .typed("multipart/form-data; boundary=x"),
    ];
    cases.push(
        case(
            "form-encoded",
            method.clone(),
            path,
            "ServiceName=a&ServiceURL=b",
        )
        .typed("application/x-www-form-urlencoded"),
    );
    cases
}

/// `value` with every string (and number) turned into the wrong type.
fn retyped(value: &Value) -> Value {
    match value {
        Value::String(_) => json!(5),
        Value::Number(_) => json!("five"),
        Value::Array(items) => json!({ "items": items }),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), retyped(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The JSON text of `value` with its first string (at any depth) replaced by raw `escaped`.
fn first_string_replaced(value: &Value, escaped: &str) -> String {
    fn first(value: &Value) -> Option<&str> {
        match value {
            Value::String(text) => Some(text),
            Value::Array(items) => items.iter().find_map(first),
            Value::Object(map) => map.values().find_map(first),
            _ => None,
        }
    }
    let target = first(value).expect("the sample has a string");
    let quoted = Value::String(target.to_owned()).to_string();
    value
        .to_string()
        .replacen(&quoted, &format!("\"{escaped}\""), 1)
}

/// Methods a path does not take.
fn wrong_methods(path: &str, allowed: &[Method]) -> Vec<Case> {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ]
    .into_iter()
    .filter(|method| !allowed.contains(method))
    .map(|method| case(format!("{method} not taken"), method, path, "").refused_with(405))
    .collect()
}

fn registry_cases() -> Vec<Case> {
    let good = json!({
        "ServiceName": "BatteryService",
        "ServiceURL": "http://127.0.0.1:9/battery",
        "RequiredServices": ["LogService"],
        "ServiceUpdateURL": "http://127.0.0.1:9/battery/services",
        "HeartbeatURL": "http://127.0.0.1:9/battery/heartbeat"
    });
    let mut cases = bad_json(Method::POST, "/services", &good);
    let with = |field: &str, value: Value| {
        let mut registration = good.clone();
        registration[field] = value;
        registration.to_string()
    };
    for (field, url) in [
        ("ServiceURL", "/relative/path"),
        ("ServiceURL", "localhost:4000"),
        ("ServiceURL", "http://"),
        ("ServiceURL", "javascript:alert(1)"),
        ("ServiceURL", "ftp://127.0.0.1/x"),
        ("ServiceURL", "http://exa mple.com"),
        ("ServiceURL", ""),
        ("HeartbeatURL", "heartbeat"),
        ("ServiceUpdateURL", "//127.0.0.1/services"),
    ] {
        cases.push(case(
            format!("{field} {url:?}"),
            Method::POST,
            "/services",
            with(field, json!(url)),
        ));
    }
    cases.push(case(
        "a 3000-byte URL",
        Method::POST,
        "/services",
        with(
            "ServiceURL",
            json!(format!("http://a/{}", "x".repeat(3000))),
        ),
    ));
    for name in [
        "",
        "   ",
        "Log\u{0}Service",
        "Log\nService",
        &"n".repeat(200),
    ] {
        cases.push(case(
            format!("ServiceName {name:.20?}"),
            Method::POST,
            "/services",
            with("ServiceName", json!(name)),
        ));
    }
    cases.push(case(
        "1000 required services",
        Method::POST,
        "/services",
        with(
            "RequiredServices",
            json!((0..1000).map(|i| format!("S{i}")).collect::<Vec<_>>()),
        ),
    ));
    cases.push(case(
        "TTL beside a HeartbeatURL",
        Method::POST,
        "/services",
        with("TTL", json!("10s")),
    ));
    cases.push(case(
        "TTL not a duration",
        Method::POST,
        "/services",
        with("TTL", json!("soon")),
    ));
    cases.push(
        case(
            "right-to-left and emoji in a name",
            Method::POST,
            "/services",
            with("ServiceName", json!("\u{202e}ecivreS\u{1F600}\u{0301}")),
        )
        .may_be_taken(),
    );
    for method in [Method::DELETE, Method::PUT] {
        for (what, body) in [
            ("empty body", b"".to_vec()),
            ("invalid UTF-8", b"\xff\xfe\xfd".to_vec()),
            ("a relative URL", b"/relative".to_vec()),
            ("not a URL", b"not a url".to_vec()),
            ("an unknown URL", b"http://127.0.0.1:9/unknown".to_vec()),
            ("JSON, not a URL", br#"{"ServiceURL":"x"}"#.to_vec()),
            ("oversized", vec![b'a'; 100 * 1024]),
        ] {
            let status = match what {
                "an unknown URL" => 404,
                "oversized" => 413,
                _ => 400,
            };
            cases.push(case(what, method.clone(), "/services", body).refused_with(status));
        }
    }
    for path in ["/services/%FF", "/services/Log%00Service"] {
        cases.push(case("odd name in the path", Method::GET, path, "").may_be_taken());
    }
    cases.push(case("an unknown path", Method::GET, "/services/a/b", "").refused_with(404));
    cases.extend(wrong_methods(
        "/services",
        &[Method::GET, Method::POST, Method::PUT, Method::DELETE],
    ));
    cases.extend(wrong_methods("/services/LogService", &[Method::GET]));
    cases
}

fn log_cases() -> Vec<Case> {
    let mut cases = vec![
        case("empty message", Method::POST, "/log", ""),
        case("blank message", Method::POST, "/log", "  \n"),
        case("invalid UTF-8", Method::POST, "/log", b"ab\xffcd".to_vec()),
        case(
            "oversized message",
            Method::POST,
            "/log",
            "m".repeat(65 * 1024),
        )
        .refused_with(413),
        case(
            "oversized body",
            Method::POST,
            "/log",
            "m".repeat(17 * 1024 * 1024),
        )
        .refused_with(413),
        case(
            "odd Unicode",
            Method::POST,
            "/log",
            "\u{202e}txet\u{0} \u{1F600}\u{0301}\t\r\u{feff}",
        )
        .may_be_taken(),
        case(
            "JSON as a message",
            Method::POST,
            "/log",
            "[".repeat(100_000),
        )
        .may_be_taken(),
    ];
    for (what, body) in [
        ("batch: empty", ""),
        ("batch: not JSON", "plain text\n"),
        ("batch: a number", "1\n"),
        ("batch: an object", "{\"a\":1}\n"),
        ("batch: a lone surrogate", "\"\\ud800\"\n"),
        ("batch: truncated", "\"one\"\n\"tw"),
        ("batch: empty message", "\"\"\n"),
    ] {
        cases.push(case(what, Method::POST, "/log", body).typed("application/x-ndjson"));
    }
    cases.push(
        case(
            "batch: oversized message",
            Method::POST,
            "/log",
            format!("\"{}\"\n", "m".repeat(65 * 1024)),
        )
        .typed("application/x-ndjson")
        .refused_with(413),
    );
    for query in [
        "since=yesterday",
        "until=2026-13-45T00:00:00Z",
        "limit=-1",
        "limit=99999999999999999999999",
        "limit=many",
        "since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z",
    ] {
        cases.push(case(
            format!("query {query}"),
            Method::GET,
            &format!("/log?{query}"),
            "",
        ));
    }
    cases.push(case("odd query", Method::GET, "/log?service=%FF%FE&text=%00", "").may_be_taken());
    cases.extend(wrong_methods("/log", &[Method::GET, Method::POST]));
    cases
}

fn grading_cases(prefix: &str) -> Vec<Case> {
    let students = format!("{prefix}/students");
    let grades = format!("{prefix}/students/1/grades");
    let mut cases = bad_json(
        Method::POST,
        &students,
        &json!({ "FirstName": "Ada", "LastName": "Lovelace" }),
    );
    let good_grade = json!({ "Title": "Quiz 1", "Type": "Quiz", "Score": 90.0 });
    cases.extend(bad_json(Method::POST, &grades, &good_grade));
    for (what, grade) in [
        (
            "Score over 100",
            json!({ "Title": "t", "Type": "Quiz", "Score": 101 }),
        ),
        (
            "Score negative",
            json!({ "Title": "t", "Type": "Quiz", "Score": -1 }),
        ),
        (
            "Score a string",
            json!({ "Title": "t", "Type": "Quiz", "Score": "90" }),
        ),
        (
            "unknown Type",
            json!({ "Title": "t", "Type": "Essay", "Score": 1 }),
        ),
        (
            "empty Title",
            json!({ "Title": " ", "Type": "Quiz", "Score": 1 }),
        ),
        (
            "control character in Title",
            json!({ "Title": "a\u{7}b", "Type": "Quiz", "Score": 1 }),
        ),
        (
            "huge Title",
            json!({ "Title": "t".repeat(10_000), "Type": "Quiz", "Score": 1 }),
        ),
    ] {
        cases.push(case(what, Method::POST, &grades, grade.to_string()));
    }
    cases.push(
        case(
            "right-to-left and emoji in a Title",
            Method::POST,
            &grades,
            json!({ "Title": "\u{202e}ziuQ \u{1F600}", "Type": "Quiz", "Score": 1 }).to_string(),
        )
        .may_be_taken(),
    );
    for (what, student) in [
        ("empty names", json!({ "FirstName": "", "LastName": "" })),
        (
            "control characters",
            json!({ "FirstName": "A\u{0}", "LastName": "B" }),
        ),
        (
            "a name a number",
            json!({ "FirstName": 1, "LastName": "B" }),
        ),
    ] {
        cases.push(case(what, Method::POST, &students, student.to_string()));
    }
    for id in [
        "abc",
        "99999999999999999999999",
        "-1",
        "%00",
        "%F0%9F%98%80",
        "1.5",
    ] {
        // An id that is not a student's, numeric or not, names no student: 404.
        let path = format!("{prefix}/students/{id}");
        cases.push(case(format!("student {id}"), Method::GET, &path, "").refused_with(404));
        cases.push(
            case(format!("delete student {id}"), Method::DELETE, &path, "").refused_with(404),
        );
        cases.push(
            case(
                format!("grade for student {id}"),
                Method::POST,
                &format!("{path}/grades"),
                good_grade.to_string(),
            )
            .refused_with(404),
        );
    }
    for grade in ["abc", "99999999999999999999999", "0"] {
        cases.push(
            case(
                format!("delete grade {grade}"),
                Method::DELETE,
                &format!("{prefix}/students/1/grades/{grade}"),
                "",
            )
            .refused_with(404),
        );
    }
    cases.extend(wrong_methods(&students, &[Method::GET, Method::POST]));
    cases.extend(wrong_methods(
        &format!("{prefix}/students/1"),
        &[Method::GET, Method::DELETE],
    ));
    cases.extend(wrong_methods(&grades, &[Method::POST]));
    cases.push(
        case(
            "an unknown path",
            Method::GET,
            &format!("{prefix}/teachers"),
            "",
        )
        .refused_with(404),
    );
    cases
}

/// An instance's heartbeat and update endpoints.
fn runtime_cases(heartbeat: &str, update: &str, required: &str) -> Vec<Case> {
    let good =
        json!({ "Added": [{ "Name": required, "URL": "http://127.0.0.1:9" }], "Removed": [] });
    let mut cases = bad_json(Method::POST, update, &good);
    // Both of a patch's keys may be left out, as in the original, so an object with only an
    // unknown key (however deep; serde_json skips it without recursing) is an empty patch.
    for case in &mut cases {
        if case.what == "deeply nested objects" {
            case.expect = Expect::Either;
        }
    }
    for url in ["relative", "/path", "mailto:a@b", ""] {
        cases.push(case(
            format!("patch URL {url:?}"),
            Method::POST,
            update,
            json!({ "Added": [{ "Name": required, "URL": url }] }).to_string(),
        ));
    }
    // Every URL of a patch is logged: a control character in one is refused, added or
    // removed.
    for list in ["Added", "Removed"] {
        cases.push(case(
            format!("{list} URL with a newline"),
            Method::POST,
            update,
            json!({ list: [{ "Name": required, "URL": "http://a/\nINFO forged" }] }).to_string(),
        ));
    }
    cases.extend(wrong_methods(heartbeat, &[Method::GET]));
    cases.extend(wrong_methods(update, &[Method::POST]));
    cases
}

fn portal_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for path in [
        "/students/abc",
        "/students/99999999999999999999999",
        "/students/%00",
        "/nowhere",
        "/pkg/..%2F..%2Fetc%2Fpasswd",
        "/pkg/does-not-exist.wasm",
    ] {
        cases.push(case(format!("page {path}"), Method::GET, path, "").refused_with(404));
    }
    for path in ["/logs?since=garbage&service=%FF", "/students?x=%00"] {
        cases.push(case(format!("page {path}"), Method::GET, path, "").may_be_taken());
    }
    cases.push(
        case(
            "live logs, bad filter",
            Method::GET,
            "/portal/events/logs?since=never",
            "",
        )
        .may_be_taken(),
    );
    let form = "application/x-www-form-urlencoded";
    for (path, bodies) in [
        (
            AddGrade::PATH,
            vec![
                "",
                "student_id=abc&title=t&kind=Quiz&score=1",
                "student_id=1",
                "%%%",
                "student_id=99999999999999999999999&title=t&kind=Quiz&score=1",
            ],
        ),
        (LoadStudent::PATH, vec!["", "id=abc", "id=%FF"]),
        (RecentLogs::PATH, vec!["", "service=%FF"]),
    ] {
        for body in bodies {
            cases.push(case(format!("server fn {body:?}"), Method::POST, path, body).typed(form));
        }
        cases.push(
            case("server fn, JSON garbage", Method::POST, path, "{[").typed("application/json"),
        );
        cases.extend(wrong_methods(path, &[Method::POST]));
    }
    for path in [ListStudents::PATH, RegistryInstances::PATH] {
        cases.push(
            case(
                "server fn, odd body",
                Method::POST,
                path,
                b"\xff\xfe".to_vec(),
            )
            .typed(form)
            .may_be_taken(),
        );
    }
    cases
}

/// A request's answer.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn send(client: &reqwest::Client, base: &str, case: &Case) -> Answer {
    let mut request = client
        .request(case.method.clone(), format!("{base}{}", case.path))
        .body(case.body.clone());
    if let Some(content_type) = case.content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    let response = request.send().await.unwrap_or_else(|err| {
        panic!(
            "{}: {} {}: no answer: {err}",
            case.what, case.method, case.path
        )
    });
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A live stream that was taken never ends: its first bytes are not needed.
    let body = if content_type.starts_with("text/event-stream") {
        b"(a live stream)".to_vec()
    } else {
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default()
    };
    Answer {
        status,
        content_type,
        body,
    }
}

/// Whether `answer` is a refusal that says why, with `status` if given; unless
/// `own_reason_optional` (a path no route takes), the reason must be the route's own.
fn refused_with_reason(
    answer: &Answer,
    status: Option<u16>,
    own_reason_optional: bool,
) -> Result<(), String> {
    if !(400..500).contains(&answer.status) {
        return Err(format!("status {}, not a 4xx", answer.status));
    }
    if let Some(status) = status
        && answer.status != status
    {
        return Err(format!("status {}, not {status}", answer.status));
    }
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("{} with an empty body", answer.status));
    }
    if answer.content_type.starts_with("application/json") {
        let reason = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|value| value["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if reason.trim().is_empty() {
            return Err(format!(
                "{} whose JSON has no \"error\" reason: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        // The request limits' stand-in ("Not Found: GET /x") for an answer that came with
        // no reason: right for a path no route takes and for a method a route does not
        // take (axum's own 405, which names the methods in `Allow`), wrong for any other
        // refusal.
        let stand_in = reqwest::StatusCode::from_u16(answer.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .is_some_and(|text| reason.starts_with(&format!("{text}: ")));
        if stand_in && !own_reason_optional {
            return Err(format!(
                "{} without the route's own reason: {reason}",
                answer.status
            ));
        }
    }
    Ok(())
}

/// Sends every case, and gives the list of broken rules.
async fn battery(base: &str, cases: &[Case]) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut broken = Vec::new();
    for case in cases {
        let answer = send(&client, base, case).await;
        let unrouted = case.what == "an unknown path" || case.expect == Expect::Refused(405);
        let verdict = match case.expect {
            Expect::Refused(status) => refused_with_reason(&answer, Some(status), unrouted),
            Expect::Either if (200..300).contains(&answer.status) => Ok(()),
            Expect::Either => refused_with_reason(&answer, None, unrouted),
        };
        if let Err(why) = verdict {
            broken.push(format!(
                "{} {} ({}): {why}; body {:.200}",
                case.method,
                case.path,
                case.what,
                String::from_utf8_lossy(&answer.body)
            ));
        }
    }
    broken
}

/// The answer to a raw request, up to the connection's end or `within`; `None` if the
/// server closed without answering.
async fn raw(port: u16, parts: &[(&[u8], Duration)], within: Duration) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    for (bytes, pause) in parts {
        if stream.write_all(bytes).await.is_err() {
            break;
        }
        tokio::time::sleep(*pause).await;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server held the connection past {within:?}"
    );
    (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
}

/// Huge headers, a slow body and slow headers, sent raw.
async fn slow_and_huge(port: u16) {
    let request = |extra: &str| {
        format!("GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n")
    };
    let long = request(&format!("X-Long: {}\r\n", "a".repeat(40 * 1024)));
    let answer = raw(port, &[(long.as_bytes(), Duration::ZERO)], ANSWER_WITHIN)
        .await
        .expect("an answer to a 40 KiB header");
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.300}");
    assert!(answer.contains("headers are too large"), "{answer:.300}");

    let many: String = (0..300).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let many = request(&many);
    // More than hyper's 100 fields: its bare 431 (the status line is the reason).
    let answer = raw(port, &[(many.as_bytes(), Duration::ZERO)], ANSWER_WITHIN)
        .await
        .expect("an answer to 300 header fields");
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
        "{answer:.300}"
    );

    // Beyond hyper's read buffer: a bare 431 or a closed connection, never a 5xx.
    let huge = request(&format!("X-Huge: {}\r\n", "a".repeat(2 * 1024 * 1024)));
    if let Some(answer) = raw(port, &[(huge.as_bytes(), Duration::ZERO)], ANSWER_WITHIN).await {
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.300}");
    }

    // A body that trickles in past the deadline: 408 with a reason.
    let head = b"POST /services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 64\r\nConnection: close\r\n\r\n{";
    let pause = REQUEST_TIMEOUT / 3;
    let trickle: Vec<(&[u8], Duration)> = std::iter::once((head.as_slice(), pause))
        .chain(std::iter::repeat_n((b" ".as_slice(), pause), 6))
        .collect();
    let answer = raw(port, &trickle, ANSWER_WITHIN)
        .await
        .expect("an answer to a slow body");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.300}");
    assert!(answer.contains("did not arrive within"), "{answer:.300}");

    // Headers that never end: the connection is closed once the deadline has passed.
    let started = Instant::now();
    raw(
        port,
        &[(
            b"GET /services HTTP/1.1\r\nHost: 127.0.0.1\r\n".as_slice(),
            Duration::ZERO,
        )],
        ANSWER_WITHIN,
    )
    .await;
    assert!(
        started.elapsed() >= REQUEST_TIMEOUT / 2,
        "{:?}",
        started.elapsed()
    );

    // The same on a kept-alive connection: each request's head has its own deadline,
    // counted from when the server starts reading it. Three requests half a deadline
    // apart are each answered; the fourth head, never finished, is cut off a deadline
    // after the third was answered, so two deadlines after the start at the earliest.
    let whole = b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".as_slice();
    let started = Instant::now();
    let answer = raw(
        port,
        &[
            (whole, REQUEST_TIMEOUT / 2),
            (whole, REQUEST_TIMEOUT / 2),
            (whole, REQUEST_TIMEOUT / 2),
            (
                b"GET /services HTTP/1.1\r\nHost: ".as_slice(),
                Duration::ZERO,
            ),
        ],
        ANSWER_WITHIN,
    )
    .await
    .expect("answers to the requests sent whole");
    assert_eq!(answer.matches("HTTP/1.1 404").count(), 3, "{answer:.600}");
    assert!(
        started.elapsed() >= 2 * REQUEST_TIMEOUT,
        "closed after {:?}, before the last head's deadline",
        started.elapsed()
    );
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

fn timeout_flag() -> String {
    humantime::format_duration(REQUEST_TIMEOUT).to_string()
}

#[tokio::test]
async fn the_all_in_one_server_refuses_bad_input_with_a_reason_and_bounded_memory() {
    let dir = common::temp_dir("bad-input");
    // Large blocks always mapped and returned on free, so resident memory shows what is
    // live rather than what glibc keeps after a 16 MiB body (see the check below).
    let server = Process::start_with_env(
        env!("CARGO_BIN_EXE_server"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--site-root",
            dir.to_str().unwrap(),
            "--log-file",
            "battery.log",
            "--database",
            "battery.db",
            "--request-timeout",
            &timeout_flag(),
        ],
        &dir,
        &[
            ("MALLOC_MMAP_THRESHOLD_", "131072"),
            ("MALLOC_TRIM_THRESHOLD_", "131072"),
        ],
    );
    let (base, port) = (server.url.clone(), server.port);
    let cases: Vec<Case> = [
        registry_cases(),
        log_cases(),
        grading_cases("/grading"),
        runtime_cases(
            "/_instances/GradingService/heartbeat",
            "/_instances/GradingService/services",
            "LogService",
        ),
        portal_cases(),
    ]
    .concat();

    let broken = battery(&base, &cases).await;
    assert!(
        broken.is_empty(),
        "{} of {} cases broke the rules:\n{}",
        broken.len(),
        cases.len(),
        broken.join("\n")
    );
    slow_and_huge(port).await;
    // Two batteries warm up what is bounded by design (the registry's replay journal, the
    // caches); after that, three more must not make it grow.
    assert!(battery(&base, &cases).await.is_empty());
    slow_and_huge(port).await;
    let settled = rss_kib(server.child.pid());
    for _ in 0..3 {
        assert!(battery(&base, &cases).await.is_empty());
        slow_and_huge(port).await;
    }
    let after = rss_kib(server.child.pid());
    eprintln!(
        "memory: {settled} KiB after two batteries of {} cases, {after} KiB after five",
        cases.len()
    );
    assert!(
        after <= settled + settled / 10,
        "memory grew from {settled} KiB after two batteries to {after} KiB after five"
    );

    // Still serving, and what was refused left nothing behind.
    let client = common::client();
    let instances: Vec<Value> = client
        .get(format!("{base}/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        instances
            .iter()
            .all(|i| i["ServiceURL"] != "http://127.0.0.1:9/battery"
                || i["ServiceName"] != "BatteryService"),
        "a refused registration was stored"
    );
    let students = client
        .get(format!("{base}/grading/students"))
        .send()
        .await
        .unwrap();
    assert_eq!(students.status(), 200);
}

#[tokio::test]
async fn each_standalone_service_refuses_bad_input_with_a_reason() {
    let dir = common::temp_dir("bad-input-standalone");
    let timeout = timeout_flag();
    let registry = Process::registry_with(&dir, &["--request-timeout", &timeout]);
    let service = |binary: &str, extra: [&str; 2]| {
        let mut args = vec![
            "--addr",
            "127.0.0.1:0",
            "--registry-url",
            &registry.url,
            "--request-timeout",
            &timeout,
        ];
        args.extend(extra);
        Process::start(binary, &args, &dir)
    };
    let log = service(
        env!("CARGO_BIN_EXE_logservice"),
        ["--log-file", "standalone.log"],
    );
    let grading = service(
        env!("CARGO_BIN_EXE_gradingservice"),
        ["--database", "standalone.db"],
    );
    let unknown = |path: &str| case("an unknown path", Method::GET, path, "").refused_with(404);
    for (process, cases) in [
        (
            &registry,
            [registry_cases(), vec![unknown("/nowhere")]].concat(),
        ),
        (
            &log,
            [
                log_cases(),
                runtime_cases("/heartbeat", "/services", "NoSuchService"),
                vec![unknown("/nowhere")],
            ]
            .concat(),
        ),
        (
            &grading,
            [
                grading_cases(""),
                runtime_cases("/heartbeat", "/services", "LogService"),
                vec![unknown("/nowhere")],
            ]
            .concat(),
        ),
    ] {
        let base = &process.url;
        let broken = battery(base, &cases).await;
        assert!(
            broken.is_empty(),
            "{base}: {} of {} cases broke the rules:\n{}",
            broken.len(),
            cases.len(),
            broken.join("\n")
        );
        slow_and_huge(process.port).await;
    }
}

/// Connections that send nothing (or half the HTTP/2 preface) are closed within
/// `--request-timeout`, and no more than `--max-connections` (at most half the open-file
/// limit) are ever held: with 1,100 such sockets against a registry whose open-file limit
/// is 1,024, a normal request is still answered, and every silent socket is closed by the
/// server.
#[tokio::test]
async fn silent_sockets_never_use_up_the_file_descriptors() {
    let dir = common::temp_dir("silent");
    // util-linux's prlimit sets the limit and runs the registry under it.
    let mut command = std::process::Command::new("prlimit");
    command
        .arg("--nofile=1024:1024")
        .arg(env!("CARGO_BIN_EXE_registryservice"))
        .args(["--addr", "127.0.0.1:0", "--request-timeout", "3s"])
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null());
    let registry = Process::spawn(command);
    let addr = format!("127.0.0.1:{}", registry.port);
    // Quickly, well within the 3 s they have to speak, but 100 at a time: more at once
    // could overflow the listener's backlog, where the kernel drops a connection the
    // client already counts as open, and the server never sees it to close.
    let mut silent = Vec::new();
    for batch in 0..11 {
        silent.extend(
            futures::future::join_all((0..100).map(|i| {
                let addr = addr.clone();
                async move {
                    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
                    if (batch * 100 + i) % 10 == 0 {
                        socket.write_all(b"PRI * HTTP/2.0").await.unwrap();
                    }
                    socket
                }
            }))
            .await,
        );
    }
    let client = common::client();
    common::until(
        "a normal request answered beside 1,100 silent sockets",
        || async {
            client
                .get(format!("http://{addr}/services"))
                .send()
                .await
                .is_ok_and(|answer| answer.status() == 200)
        },
    )
    .await;
    // Every silent socket was closed by the server: refused at once over the limit (with
    // a 503 and its reason), or closed when its time to speak ran out.
    let mut refused = 0;
    for mut socket in silent {
        let mut answer = Vec::new();
        tokio::time::timeout(common::PATIENCE, socket.read_to_end(&mut answer))
            .await
            .expect("a silent socket was held open")
            .ok();
        if !answer.is_empty() {
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with("HTTP/1.1 503"), "{text}");
            assert!(text.contains("too many connections"), "{text}");
            let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
            serde_json::from_str::<Value>(body).expect("the reason is JSON of its stated length");
            refused += 1;
        }
    }
    assert!(refused > 0, "none was refused over the limit");
}
