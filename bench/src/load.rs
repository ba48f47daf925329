//! Load tools shared by the figures: sequential timed GETs, closed-loop clients, and a
//! bare handler serving a copy of an answer (the baseline of several figures).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use testkit::Child;

use crate::procs::{self, temp_dir, wait_up};

/// `count` sequential `GET url`s, each one's time (to the last byte of the answer) added
/// to `times`; the size of the last answer.
pub(crate) async fn timed_gets(
    client: &reqwest::Client,
    url: &str,
    count: usize,
    times: &mut Vec<Duration>,
) -> usize {
    let mut bytes = 0;
    for _ in 0..count {
        let started = Instant::now();
        let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
        times.push(started.elapsed());
        bytes = body.len();
    }
    bytes
}

/// A bare handler answering every GET with the bytes `url` answers now, as `mime`: the
/// process, its base URL (once it answers) and the bytes.
pub(crate) async fn bare_copy(url: &str, mime: &str) -> (Child, String, axum::body::Bytes) {
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let file = temp_dir("bare").join("body");
    std::fs::write(&file, &body).unwrap();
    let process = procs::start(
        "bench",
        &[
            "bare".into(),
            "--body".into(),
            file.display().to_string(),
            "--type".into(),
            mime.into(),
        ],
    );
    let base = process.url();
    wait_up(&base).await;
    (process, base, body)
}

/// `clients` clients at once, each sending `request(client, n)` for its n-th request and
/// waiting for the answer, again and again for `length`: requests answered per second,
/// and how many.
pub(crate) async fn closed_loop<F, Fut>(clients: usize, length: Duration, request: F) -> (f64, u64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    request(client, done).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    (total as f64 / started.elapsed().as_secs_f64(), total)
}
