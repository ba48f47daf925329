//! HTTP-level tests of the log service: the original call, one message one record under
//! concurrency, durability across restarts, a torn tail, rotation, queries, live tail and
//! bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{SseReader, client};
use server::logs::{self, LogConfig, LogService, writer::Fsync};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wire::logs::LogRecord;

fn temp_log() -> PathBuf {
    common::temp_dir("logtest").join("distributed.log")
}

fn config(path: &Path) -> LogConfig {
    LogConfig {
        log_file: path.to_path_buf(),
        fsync: Fsync::Never,
        max_file_size: 64 << 20,
        keep_files: 4,
    }
}

/// A log service on an ephemeral port; stops (and releases its file) when dropped.
struct TestLog {
    url: String,
    stop: CancellationToken,
}

impl TestLog {
    async fn start(config: LogConfig) -> TestLog {
        let stop = CancellationToken::new();
        let service = LogService::start(&config, stop.clone()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/log", listener.local_addr().unwrap());
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, axum::Router::from(logs::router(service)))
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await
                .unwrap();
        });
        TestLog { url, stop }
    }

    async fn query(&self, params: &str) -> Vec<LogRecord> {
        let response = client()
            .get(format!("{}?{params}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

impl Drop for TestLog {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = client()
        .post(url)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_seed_request_stores_one_record() {
    let path = temp_log();
    let log = TestLog::start(config(&path)).await;
    // The seed README's curl, verbatim but for the address.
    let (status, body) = post(&log.url, "测试日志记录").await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, _) = post(&log.url, "[GradingService] - graded student 3").await;
    assert_eq!(status, 200);

    let records = log.query("").await;
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[0].service.as_str(), records[0].message.as_str()),
        ("GradingService", "graded student 3")
    );
    assert_eq!(
        (records[1].service.as_str(), records[1].message.as_str()),
        ("unknown", "测试日志记录")
    );
    assert!(
        records[0].time.ends_with('Z') && records[0].time.len() == "2026-01-01T00:00:00.000Z".len()
    );
    assert_eq!(file_lines(&path).len(), 2);
}

#[tokio::test]
async fn a_message_with_newlines_stays_one_record() {
    let path = temp_log();
    let log = TestLog::start(config(&path)).await;
    assert_eq!(
        post(&log.url, "first line\nsecond\tline\r\nthird\n")
            .await
            .0,
        200
    );
    assert_eq!(file_lines(&path).len(), 1);
    assert_eq!(
        log.query("").await[0].message,
        "first line\nsecond\tline\r\nthird"
    );
}

#[tokio::test]
async fn concurrent_writers_give_exactly_one_intact_record_each() {
    let path = temp_log();
    let log = TestLog::start(config(&path)).await;
    let client = client();
    let writers: Vec<_> = (0..32)
        .map(|writer| {
            let client = client.clone();
            let url = log.url.clone();
            tokio::spawn(async move {
                for n in 0..2000 {
                    let response = client
                        .post(&url)
                        .body(format!("[Writer{writer}] - message {n} of writer {writer}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let lines = file_lines(&path);
    assert_eq!(lines.len(), 64_000);
    let mut seen = std::collections::HashSet::new();
    for line in &lines {
        let record = logs::record::decode(line.as_bytes()).expect("every line is an intact record");
        assert!(record.message.starts_with("message "), "{record:?}");
        assert!(
            seen.insert((record.service, record.message)),
            "no record twice"
        );
    }
    assert_eq!(seen.len(), 64_000);
}

#[tokio::test]
async fn records_survive_a_restart_and_the_file_is_appended() {
    let path = temp_log();
    {
        let log = TestLog::start(config(&path)).await;
        assert_eq!(post(&log.url, "[A] - before").await.0, 200);
    }
    let log = TestLog::start(config(&path)).await;
    assert_eq!(post(&log.url, "[A] - after").await.0, 200);
    let messages: Vec<String> = log.query("").await.into_iter().map(|r| r.message).collect();
    assert_eq!(messages, ["after", "before"]);
}

#[tokio::test]
async fn a_torn_last_line_is_skipped_and_does_not_stop_the_service() {
    let path = temp_log();
    {
        let log = TestLog::start(config(&path)).await;
        assert_eq!(post(&log.url, "[A] - whole").await.0, 200);
    }
    // A crash in the middle of a write leaves half a record at the end.
    let mut whole = String::new();
    logs::record::encode(
        &LogRecord {
            time: "2026-01-01T00:00:00.000Z".into(),
            service: "A".into(),
            message: "cut short".into(),
        },
        &mut whole,
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, &whole.as_bytes()[..whole.len() - 15]).unwrap();
    drop(file);
    let size_before = std::fs::metadata(&path).unwrap().len();

    let log = TestLog::start(config(&path)).await;
    assert_eq!(log.query("").await.len(), 1, "the torn record is skipped");
    assert_eq!(post(&log.url, "[A] - later").await.0, 200);
    let messages: Vec<String> = log.query("").await.into_iter().map(|r| r.message).collect();
    assert_eq!(messages, ["later", "whole"]);
    assert!(
        std::fs::metadata(&path).unwrap().len() > size_before,
        "appended, never truncated"
    );
}

#[tokio::test]
async fn the_log_rotates_by_size_and_queries_span_the_files() {
    let path = temp_log();
    let log = TestLog::start(LogConfig {
        max_file_size: 1024,
        keep_files: 2,
        ..config(&path)
    })
    .await;
    for n in 0..60 {
        assert_eq!(
            post(&log.url, format!("[R] - record number {n:03}"))
                .await
                .0,
            200
        );
    }
    let rotated: Vec<PathBuf> = (1..=3)
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .collect();
    assert!(
        rotated[0].exists() && rotated[1].exists(),
        "two rotated files kept"
    );
    assert!(!rotated[2].exists(), "no more than two");
    let total: u64 = [&path, &rotated[0], &rotated[1]]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(total < 3 * 1024 + 200);

    let records = log.query("limit=1000").await;
    assert!(
        records.len() > 20 && records.len() < 60,
        "{}",
        records.len()
    );
    assert_eq!(records[0].message, "record number 059");
    let numbers: Vec<u32> = records
        .iter()
        .map(|r| r.message[14..].parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] == w[1] + 1),
        "newest first, no gaps across files"
    );
}

#[tokio::test]
async fn queries_filter_by_service_text_time_and_limit() {
    let path = temp_log();
    let log = TestLog::start(config(&path)).await;
    for (service, message) in [
        ("A", "Alpha one"),
        ("B", "beta two"),
        ("A", "alpha three"),
        ("B", "gamma"),
    ] {
        assert_eq!(
            post(&log.url, format!("[{service}] - {message}")).await.0,
            200
        );
    }
    let messages =
        |records: Vec<LogRecord>| records.into_iter().map(|r| r.message).collect::<Vec<_>>();
    assert_eq!(
        messages(log.query("service=A").await),
        ["alpha three", "Alpha one"]
    );
    assert_eq!(
        messages(log.query("text=ALPHA").await),
        ["alpha three", "Alpha one"]
    );
    assert_eq!(
        messages(log.query("service=B&text=two").await),
        ["beta two"]
    );
    assert_eq!(messages(log.query("limit=1").await), ["gamma"]);
    assert!(log.query("since=2099-01-01T00:00:00Z").await.is_empty());
    assert_eq!(log.query("since=2000-01-01T00:00:00Z").await.len(), 4);
    assert!(log.query("until=2000-01-01T00:00:00Z").await.is_empty());

    for bad in ["limit=0", "limit=20000", "limit=many", "since=yesterday"] {
        let response = client()
            .get(format!("{}?{bad}", log.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.text().await.unwrap().contains("error"), "{bad}");
    }
}

#[tokio::test]
async fn the_live_stream_delivers_records_written_after_it_opened() {
    let path = temp_log();
    let log = TestLog::start(config(&path)).await;
    assert_eq!(post(&log.url, "[A] - old").await.0, 200);
    let mut stream = SseReader::open(&client(), &format!("{}?service=A", log.url), None).await;
    assert_eq!(post(&log.url, "[B] - not for this stream").await.0, 200);
    assert_eq!(post(&log.url, "[A] - new").await.0, 200);
    let event = stream.next(common::PATIENCE).await;
    assert_eq!(event.name, "record");
    let record: LogRecord = serde_json::from_str(&event.data).unwrap();
    assert_eq!(
        (record.service.as_str(), record.message.as_str()),
        ("A", "new")
    );
}

#[tokio::test]
async fn the_batch_form_stores_each_line_as_a_record() {
    let path = temp_log();
    let log = TestLog::start(config(&path)).await;
    let body = "\"[Grading] - one\"\n\"[Grading] - two\\nlines\"\n\n\"three\"\n";
    let response = client()
        .post(&log.url)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let records = log.query("").await;
    let got: Vec<(String, String)> = records
        .into_iter()
        .map(|r| (r.service, r.message))
        .collect();
    assert_eq!(got.len(), 3);
    assert!(got.contains(&("Grading".into(), "two\nlines".into())));
    assert!(got.contains(&("unknown".into(), "three".into())));
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_reason_and_stores_nothing() {
    let path = temp_log();
    let log = TestLog::start(config(&path)).await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("text/plain", vec![], 400, "empty body"),
        ("text/plain", b"  \n".to_vec(), 400, "empty body"),
        (
            "text/plain",
            vec![b'x'; 64 * 1024 + 1],
            413,
            "at most 64 KiB",
        ),
        ("text/plain", vec![0xc3, 0x28], 400, "UTF-8"),
        (
            "application/x-ndjson",
            b"\"ok\"\nnot json\n".to_vec(),
            400,
            "line 2",
        ),
        (
            "application/x-ndjson",
            b"{\"a\":1}\n".to_vec(),
            400,
            "line 1",
        ),
        ("application/x-ndjson", b"\n\n".to_vec(), 400, "empty batch"),
        (
            "application/x-ndjson",
            format!("\"{}\"", "y".repeat(64 * 1024 + 1)).into_bytes(),
            413,
            "at most",
        ),
        ("text/plain", vec![b'z'; 17 * 1024 * 1024], 413, "too large"),
    ];
    for (content_type, body, status, reason) in cases {
        let response = client()
            .post(&log.url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{reason}");
        let text = response.text().await.unwrap();
        assert!(text.contains(reason), "expected {reason:?} in {text}");
    }
    let response = client().put(&log.url).body("x").send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET,HEAD,POST");
    assert!(log.query("").await.is_empty());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

/// A write that fails part-way (the file may grow no further, as on a full disk) is not
/// acknowledged, and leaves the file so that every later acknowledged record reads back.
/// The limit is the process's own file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so
/// the write fails with EFBIG), lifted again with `prlimit` while it runs.
#[tokio::test]
async fn a_write_that_fails_part_way_costs_no_later_record() {
    use std::process::{Command, Stdio};
    let dir = common::temp_dir("torn-write");
    let mut command = Command::new("bash");
    command
        .args(["-c", r#"trap '' XFSZ; ulimit -S -f 16; exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_logservice"))
        .args(["--addr", "127.0.0.1:0", "--log-file", "torn.log"])
        .args(["--registry-url", "http://127.0.0.1:9"])
        .current_dir(&dir)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let log = common::Process::spawn(command);
    let url = format!("{}/log", log.url);
    let padding = "p".repeat(900);

    // Records of about 1 KiB until one cannot be written: 16 KiB fit.
    let mut acknowledged = Vec::new();
    let refused = loop {
        let message = format!("record {} {padding}", acknowledged.len());
        let (status, body) = post(&url, format!("[T] - {message}")).await;
        if status != 200 {
            break (status, body, message);
        }
        acknowledged.push(message);
        assert!(
            acknowledged.len() < 64,
            "the file limit never stopped a write"
        );
    };
    assert_eq!(refused.0, 503, "{}", refused.1);
    assert!(refused.1.contains("could not be written"), "{}", refused.1);
    assert!(acknowledged.len() >= 10, "{} written", acknowledged.len());

    // Room again: every record from now on is written and reads back, and so does every
    // one before the failure.
    let lifted = Command::new("prlimit")
        .args(["--pid", &log.child.pid().to_string(), "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(lifted.success());
    for n in 0..5 {
        let message = format!("after {n}");
        assert_eq!(post(&url, format!("[T] - {message}")).await.0, 200);
        acknowledged.push(message);
    }
    let records: Vec<LogRecord> = client()
        .get(format!("{url}?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Compared by their first two words: "record 3", "after 0".
    let short = |message: &str| message.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let mut stored: Vec<String> = records.iter().map(|r| short(&r.message)).collect();
    stored.reverse();
    let acknowledged: Vec<String> = acknowledged.iter().map(|m| short(m)).collect();
    assert_eq!(
        stored, acknowledged,
        "the refused record is not stored either"
    );
    let text = std::fs::read_to_string(dir.join("torn.log")).unwrap();
    for line in text.lines() {
        assert!(
            logs::record::decode(line.as_bytes()).is_some(),
            "a torn line was left: {line:.80}"
        );
    }
}

/// An answer to a query holds at most 16 MiB of JSON, however many large records match
/// (10,000 of 64 KiB would be 640 MB for any reader): it stops there, newest first, and
/// says so in `Log-Truncated`. An answer that fits says nothing.
#[tokio::test]
async fn a_query_answer_is_capped_in_bytes_and_says_so() {
    let log = TestLog::start(config(&temp_log())).await;
    let message = |i: usize| format!("[Big] - {i:04} {}", "x".repeat(60_000));
    for i in 0..300 {
        assert_eq!(post(&log.url, message(i)).await.0, 200);
    }
    let response = client()
        .get(format!("{}?limit=10000", log.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let said = response.headers()[server::logs::http::TRUNCATED_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(said.contains("16 MiB") && said.contains("until="), "{said}");
    let body = response.bytes().await.unwrap();
    assert!(
        body.len() <= server::logs::query::MAX_ANSWER_BYTES,
        "{}",
        body.len()
    );
    let records: Vec<LogRecord> = serde_json::from_slice(&body).unwrap();
    assert!((250..300).contains(&records.len()), "{}", records.len());
    assert!(records[0].message.starts_with("0299 "), "newest first");

    let response = client()
        .get(format!("{}?limit=100", log.url))
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key(server::logs::http::TRUNCATED_HEADER)
    );
    assert_eq!(response.json::<Vec<LogRecord>>().await.unwrap().len(), 100);
}
