//! HTTP-level tests of the grading service: the original API and seed data, the
//! additions, concurrency, restarts and every validation rule, each run on both stores
//! (a SQLite file, and a database of its own on a throwaway PostgreSQL); and, with the
//! real binaries, that each change is logged through the log service.

mod common;

use std::path::PathBuf;

use common::client;
use server::grading::{self, Database, GradingConfig, GradingService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wire::{
    grading::{ClassSummary, Student, StudentOrder},
    logs::LogRecord,
};

fn temp_db() -> PathBuf {
    common::temp_dir("grades").join("grades.db")
}

/// Where a test's grades are kept.
#[derive(Debug, Clone, Copy)]
enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    /// A new, empty database of this kind.
    fn new_database(self) -> Database {
        match self {
            Store::Sqlite => Database::Sqlite(temp_db()),
            Store::Postgres => Database::Postgres(testkit::Postgres::shared().create_database()),
        }
    }
}

/// Runs each named test (an `async fn(Store)`) once on each store: `sqlite::name` and
/// `postgres::name`.
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::Store::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::Store::Postgres).await
            })*
        }
    };
}

on_both_stores!(
    the_original_api_serves_the_seed_students,
    a_posted_grade_is_stored_and_answered_with_201,
    students_can_be_added_and_grades_deleted,
    concurrent_grade_posts_lose_nothing_and_survive_a_restart,
    the_list_of_students_follows_every_kind_of_write,
    the_seed_data_appears_once_however_often_it_restarts,
    every_validation_rule_has_a_failing_case_and_nothing_is_stored,
    a_deleted_students_or_grades_id_is_never_given_again,
    an_addition_sent_again_with_its_key_is_stored_once,
    a_page_of_students_is_searched_sorted_and_counted_by_the_database,
    every_change_is_told_on_the_event_stream_and_the_stream_ends_at_shutdown,
);

/// A grading service on an ephemeral port.
struct TestGrading {
    url: String,
    stop: CancellationToken,
}

