//! The grading service: what a grade's durability costs on SQLite, and the two stores
//! side by side (grade additions/s, `GET /students` with 1,000 students). PostgreSQL is
//! Debian's, a throwaway server on a free port and temp dir (`testkit`), with its default
//! durability (`fsync` and `synchronous_commit` on), as SQLite's `full` is.

use std::time::Duration;

use futures::StreamExt;
use testkit::Postgres;

use crate::{
    figure::{Figure, ms, percent, percentile, times_str},
    load::{closed_loop, timed_gets},
    procs::{self, ANY_PORT, temp_dir, wait_up},
};
use testkit::Child;

pub async fn figures() -> Vec<Figure> {
    let postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let figures = vec![
        durability().await,
        additions_by_store(&postgres).await,
        listing_by_store(&postgres).await,
    ];
    tokio::task::spawn_blocking(move || drop(postgres))
        .await
        .unwrap();
    figures
}

/// A standalone `gradingservice` on a port it picks; its base URL, once it answers.
async fn grading(database: &str, extra: &[&str]) -> (Child, String) {
    let mut args = vec![
        ANY_PORT[0].to_owned(),
        ANY_PORT[1].to_owned(),
        "--database".to_owned(),
        database.to_owned(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let process = procs::start("gradingservice", &args);
    let base = process.url();
    wait_up(&format!("{base}/students")).await;
    (process, base)
}

/// A new database of the kind named: a SQLite file, or a database on `postgres`.
fn database(kind: &str, postgres: &Postgres) -> String {
    match kind {
        "PostgreSQL" => postgres.create_database(),
        _ => {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            temp_dir(&format!("grades-{n}"))
                .join("g.db")
                .display()
                .to_string()
        }
    }
}

/// Grade additions/s at `base`: 16 clients posting for 5 s, each waiting for its answer.
async fn additions(base: &str) -> f64 {
    let client = reqwest::Client::new();
    let base = base.to_owned();
    let (rate, _) = closed_loop(16, Duration::from_secs(5), move |task, done| {
        let request = client
            .post(format!("{base}/students/{}/grades", 1 + task % 5))
            .body(format!(
                r#"{{"Title":"Bench {task} {done}","Type":"Quiz","Score":80}}"#
            ))
            .send();
        async move {
            assert_eq!(request.await.unwrap().status(), 201);
        }
    })
    .await;
    rate
}

/// The mean of the figures measured under `which`.
fn mean(measured: &[(&str, f64)], which: &str) -> f64 {
    let picked: Vec<f64> = measured
        .iter()
        .filter(|(name, _)| *name == which)
        .map(|(_, value)| *value)
        .collect();
    picked.iter().sum::<f64>() / picked.len() as f64
}

/// Grade additions/s on SQLite with the default `--database-sync full` (every commit
/// synced) beside `normal`, each on a fresh database, interleaved.
async fn durability() -> Figure {
    eprintln!("bench: grade additions, SQLite durability …");
    let mut rates = Vec::new();
    for sync in ["normal", "full", "normal", "full"] {
        let db = temp_dir(&format!("grades-{sync}")).join("g.db");
        let (_grading, base) = grading(&db.display().to_string(), &["--database-sync", sync]).await;
        rates.push((sync, additions(&base).await));
    }
    let (full, normal) = (mean(&rates, "full"), mean(&rates, "normal"));
    Figure {
        name: "grade additions/s",
        how: "POST /students/{id}/grades, gradingservice on SQLite, 16 clients, 2×5 s interleaved"
            .into(),
        baseline: format!(
            "the same with --database-sync normal (not durable at commit): {normal:.0}/s"
        ),
        measured: format!("{full:.0}/s with --database-sync full (the default)"),
        ratio: percent(full / normal),
        target: "report (what a grade's durability costs)".into(),
        holds: None,
    }
}

/// Grade additions/s on SQLite (`full`) beside PostgreSQL, each on a fresh database,
/// interleaved.
async fn additions_by_store(postgres: &Postgres) -> Figure {
    eprintln!("bench: grade additions, SQLite vs PostgreSQL …");
    let mut rates = Vec::new();
    for store in ["SQLite", "PostgreSQL", "SQLite", "PostgreSQL"] {
        let (_grading, base) = grading(&database(store, postgres), &[]).await;
        rates.push((store, additions(&base).await));
    }
    let (sqlite, pg) = (mean(&rates, "SQLite"), mean(&rates, "PostgreSQL"));
    Figure {
        name: "grade additions/s by store",
        how: "POST /students/{id}/grades, one gradingservice, 16 clients, 2×5 s interleaved, \
              each store durable at commit"
            .into(),
        baseline: format!("SQLite (the default store): {sqlite:.0}/s"),
        measured: format!("PostgreSQL {pg:.0}/s"),
        ratio: percent(pg / sqlite),
        target: "report (side by side)".into(),
        holds: None,
    }
}

/// `GET /students` with 1,000 students (2 grades each, 3 for the seed's) on each store:
/// 2 rounds of 100 sequential requests each, interleaved.
async fn listing_by_store(postgres: &Postgres) -> Figure {
    eprintln!("bench: GET /students, SQLite vs PostgreSQL …");
    let client = reqwest::Client::new();
    let mut services = Vec::new();
    for store in ["SQLite", "PostgreSQL"] {
        let (process, base) = grading(&database(store, postgres), &[]).await;
        populate(&client, &base, 1000).await;
        services.push((store, process, base));
    }
    let mut times: Vec<(&str, Vec<Duration>)> = vec![("SQLite", vec![]), ("PostgreSQL", vec![])];
    let mut bytes = 0;
    for _round in 0..2 {
        for ((_, _, base), (_, times)) in services.iter().zip(times.iter_mut()) {
            bytes = timed_gets(&client, &format!("{base}/students"), 100, times).await;
        }
    }
    let mut said = Vec::new();
    let mut p99s = Vec::new();
    for (store, times) in &mut times {
        times.sort();
        p99s.push(percentile(times, 0.99).as_secs_f64());
        said.push(format!(
            "{store} p50 {} p99 {}",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99))
        ));
    }
    Figure {
        name: "grading, GET /students by store",
        how: format!(
            "1,000 students ({bytes} bytes of JSON), 2×100 sequential requests interleaved; \
             SQLite answers from the store's cache (one writer), PostgreSQL reads the \
             database every time (several writers)"
        ),
        baseline: said[0].clone(),
        measured: said[1].clone(),
        ratio: format!("p99 {}", times_str(p99s[1] / p99s[0])),
        target: "report (side by side)".into(),
        holds: None,
    }
}

/// Adds students to the grading API at `base` (the service's own, or the all-in-one's
/// `/grading`) until it has `total` (the seed's five among them), each with two grades.
pub async fn populate(client: &reqwest::Client, base: &str, total: usize) {
    futures::stream::iter(0..total.saturating_sub(5))
        .map(|i| {
            let (client, base) = (client.clone(), base.to_owned());
            async move {
                let student: serde_json::Value = client
                    .post(format!("{base}/students"))
                    .body(format!(
                        r#"{{"FirstName":"First{i}","LastName":"Last{i}"}}"#
                    ))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = student["ID"].as_i64().unwrap();
                for (title, score) in [("Quiz 1", 70 + i % 30), ("Final Exam", 60 + i % 40)] {
                    let response = client
                        .post(format!("{base}/students/{id}/grades"))
                        .body(format!(
                            r#"{{"Title":"{title}","Type":"Quiz","Score":{score}}}"#
                        ))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}
