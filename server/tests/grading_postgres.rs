//! Several `gradingservice` processes on one PostgreSQL database (a throwaway server of
//! the tests' own, see `testkit`): one truth through every instance, seeding once,
//! a database that goes away and comes back, a slow database, and a `--database` that
//! names neither store.

mod common;

use std::{
    collections::{HashMap, HashSet},
    process::{Command, Stdio},
    time::Duration,
};

use common::{Process, client, until};
use futures::StreamExt;
use testkit::Postgres;
use wire::grading::{Grade, Student};

/// The request deadline the tests hold the service to: no answer may take longer.
const DEADLINE: Duration = Duration::from_secs(30);

/// A `gradingservice` on a free port keeping its grades in `database`, with `extra`
/// flags; registered with `registry`.
fn grading(registry: &Process, database: &str, extra: &[&str]) -> Process {
    let dir = common::temp_dir("grading-pg");
    let mut args = vec![
        "--addr",
        "127.0.0.1:0",
        "--registry-url",
        &registry.url,
        "--database",
        database,
    ];
    args.extend_from_slice(extra);
    Process::start(env!("CARGO_BIN_EXE_gradingservice"), &args, &dir)
}

fn registry() -> Process {
    Process::registry(&common::temp_dir("grading-pg-registry"))
}

async fn students(base: &str) -> Vec<Student> {
    common::get_json(format!("{base}/students")).await
}

