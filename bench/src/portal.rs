//! The portal's figures (`portal`): the grade book's server render, and the WASM size.

use std::{
    io::Write as _,
    time::{Duration, Instant},
};

use crate::{
    figure::{Figure, ms, no_baseline, percentile, times_str},
    load::{bare_copy, timed_gets},
    procs::{self, ANY_PORT, temp_dir, wait_up},
};

/// The portal: server render of /students with 1,000 students; the release WASM size.
pub(crate) async fn portal() -> Vec<Figure> {
    eprintln!("bench: portal …");
    let dir = temp_dir("portal");
    let server = procs::start(
        "server",
        &[
            ANY_PORT[0].into(),
            ANY_PORT[1].into(),
            "--log-file".into(),
            dir.join("p.log").display().to_string(),
            "--database".into(),
            dir.join("p.db").display().to_string(),
            "--history-dir".into(),
            dir.join("history").display().to_string(),
        ],
    );
    let base = server.url();
    wait_up(&format!("{base}/services")).await;
    let client = reqwest::Client::new();
    crate::grading::populate(&client, &format!("{base}/grading"), 1000).await;
    // The portal finds the grading service through the registry: wait until it has.
    let started = Instant::now();
    loop {
        let html = client
            .get(format!("{base}/students"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The Grade Book shows 50 a page and says how many there are.
        if html.contains("Students 1–50 of 1000") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the portal never listed the students"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same bytes as a static file, from a bare handler.
    let (_static, static_url, _) =
        bare_copy(&format!("{base}/students"), "text/html; charset=utf-8").await;
    let static_url = format!("{static_url}/students");
    let (mut times, mut static_times) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..5 {
        timed_gets(&client, &static_url, 100, &mut static_times).await;
        bytes = timed_gets(&client, &format!("{base}/students"), 100, &mut times).await;
    }
    times.sort();
    static_times.sort();
    let (p99, static_p99) = (percentile(&times, 0.99), percentile(&static_times, 0.99));
    let ratio = p99.as_secs_f64() / static_p99.as_secs_f64();
    let render = Figure {
        name: "portal, GET /students",
        how: format!(
            "1,000 students (the first 50 shown), server render ({bytes} bytes) through the grading service, 5×100 sequential requests interleaved with the baseline's"
        ),
        baseline: format!(
            "the same bytes as a static file from a bare handler: p50 {} p99 {}",
            ms(percentile(&static_times, 0.5)),
            ms(static_p99)
        ),
        measured: format!("p50 {} p99 {}", ms(percentile(&times, 0.5)), ms(p99)),
        ratio: format!("p99 {}", times_str(ratio)),
        // The page asks the grading service one question: the class's bands (counted in
        // SQL, kept until the next write) with the page it shows, never all 1,000
        // students.
        target: "p99 ≤ 5× the static file".into(),
        holds: Some(ratio <= 5.0),
    };
    let wasm_path = std::path::Path::new("target/site/pkg/distributed.wasm");
    let wasm = std::fs::read(wasm_path).unwrap_or_default();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&wasm).unwrap();
    let gzipped = encoder.finish().unwrap().len();
    let size = Figure {
        name: "portal, release WASM",
        how: "target/site/pkg/distributed.wasm, gzip -9: the islands only (the islands router keeps navigation client-side)".into(),
        baseline: no_baseline("a size; the target is the budget"),
        measured: format!(
            "{:.0} KB raw, {:.0} KB gzipped",
            wasm.len() as f64 / 1000.0,
            gzipped as f64 / 1000.0
        ),
        ratio: "—".into(),
        target: "≤ 250 KB gzipped".into(),
        holds: Some(!wasm.is_empty() && gzipped <= 250_000),
    };
    vec![render, size]
}