impl TestGrading {
    async fn start(database: &Database) -> TestGrading {
        let stop = CancellationToken::new();
        let service = GradingService::start(&GradingConfig::on(database.clone()), stop.clone())
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, axum::Router::from(grading::router(service)))
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await
                .unwrap();
        });
        TestGrading { url, stop }
    }

    async fn students(&self) -> Vec<Student> {
        client()
            .get(format!("{}/students", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post_student(&self, body: &str) -> reqwest::Response {
        client()
            .post(format!("{}/students", self.url))
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn post_grade(&self, student: &str, body: &str) -> (u16, String) {
        let response = client()
            .post(format!("{}/students/{student}/grades", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

impl Drop for TestGrading {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn grade_count(students: &[Student]) -> usize {
    students.iter().map(|s| s.grades.len()).sum()
}

async fn the_original_api_serves_the_seed_students(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    let raw: serde_json::Value = common::get_json(format!("{}/students", grading.url)).await;
    let first = &raw[0];
    assert_eq!(first["ID"], 1);
    assert_eq!(first["FirstName"], "Nick");
    assert_eq!(first["LastName"], "Carter");
    assert_eq!(first["Grades"][0]["Title"], "Quiz 1");
    assert_eq!(first["Grades"][0]["Type"], "Quiz");
    assert_eq!(first["Grades"][0]["Score"], 85.0);
    assert_eq!(first["Average"], 87.0);

    let students = grading.students().await;
    let names: Vec<String> = students
        .iter()
        .map(|s| format!("{} {}", s.first_name, s.last_name))
        .collect();
    assert_eq!(
        names,
        [
            "Nick Carter",
            "Roberto Baggio",
            "Emma Stone",
            "Rachel McAdams",
            "Kelly Clarkson"
        ]
    );
    let scores: Vec<Vec<f64>> = students
        .iter()
        .map(|s| s.grades.iter().map(|g| g.score).collect())
        .collect();
    assert_eq!(
        scores,
        [
            [85.0, 94.0, 82.0],
            [100.0, 100.0, 81.0],
            [67.0, 0.0, 75.0],
            [98.0, 99.0, 94.0],
            [95.0, 100.0, 97.0]
        ]
    );
    assert!(
        students
            .iter()
            .all(|s| s.grades.iter().map(|g| g.title.as_str()).eq([
                "Quiz 1",
                "Final Exam",
                "Quiz 2"
            ]))
    );

    let one: Student = common::get_json(format!("{}/students/3", grading.url)).await;
    assert_eq!(one.last_name, "Stone");
    for missing in ["99", "abc", "-1", "1.5"] {
        let response = client()
            .get(format!("{}/students/{missing}", grading.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{missing}");
        assert!(response.text().await.unwrap().contains("no student"));
    }
}

async fn a_posted_grade_is_stored_and_answered_with_201(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    let (status, body) = grading
        .post_grade(
            "1",
            r#"{"Title":"Quiz 3","Type":"Quiz","Score":90,"Added":"1999-01-01T00:00:00Z"}"#,
        )
        .await;
    assert_eq!(status, 201);
    let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
    // When it was stored, by the service's clock (a client's `Added` is ignored), the
    // same in the answer and in every later read; the seed's grades have none.
    let added = stored["Added"].as_str().unwrap().to_owned();
    let at = humantime::parse_rfc3339(&added).unwrap();
    let age = std::time::SystemTime::now()
        .duration_since(at)
        .unwrap_or_default();
    assert!(age < std::time::Duration::from_secs(600), "{added}");
    let read = grading.students().await;
    assert_eq!(
        read[0].grades.last().unwrap().added.as_deref(),
        Some(added.as_str())
    );
    assert_eq!(read[0].grades[0].added, None);
    assert_eq!(
        (
            stored["Title"].as_str(),
            stored["Type"].as_str(),
            stored["Score"].as_f64()
        ),
        (Some("Quiz 3"), Some("Quiz"), Some(90.0))
    );
    assert!(stored["ID"].as_i64().unwrap() > 0);
    let nick = &read[0];
    assert_eq!(nick.grades.len(), 4);
    assert_eq!(nick.average, Some((85.0 + 94.0 + 82.0 + 90.0) / 4.0));

    let (status, body) = grading
        .post_grade("42", r#"{"Title":"Quiz 3","Type":"Quiz","Score":90}"#)
        .await;
    assert_eq!(status, 404, "{body}");
}

async fn students_can_be_added_and_grades_deleted(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    let response = grading
        .post_student(r#"{"FirstName":"Ada","LastName":"Lovelace"}"#)
        .await;
    assert_eq!(response.status(), 201);
    let ada: Student = response.json().await.unwrap();
    assert_eq!((ada.id, ada.average, ada.grades.len()), (6, None, 0));

    let (status, body) = grading
        .post_grade("6", r#"{"Title":"Essay","Type":"Homework","Score":77.5}"#)
        .await;
    assert_eq!(status, 201);
    let grade_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["ID"]
        .as_i64()
        .unwrap();
    let delete = |student: i64, grade: i64| {
        let url = format!("{}/students/{student}/grades/{grade}", grading.url);
        async move { client().delete(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        delete(1, grade_id).await,
        404,
        "the grade belongs to another student"
    );
    assert_eq!(delete(6, grade_id).await, 204);
    assert_eq!(delete(6, grade_id).await, 404);
    assert!(grading.students().await[5].grades.is_empty());
}

/// A stale link or form must never act on someone else: once the newest student or
/// grade is deleted, the next one added gets a new id, also after a restart.
async fn a_deleted_students_or_grades_id_is_never_given_again(store: Store) {
    let database = store.new_database();
    let add_student = |url: String| async move {
        let response = client()
            .post(format!("{url}/students"))
            .body(r#"{"FirstName":"Ada","LastName":"Lovelace"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Student>().await.unwrap().id
    };
    let delete = |url: String| async move {
        let status = client().delete(url).send().await.unwrap().status();
        assert_eq!(status, 204);
    };
    let grade = r#"{"Title":"Essay","Type":"Homework","Score":77.5}"#;
    let grade_id = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body).unwrap()["ID"]
            .as_i64()
            .unwrap()
    };

    let grading = TestGrading::start(&database).await;
    let first = add_student(grading.url.clone()).await;
    delete(format!("{}/students/{first}", grading.url)).await;
    let second = add_student(grading.url.clone()).await;
    assert!(
        second > first,
        "student {first} deleted, then {second} added"
    );
    let (_, body) = grading.post_grade(&second.to_string(), grade).await;
    let first_grade = grade_id(&body);
    delete(format!(
        "{}/students/{second}/grades/{first_grade}",
        grading.url
    ))
    .await;
    let (_, body) = grading.post_grade(&second.to_string(), grade).await;
    let second_grade = grade_id(&body);
    assert!(
        second_grade > first_grade,
        "{first_grade} then {second_grade}"
    );
    // The newest of each deleted, then a restart.
    delete(format!("{}/students/{second}", grading.url)).await;
    drop(grading);
    let grading = TestGrading::start(&database).await;
    let third = add_student(grading.url.clone()).await;
    assert!(third > second, "{second} then, after a restart, {third}");
    let (_, body) = grading.post_grade(&third.to_string(), grade).await;
    assert!(grade_id(&body) > second_grade);
    // The original's students and grades are all still there, with their ids.
    let students = grading.students().await;
    assert_eq!(
        students.iter().map(|s| s.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, third]
    );
    assert_eq!(grade_count(&students[..5]), 15);
}

/// A SQLite database made before ids stopped being reused (the first two migrations, and
/// a row added since) keeps every row, with its id, when the grading service opens it;
/// from then on no id is given twice.
#[tokio::test]
async fn an_older_sqlite_database_keeps_every_row_when_ids_stop_being_reused() {
    use sqlx::{Connection, migrate::Migrator, sqlite::SqliteConnectOptions};
    let path = temp_db();
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(true);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let every: Migrator = sqlx::migrate!("./migrations/sqlite");
    let older = Migrator {
        migrations: every
            .migrations
            .iter()
            .filter(|migration| migration.version < 20261204000003)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        ..every
    };
    assert_eq!(older.migrations.len(), 2);
    older.run(&mut connection).await.unwrap();
    for statement in [
        "INSERT INTO students (first_name, last_name) VALUES ('Old', 'Row')",
        "INSERT INTO grades (student_id, title, type, score) VALUES (6, 'Kept', 'Quiz', 50)",
    ] {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    connection.close().await.unwrap();

    let grading = TestGrading::start(&Database::Sqlite(path)).await;
    let students = grading.students().await;
    assert_eq!(students.len(), 6);
    assert_eq!(grade_count(&students), 16);
    let old = &students[5];
    assert_eq!((old.id, old.first_name.as_str()), (6, "Old"));
    assert_eq!(
        (old.grades[0].id, old.grades[0].title.as_str()),
        (16, "Kept")
    );
    let deleted = client()
        .delete(format!("{}/students/6", grading.url))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let added: Student = grading
        .post_student(r#"{"FirstName":"New","LastName":"Row"}"#)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(added.id, 7, "student 6's id was given again");
}

/// An addition sent again with its `Idempotency-Key` (a retry, maybe to another
/// instance) stores nothing and gets the first answer; the key sent with anything else
/// is refused with 422; a malformed key with 400. Also when the repeats race.
async fn an_addition_sent_again_with_its_key_is_stored_once(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    let post = |path: &str, key: &str, body: &str| {
        client()
            .post(format!("{}{path}", grading.url))
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let grade = r#"{"Title":"Retried","Type":"Quiz","Score":70}"#;
    let answers =
        futures::future::join_all((0..4).map(|_| post("/students/2/grades", "grade-key-1", grade)))
            .await;
    let mut ids = Vec::new();
    let mut replayed = 0;
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 201);
        replayed += usize::from(answer.headers().contains_key("idempotent-replayed"));
        let body: serde_json::Value = answer.json().await.unwrap();
        ids.push(body["ID"].as_i64().unwrap());
    }
    assert_eq!(replayed, 3, "one stored, three repeats");
    assert!(ids.windows(2).all(|pair| pair[0] == pair[1]), "{ids:?}");
    let titled = |students: &[Student], title: &str| {
        students
            .iter()
            .flat_map(|s| &s.grades)
            .filter(|g| g.title == title)
            .count()
    };
    assert_eq!(titled(&grading.students().await, "Retried"), 1);

    let other = r#"{"Title":"Retried","Type":"Quiz","Score":71}"#;
    let answer = post("/students/2/grades", "grade-key-1", other)
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    assert!(answer.text().await.unwrap().contains("Idempotency-Key"));
    let answer = post("/students/3/grades", "grade-key-1", grade)
        .await
        .unwrap();
    assert_eq!(answer.status(), 422, "the same grade for another student");
    for bad in ["", "has space", &"k".repeat(256)] {
        let answer = post("/students/2/grades", bad, grade).await.unwrap();
        assert_eq!(answer.status(), 400, "{bad:?}");
    }
    assert_eq!(titled(&grading.students().await, "Retried"), 1);

    let student = r#"{"FirstName":"Ada","LastName":"Lovelace"}"#;
    let first = post("/students", "student-key-1", student).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Student = first.json().await.unwrap();
    let again = post("/students", "student-key-1", student).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Student>().await.unwrap().id, first.id);
    let other = r#"{"FirstName":"Grace","LastName":"Hopper"}"#;
    assert_eq!(
        post("/students", "student-key-1", other)
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(grading.students().await.len(), 6);
    // Without a key, the same addition twice is two additions, as in the original.
    for _ in 0..2 {
        let answer = grading.post_student(student).await;
        assert_eq!(answer.status(), 201);
    }
    assert_eq!(grading.students().await.len(), 8);
}

/// `GET /students?q=&sort=&page=&per_page=` answers one page, found, ordered and cut by
/// the database, with the count in `X-Total-Count`; `/students/summary` counts the class
/// by band. The seed's averages: Carter 87, Baggio 93.7, Stone 47.3, McAdams 97,
/// Clarkson 97.3.
async fn a_page_of_students_is_searched_sorted_and_counted_by_the_database(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    for body in [
        r#"{"FirstName":"Ada","LastName":"Lovelace"}"#,
        r#"{"FirstName":"Per_cent","LastName":"100%"}"#,
    ] {
        assert_eq!(grading.post_student(body).await.status(), 201);
    }
    let page = |query: &str| {
        let url = format!("{}/students?{query}", grading.url);
        async move {
            let response = client().get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let total = response
                .headers()
                .get(wire::grading::TOTAL_COUNT_HEADER)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = response.text().await.unwrap();
            (status, total, body)
        }
    };
    let ids = |query: &'static str| {
        let page = page(query);
        async move {
            let (status, total, body) = page.await;
            assert_eq!(status, 200, "{query}: {body}");
            let students: Vec<Student> = serde_json::from_str(&body).unwrap();
            let ids: Vec<i64> = students.iter().map(|s| s.id).collect();
            (ids, total.unwrap_or_default())
        }
    };

    // Either name, either form, any case; the pattern's own characters taken literally.
    assert_eq!(ids("q=CARTER").await, (vec![1], "1".into()));
    assert_eq!(ids("q=%20carter,%20n%20").await, (vec![1], "1".into()));
    assert_eq!(ids("q=emma%20st").await, (vec![3], "1".into()));
    assert_eq!(ids("q=o").await, (vec![2, 3, 5, 6], "4".into()));
    assert_eq!(ids("q=%25").await, (vec![7], "1".into()));
    assert_eq!(ids("q=_").await, (vec![7], "1".into()));
    assert_eq!(ids("q=zz").await, (vec![], "0".into()));

    // Orders: by ID, by last name, by average with the ungraded last.
    assert_eq!(ids("sort=id").await.0, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(ids("sort=name").await.0, [7, 2, 1, 5, 6, 4, 3]);
    assert_eq!(ids("sort=average").await.0, [5, 4, 2, 1, 3, 6, 7]);

    // Pages, and a page past the last is empty, with the count all the same.
    assert_eq!(
        ids("sort=average&per_page=2&page=2").await,
        (vec![2, 1], "7".into())
    );
    assert_eq!(ids("page=9").await, (vec![], "7".into()));
    let (_, _, body) = page("q=carter&per_page=1").await;
    let carter: Vec<Student> = serde_json::from_str(&body).unwrap();
    assert_eq!(
        carter[0].grades.len(),
        3,
        "a page's students come with their grades"
    );
    assert_eq!(carter[0].average, Some(87.0));

    // Refusals say what to fix.
    for (query, reason) in [
        ("sort=bogus", "use id, name or average"),
        ("page=0", "from 1 to 1000000"),
        ("per_page=501", "from 1 to 500"),
        ("per_page=x", "per_page is"),
    ] {
        let (status, _, body) = page(query).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.contains(reason), "{query}: {body}");
    }
    let long = format!("q={}", "a".repeat(101));
    let (status, _, body) = page(&long).await;
    assert_eq!(status, 400);
    assert!(body.contains("at most 100"), "{body}");

    // Without paging parameters, the original's whole list.
    let (status, total, body) = page("other=1").await;
    assert_eq!((status, total), (200, None));
    assert_eq!(
        serde_json::from_str::<Vec<Student>>(&body).unwrap().len(),
        7
    );

    // The summary: the class by band, counted in SQL, and the matching count.
    let summary: wire::grading::ClassSummary =
        common::get_json(format!("{}/students/summary?q=o", grading.url)).await;
    assert_eq!(
        summary,
        wire::grading::ClassSummary {
            students: 7,
            matching: 4,
            bands: [0, 0, 0, 0, 1, 0, 0, 0, 1, 3],
            ungraded: 2,
            page: None,
        }
    );

    // With paging parameters, the summary carries the page: the same page as
    // `GET /students` answers; and the same refusals.
    let with_page: wire::grading::ClassSummary = common::get_json(format!(
        "{}/students/summary?q=o&sort=name&page=2&per_page=3",
        grading.url
    ))
    .await;
    let (_, total, body) = page("q=o&sort=name&page=2&per_page=3").await;
    assert_eq!(total.as_deref(), Some("4"));
    assert_eq!(
        with_page,
        wire::grading::ClassSummary {
            page: Some(serde_json::from_str::<Vec<Student>>(&body).unwrap()),
            ..summary
        }
    );
    assert_eq!(with_page.page.as_ref().map(Vec::len), Some(1));

    // A client of the original's grading service (the whole class, nothing more) works
    // the summary out for itself by the same rules: `ClassSummary::of_class` answers
    // what the SQL does, for each order, search and page.
    let class = grading.students().await;
    for (q, q_param) in [("", ""), ("o", "o"), ("%", "%25"), ("E", "E"), ("zz", "zz")] {
        for order in [StudentOrder::Id, StudentOrder::Name, StudentOrder::Average] {
            for page in 1..=4 {
                let sql: ClassSummary = common::get_json(format!(
                    "{}/students/summary?q={q_param}&sort={}&page={page}&per_page=3",
                    grading.url,
                    order.as_str()
                ))
                .await;
                assert_eq!(
                    ClassSummary::of_class(&class, q, order, page, 3),
                    sql,
                    "q={q:?} {order:?} page {page}"
                );
            }
        }
    }
    let response = client()
        .get(format!("{}/students/summary?page=0", grading.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("from 1 to 1000000"));
}

/// `GET /students` with `Accept: text/event-stream`: each change stored, named for what
/// changed, with the student's and the grade's ids; a refused change tells nothing; the
/// stream ends when the service shuts down (a graceful shutdown does not wait on it).
async fn every_change_is_told_on_the_event_stream_and_the_stream_ends_at_shutdown(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    let mut events =
        common::SseReader::open(&client(), &format!("{}/students", grading.url), None).await;
    let within = std::time::Duration::from_secs(10);
    let told = |event: common::SseEvent| {
        let change: wire::grading::GradeChange = serde_json::from_str(&event.data).unwrap();
        (event.name, change.student_id, change.grade_id)
    };

    let response = grading
        .post_student(r#"{"FirstName":"Eve","LastName":"Events"}"#)
        .await;
    let eve: Student = response.json().await.unwrap();
    assert_eq!(
        told(events.next(within).await),
        ("student_added".into(), eve.id, None)
    );
    // Refused: nothing stored, nothing told (the next event is the grade after it).
    let (status, _) = grading
        .post_grade(&eve.id.to_string(), r#"{"Title":""}"#)
        .await;
    assert_eq!(status, 400);
    let (status, body) = grading
        .post_grade(
            &eve.id.to_string(),
            r#"{"Title":"T","Type":"Test","Score":50}"#,
        )
        .await;
    assert_eq!(status, 201);
    let grade = serde_json::from_str::<serde_json::Value>(&body).unwrap()["ID"]
        .as_i64()
        .unwrap();
    assert_eq!(
        told(events.next(within).await),
        ("grade_added".into(), eve.id, Some(grade))
    );
    let delete = |path: String| async move {
        client()
            .delete(path)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        delete(format!(
            "{}/students/{}/grades/{grade}",
            grading.url, eve.id
        ))
        .await,
        204
    );
    assert_eq!(
        told(events.next(within).await),
        ("grade_deleted".into(), eve.id, Some(grade))
    );
    assert_eq!(
        delete(format!("{}/students/{}", grading.url, eve.id)).await,
        204
    );
    assert_eq!(
        told(events.next(within).await),
        ("student_deleted".into(), eve.id, None)
    );

    grading.stop.cancel();
    assert!(events.ends(within).await, "the stream ended at shutdown");
}

async fn concurrent_grade_posts_lose_nothing_and_survive_a_restart(store: Store) {
    let db = store.new_database();
    let grading = TestGrading::start(&db).await;
    let posts: Vec<_> = (0..100)
        .map(|n| {
            let url = format!("{}/students/{}/grades", grading.url, n % 5 + 1);
            tokio::spawn(async move {
                let response = client()
                    .post(url)
                    .body(format!(
                        r#"{{"Title":"Concurrent {n}","Type":"Test","Score":{}}}"#,
                        n % 101
                    ))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
            })
        })
        .collect();
    for post in posts {
        post.await.unwrap();
    }
    assert_eq!(grade_count(&grading.students().await), 15 + 100);
    drop(grading);

    let grading = TestGrading::start(&db).await;
    let students = grading.students().await;
    assert_eq!(grade_count(&students), 115, "a restart keeps them");
    let titles: std::collections::HashSet<String> = students
        .iter()
        .flat_map(|s| s.grades.iter().map(|g| g.title.clone()))
        .collect();
    assert!((0..100).all(|n| titles.contains(&format!("Concurrent {n}"))));
}

/// Every view of the class (the whole list, a page, the summary with its page) shows
/// each write at once: on SQLite the store keeps what it read until the next write, and a
/// read after a write must never be answered from before it.
async fn the_list_of_students_follows_every_kind_of_write(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    let count = |students: &[Student]| (students.len(), grade_count(students));
    let views = async || {
        let whole = count(&grading.students().await);
        let page: Vec<Student> =
            common::get_json(format!("{}/students?page=1&per_page=500", grading.url)).await;
        let summary: wire::grading::ClassSummary =
            common::get_json(format!("{}/students/summary?q=&per_page=500", grading.url)).await;
        let in_summary = count(summary.page.as_deref().unwrap_or_default());
        assert_eq!(count(&page), whole, "a page against the whole list");
        assert_eq!(
            in_summary, whole,
            "the summary's page against the whole list"
        );
        let banded = summary.bands.iter().sum::<u64>() + summary.ungraded;
        assert_eq!(
            (summary.students, banded),
            (whole.0 as u64, whole.0 as u64),
            "the summary's count"
        );
        whole
    };
    assert_eq!(views().await, (5, 15));
    let (status, body) = grading
        .post_grade("1", r#"{"Title":"Fresh","Type":"Quiz","Score":50}"#)
        .await;
    assert_eq!(status, 201);
    let grade_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["ID"]
        .as_i64()
        .unwrap();
    assert_eq!(views().await, (5, 16), "after adding a grade");
    let response = client()
        .delete(format!("{}/students/1/grades/{grade_id}", grading.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(views().await, (5, 15), "after deleting a grade");
    let response = grading
        .post_student(r#"{"FirstName":"A","LastName":"B"}"#)
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(views().await, (6, 15), "after adding a student");
    let response = client()
        .delete(format!("{}/students/2", grading.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(views().await, (5, 12), "after deleting a student");
}

async fn the_seed_data_appears_once_however_often_it_restarts(store: Store) {
    let db = store.new_database();
    for _ in 0..3 {
        let grading = TestGrading::start(&db).await;
        let students = grading.students().await;
        assert_eq!((students.len(), grade_count(&students)), (5, 15));
    }
}

async fn every_validation_rule_has_a_failing_case_and_nothing_is_stored(store: Store) {
    let grading = TestGrading::start(&store.new_database()).await;
    let title_201 = "t".repeat(201);
    let cases = [
        (
            r#"{"Title":"Quiz","Type":"Quiz","Score":-1}"#.to_owned(),
            "Score must be a number from 0 to 100",
        ),
        (
            r#"{"Title":"Quiz","Type":"Quiz","Score":100.5}"#.to_owned(),
            "Score must be a number from 0 to 100",
        ),
        (
            r#"{"Title":"Quiz","Type":"Quiz","Score":"90"}"#.to_owned(),
            "Score: invalid type",
        ),
        (
            r#"{"Title":"Quiz","Type":"Quiz","Score":1e400}"#.to_owned(),
            "invalid Grade JSON",
        ),
        (
            r#"{"Title":"Quiz","Type":"Quiz"}"#.to_owned(),
            "missing field `Score`",
        ),
        (
            r#"{"Title":"Quiz","Type":"Essay","Score":5}"#.to_owned(),
            "unknown variant `Essay`",
        ),
        (
            r#"{"Title":"Quiz","Type":5,"Score":5}"#.to_owned(),
            "Type: invalid type",
        ),
        (
            r#"{"Title":"","Type":"Quiz","Score":5}"#.to_owned(),
            "Title must not be empty",
        ),
        (
            format!(r#"{{"Title":"{title_201}","Type":"Quiz","Score":5}}"#),
            "Title is at most 200",
        ),
        (
            r#"{"Title":["x"],"Type":"Quiz","Score":5}"#.to_owned(),
            "Title: invalid type",
        ),
        ("".to_owned(), "empty body"),
        ("{".to_owned(), "invalid Grade JSON"),
        ("[]".to_owned(), "expected a JSON object"),
    ];
    for (body, reason) in cases {
        let (status, text) = grading.post_grade("1", &body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(
            text.contains(reason),
            "{body}: expected {reason:?} in {text}"
        );
    }
    let response = client()
        .post(format!("{}/students/1/grades", grading.url))
        .body(vec![b'x'; 20_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    for (body, reason) in [
        (
            r#"{"FirstName":"","LastName":"L"}"#,
            "FirstName must not be empty",
        ),
        (
            r#"{"FirstName":"A","LastName":"  "}"#,
            "LastName must not be empty",
        ),
        (r#"{"FirstName":"A"}"#, "missing field `LastName`"),
    ] {
        let response = grading.post_student(body).await;
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains(reason), "{body}");
    }
    let students = grading.students().await;
    assert_eq!(
        (students.len(), grade_count(&students)),
        (5, 15),
        "nothing stored"
    );
    let response = client()
        .put(format!("{}/students", grading.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn every_change_is_logged_through_the_log_service() {
    let dir = temp_db().parent().unwrap().to_path_buf();
    let registry = common::Process::registry(&dir);
    let service = |binary: &str| {
        common::Process::start(
            binary,
            &["--addr", "127.0.0.1:0", "--registry-url", &registry.url],
            &dir,
        )
    };
    let log = service(env!("CARGO_BIN_EXE_logservice"));
    let grading = service(env!("CARGO_BIN_EXE_gradingservice"));
    let post = client()
        .post(format!("{}/students/2/grades", grading.url))
        .body(r#"{"Title":"Logged quiz","Type":"Quiz","Score":64}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 201);
    let query = format!("{}/log?service=GradingService&text=Logged%20quiz", log.url);
    let found = common::eventually("the change to reach the log service", || async {
        let records: Vec<LogRecord> = match client().get(&query).send().await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => vec![],
        };
        records.into_iter().next()
    })
    .await;
    assert!(
        found.message.contains("grade added: Logged quiz (Quiz) 64"),
        "{found:?}"
    );
}