/// Posts a grade; the status and the answer's body.
async fn post_grade(base: &str, student: i64, title: &str, score: f64) -> (u16, String) {
    let response = reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .unwrap()
        .post(format!("{base}/students/{student}/grades"))
        .json(&serde_json::json!({"Title": title, "Type": "Test", "Score": score}))
        .send()
        .await
        .unwrap_or_else(|err| panic!("no answer within the deadline: {err}"));
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn two_instances_share_every_grade_exactly_once() {
    let database = Postgres::shared().create_database();
    let registry = registry();
    let instances = [
        grading(&registry, &database, &[]),
        grading(&registry, &database, &[]),
    ];
    let bases: Vec<String> = instances.iter().map(|p| p.url.clone()).collect();

    // 1,000 additions, alternating between the instances, 64 in flight at a time.
    let answered: Vec<(String, Grade)> = futures::stream::iter(0..1000)
        .map(|n| {
            let base = bases[n % 2].clone();
            async move {
                let title = format!("Shared {n}");
                let (status, body) =
                    post_grade(&base, (n % 5 + 1) as i64, &title, (n % 101) as f64).await;
                assert_eq!(status, 201, "{title}: {body}");
                (title, serde_json::from_str::<Grade>(&body).unwrap())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let answered_ids: HashSet<i64> = answered.iter().map(|(_, grade)| grade.id).collect();
    assert_eq!(
        answered_ids.len(),
        1000,
        "every addition got an id of its own"
    );

    let through_first = students(&bases[0]).await;
    let through_second = students(&bases[1]).await;
    assert_eq!(
        through_first, through_second,
        "one truth through either instance"
    );
    let mut titles: HashMap<&str, usize> = HashMap::new();
    for grade in through_first.iter().flat_map(|s| &s.grades) {
        *titles.entry(grade.title.as_str()).or_default() += 1;
    }
    for (title, grade) in &answered {
        assert_eq!(titles.get(title.as_str()), Some(&1), "{title} listed once");
        let listed = through_first
            .iter()
            .flat_map(|s| &s.grades)
            .find(|g| g.id == grade.id);
        assert_eq!(
            listed.map(|g| &g.title),
            Some(title),
            "the id answered is the id stored"
        );
    }
    assert_eq!(titles.values().sum::<usize>(), 15 + 1000);

    // A write through one instance is read through the other at once: nothing kept
    // from before it.
    assert_eq!(
        post_grade(&bases[1], 3, "Written through the second", 64.0)
            .await
            .0,
        201
    );
    let emma = &students(&bases[0]).await[2];
    assert_eq!(
        emma.grades.last().unwrap().title,
        "Written through the second"
    );
    for student in &through_first {
        let scores: Vec<f64> = student.grades.iter().map(|g| g.score).collect();
        let recomputed = scores.iter().sum::<f64>() / scores.len() as f64;
        let average = student.average.unwrap();
        assert!(
            (average - recomputed).abs() < 1e-9,
            "student {}: average {average}, recomputed {recomputed}",
            student.id
        );
    }
}

#[tokio::test]
async fn instances_started_at_once_on_an_empty_database_seed_it_once() {
    let postgres = Postgres::shared();
    let database = postgres.create_database();
    let registry = registry();
    let instances: Vec<Process> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| grading(&registry, &database, &[])))
            .collect();
        starting.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for instance in &instances {
        let students = students(&instance.url).await;
        let names: Vec<&str> = students.iter().map(|s| s.last_name.as_str()).collect();
        assert_eq!(names, ["Carter", "Baggio", "Stone", "McAdams", "Clarkson"]);
        assert_eq!(students.iter().map(|s| s.grades.len()).sum::<usize>(), 15);
    }
    let name = database.rsplit('/').next().unwrap();
    assert_eq!(
        postgres.sql(name, "SELECT count(*) FROM students"),
        "5",
        "five students in the database itself"
    );
    // A student added now gets the next id, not one of the seed's.
    let response = client()
        .post(format!("{}/students", instances[2].url))
        .body(r#"{"FirstName":"Ada","LastName":"Lovelace"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Student>().await.unwrap().id, 6);
}

#[tokio::test]
async fn a_database_that_goes_away_answers_503_and_recovers_without_a_restart() {
    let mut postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let database = postgres.create_database();
    let registry = registry();
    let service = grading(
        &registry,
        &database,
        &["--database-statement-timeout", "2s"],
    );
    let base = service.url.clone();
    assert_eq!(post_grade(&base, 1, "Before", 70.0).await.0, 201);

    let mut postgres = tokio::task::spawn_blocking(move || {
        postgres.stop();
        postgres
    })
    .await
    .unwrap();
    let (status, body) = post_grade(&base, 1, "During", 71.0).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the grade database is unavailable"), "{body}");
    let answer = client()
        .get(format!("{base}/students"))
        .timeout(DEADLINE)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let health: serde_json::Value = client()
        .get(format!("{base}/healthz"))
        .timeout(DEADLINE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let check = health["checks"]["grading database"].as_str().unwrap();
    assert!(
        check.contains("PostgreSQL") && check.contains("does not answer"),
        "{health}"
    );

    let postgres = tokio::task::spawn_blocking(move || {
        postgres.resume();
        postgres
    })
    .await
    .unwrap();
    until("/healthz to answer 200 again", || {
        let request = client().get(format!("{base}/healthz")).send();
        async move { request.await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert_eq!(post_grade(&base, 1, "After", 72.0).await.0, 201);
    let titles: Vec<String> = students(&base).await[0]
        .grades
        .iter()
        .map(|g| g.title.clone())
        .collect();
    assert_eq!(
        titles,
        ["Quiz 1", "Final Exam", "Quiz 2", "Before", "After"]
    );
    drop(service);
    drop(postgres);
}

#[tokio::test]
async fn a_slow_database_delays_answers_but_never_exhausts_the_service() {
    let database = Postgres::shared().create_database();
    let registry = registry();
    let service = grading(
        &registry,
        &database,
        &[
            "--database-max-connections",
            "2",
            "--database-statement-timeout",
            "1s",
        ],
    );
    let base = service.url.clone();
    // Another client holds the grades table: every statement on it waits.
    use sqlx::{Connection, Executor};
    let mut holder = sqlx::PgConnection::connect(&database).await.unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("LOCK TABLE grades IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    // Many more requests than connections: each one is answered, 503 with a reason.
    let answers: Vec<(u16, String)> = futures::stream::iter(0..24)
        .map(|n| {
            let base = base.clone();
            async move { post_grade(&base, 1, &format!("Slow {n}"), 50.0).await }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        assert!(body.contains("the grade database is unavailable"), "{body}");
        assert!(
            !body.contains("statement timeout"),
            "the driver's text leaked: {body}"
        );
    }

    holder.execute("ROLLBACK").await.unwrap();
    assert_eq!(post_grade(&base, 1, "Fast again", 90.0).await.0, 201);
    let listed = students(&base).await;
    let titles: Vec<&str> = listed[0].grades.iter().map(|g| g.title.as_str()).collect();
    assert_eq!(titles, ["Quiz 1", "Final Exam", "Quiz 2", "Fast again"]);
}

#[test]
fn a_database_that_is_neither_store_is_refused_with_what_is_accepted() {
    let dir = common::temp_dir("grading-bad-database");
    for (value, says) in [
        ("postgres:", "names no server"),
        (
            "mysql://root@db/grades",
            "mysql: databases are not supported",
        ),
        ("sqlite::memory:", "names no file"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_gradingservice"))
            .args(["--addr", "127.0.0.1:0", "--database", value])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {stderr}");
        assert!(stderr.contains(says), "{value}: {stderr}");
        assert!(stderr.contains("postgres://"), "{value}: {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was created in the working directory"
    );
}
