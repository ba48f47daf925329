//! The grade store: students and grades in SQLite (embedded, the default) or PostgreSQL
//! (a server that several grading instances share), through `sqlx`. Both run the same
//! SQL (`$1` placeholders work in both) on a pool of their own; [`on_pool!`] writes each
//! call once for the two.
//!
//! The schema and the original's seed data are migrations (`server/migrations/sqlite/`
//! and `server/migrations/postgres/`), applied at open: a new database is created and
//! seeded, an existing one is brought up to date and never seeded twice. On PostgreSQL
//! the migrator holds an advisory lock, so instances starting at once on an empty
//! database seed it once. Ids are drawn by the database, never made up in a process.
//!
//! SQLite runs in WAL mode with a busy timeout, so concurrent writers wait for each other
//! rather than fail. By default (`--database-sync full`) every commit is synced before it
//! is answered, so a grade answered 201 survives a power cut; `make bench` measures what
//! that costs against `normal`. PostgreSQL answers a commit once it is durable on the
//! server (its own `synchronous_commit`).
//!
//! Every call is bounded: a connection is waited for at most the statement timeout (the
//! pool is bounded by `--database-max-connections`), and a statement runs at most that
//! long (PostgreSQL's `statement_timeout`; SQLite's busy timeout). A database that is down
//! or slow makes calls fail with an error, which the API answers 503; the pool reconnects
//! by itself when the database is back.
//!
//! Reads are far more frequent than writes (every Grade Book view reads; a teacher adds a
//! grade now and then). A SQLite file has one writer, this process, so the store keeps
//! what it read (the full list, the class's bands, the last pages asked for) in memory
//! until its next write; a generation counter, bumped after every write, makes sure a
//! read that raced a write never caches what it read. That is what brings the portal's
//! Grade Book near a static file in `make bench`: the bands alone take SQLite 1.5 ms over
//! 1,000 students. On PostgreSQL other instances write too, so every read goes to the
//! database.

use std::{
    path::Path,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use parking_lot::Mutex;

use sqlx::{
    Connection,
    postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};
use wire::grading::{ClassSummary, Grade, GradeType, NewStudent, Student, StudentOrder};

use super::{Database, DatabaseSync};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How the store uses its database.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// SQLite only: when a commit is on disk.
    pub sync: DatabaseSync,
    /// The most connections open at once; calls beyond them wait (at most
    /// `statement_timeout`).
    pub max_connections: u32,
    /// How long one statement may run, and how long a call may wait for a connection.
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            sync: DatabaseSync::Full,
            max_connections: 10,
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// The students and their grades. Cheap to clone.
#[derive(Clone)]
pub struct GradeStore {
    pool: Pool,
    /// What was read, kept in memory where this process is the only writer.
    cache: Option<Arc<ReadCache>>,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// `$body` once for each kind of pool, with `$pool` bound to it: the same SQL, compiled
/// for both drivers.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// What an addition came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Added<T> {
    /// Stored now.
    Stored(T),
    /// Its idempotency key was an earlier addition's, of the same thing: that one's
    /// answer, nothing stored again.
    Repeated(T),
    /// Its idempotency key was an earlier addition's, of something else: nothing stored.
    KeyTaken,
}

/// Answers read from the database, each as of a generation of the store (see the
/// module's doc).
#[derive(Default)]
struct ReadCache {
    generation: AtomicU64,
    students: Remembered<(), Arc<Vec<Student>>>,
    summaries: Remembered<String, ClassSummary>,
    pages: Remembered<PageQuery, (u64, Arc<Vec<Student>>)>,
}

/// Bumps the store's generation when dropped (see [`GradeStore::writing`]).
struct Written<'a>(&'a GradeStore);

impl Drop for Written<'_> {
    fn drop(&mut self) {
        if let Some(cache) = &self.0.cache {
            cache.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The answers to the last few distinct questions, with the generation each was read at.
/// A handful is enough: people page through one search at a time; more would only hold
/// memory (a page is at most 500 students).
struct Remembered<K, V> {
    entries: Mutex<std::collections::VecDeque<(u64, K, V)>>,
}

impl<K, V> Default for Remembered<K, V> {
    fn default() -> Self {
        Remembered {
            entries: Mutex::default(),
        }
    }
}

impl<K: PartialEq, V: Clone> Remembered<K, V> {
    /// How many answers are kept.
    const CAPACITY: usize = 16;

    fn get(&self, generation: u64, key: &K) -> Option<V> {
        self.entries
            .lock()
            .iter()
            .find(|(read_at, k, _)| *read_at == generation && k == key)
            .map(|(_, _, value)| value.clone())
    }

    fn put(&self, generation: u64, key: K, value: V) {
        let mut entries = self.entries.lock();
        entries.retain(|(read_at, k, _)| *read_at == generation && *k != key);
        if entries.len() == Self::CAPACITY {
            entries.pop_front();
        }
        entries.push_back((generation, key, value));
    }
}

/// A student joined with one of their grades (the grade's columns empty if they have
/// none): id, first name, last name, grade id, title, type, score, added.
type StudentGradeRow = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<String>,
);

/// Every student with each of their grades, in one statement, so the list is one
/// consistent snapshot even while others write.
const ALL_STUDENTS: &str =
    "SELECT s.id, s.first_name, s.last_name, g.id, g.title, g.type, g.score, g.added
     FROM students s LEFT JOIN grades g ON g.student_id = s.id
     ORDER BY s.id, g.id";

const ONE_STUDENT: &str =
    "SELECT s.id, s.first_name, s.last_name, g.id, g.title, g.type, g.score, g.added
     FROM students s LEFT JOIN grades g ON g.student_id = s.id
     WHERE s.id = $1
     ORDER BY g.id";

impl GradeStore {
    /// Opens the database (creating a SQLite file if need be) and applies the migrations.
    ///
    /// # Errors
    /// The database cannot be reached, created, opened or migrated.
    pub async fn open(
        database: &Database,
        options: StoreOptions,
    ) -> Result<GradeStore, sqlx::Error> {
        match database {
            Database::Sqlite(path) => GradeStore::open_sqlite(path, options).await,
            Database::Postgres(url) => GradeStore::open_postgres(url, options).await,
        }
    }

    async fn open_sqlite(path: &Path, options: StoreOptions) -> Result<GradeStore, sqlx::Error> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
        let connect = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.sync {
                DatabaseSync::Full => SqliteSynchronous::Full,
                DatabaseSync::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(options.statement_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.statement_timeout)
            .connect_with(connect)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(GradeStore {
            pool: Pool::Sqlite(pool),
            cache: Some(Arc::default()),
        })
    }

    async fn open_postgres(url: &str, options: StoreOptions) -> Result<GradeStore, sqlx::Error> {
        let timeout_ms = options.statement_timeout.as_millis().max(1).to_string();
        let connect = PgConnectOptions::from_str(url)?
            .application_name("distributed-grading")
            .options([("statement_timeout", timeout_ms.as_str())]);
        // One connection first, on its own: the pool would say only that it timed out,
        // where this says why (refused, no such database, wrong password).
        let first = tokio::time::timeout(
            options.statement_timeout,
            PgConnection::connect_with(&connect),
        )
        .await
        .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {:?}", options.statement_timeout),
            ))
        })??;
        first.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.statement_timeout)
            .connect_with(connect)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(GradeStore {
            pool: Pool::Postgres(pool),
            cache: None,
        })
    }

    /// Closes the database: every later call fails (on shutdown, or to test that
    /// `/healthz` notices).
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
    }

    /// Every student with their grades, by ID.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn students(&self) -> Result<Arc<Vec<Student>>, sqlx::Error> {
        self.cached(
            |cache| &cache.students,
            (),
            async || Ok(Arc::new(self.read_students().await?)),
        )
        .await
    }

    /// The answer to `key` from the cache if nothing was written since it was read, or
    /// `read`'s, kept unless a write raced it.
    async fn cached<K: PartialEq, V: Clone>(
        &self,
        kept: impl Fn(&ReadCache) -> &Remembered<K, V>,
        key: K,
        read: impl AsyncFnOnce() -> Result<V, sqlx::Error>,
    ) -> Result<V, sqlx::Error> {
        let Some(cache) = &self.cache else {
            return read().await;
        };
        let generation = cache.generation.load(Ordering::SeqCst);
        if let Some(value) = kept(cache).get(generation, &key) {
            return Ok(value);
        }
        let value = read().await?;
        if cache.generation.load(Ordering::SeqCst) == generation {
            kept(cache).put(generation, key, value.clone());
        }
        Ok(value)
    }

    /// A write is under way: when the returned guard is dropped (the write done, failed,
    /// or its caller gone mid-way, as when a client hangs up after the commit), what was
    /// read is out of date. A bump at the end of the write alone would be skipped by a
    /// cancelled call, and the cache would keep answering from before its commit.
    fn writing(&self) -> Written<'_> {
        Written(self)
    }

    async fn read_students(&self) -> Result<Vec<Student>, sqlx::Error> {
        let rows: Vec<StudentGradeRow> = on_pool!(self, |pool| {
            sqlx::query_as(ALL_STUDENTS).fetch_all(pool).await?
        });
        students_of(rows)
    }

    /// One student with their grades.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn student(&self, id: i64) -> Result<Option<Student>, sqlx::Error> {
        let rows: Vec<StudentGradeRow> = on_pool!(self, |pool| {
            sqlx::query_as(ONE_STUDENT).bind(id).fetch_all(pool).await?
        });
        Ok(students_of(rows)?.pop())
    }

    /// Adds a student (already validated); the id is the database's. With an
    /// idempotency `key` that an earlier addition carried, nothing is stored: that
    /// addition's answer is given again, if it added the same student.
    ///
    /// # Errors
    /// The database cannot be written (nothing is stored then).
    pub async fn add_student(
        &self,
        new: &NewStudent,
        key: Option<&str>,
    ) -> Result<Added<Student>, sqlx::Error> {
        let _written = self.writing();
        let inserted: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO students (first_name, last_name, idempotency_key) VALUES ($1, $2, $3)
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            )
            .bind(&new.first_name)
            .bind(&new.last_name)
            .bind(key)
            .fetch_optional(pool)
            .await?
        });
        let student = |id| Student {
            id,
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            grades: vec![],
            average: None,
        };
        if let Some(id) = inserted {
            return Ok(Added::Stored(student(id)));
        }
        // Only a key already taken stops an insert.
        let first: Option<(i64, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, first_name, last_name FROM students WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?
        });
        Ok(match first {
            Some((id, first_name, last_name))
                if first_name == new.first_name && last_name == new.last_name =>
            {
                Added::Repeated(student(id))
            }
            _ => Added::KeyTaken,
        })
    }

    /// Adds a grade (already validated) to a student; `None` if there is no such student
    /// (also if another instance deletes them meanwhile). The id is the database's. With
    /// an idempotency `key` an earlier addition carried, nothing is stored: that
    /// addition's answer is given again, if it added the same grade to the same student.
    ///
    /// # Errors
    /// The database cannot be written (nothing is stored then).
    pub async fn add_grade(
        &self,
        student_id: i64,
        grade: &Grade,
        key: Option<&str>,
    ) -> Result<Option<Added<Grade>>, sqlx::Error> {
        let _written = self.writing();
        let added = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let inserted: Result<Option<i64>, sqlx::Error> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO grades (student_id, title, type, score, idempotency_key, added)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM students WHERE id = $1)
                 ON CONFLICT (idempotency_key) DO NOTHING
                 RETURNING id",
            )
            .bind(student_id)
            .bind(&grade.title)
            .bind(grade.kind.as_str())
            .bind(grade.score)
            .bind(key)
            .bind(&added)
            .fetch_optional(pool)
            .await
        });
        let id = match inserted {
            Err(sqlx::Error::Database(err)) if err.is_foreign_key_violation() => None,
            other => other?,
        };
        if let Some(id) = id {
            return Ok(Some(Added::Stored(Grade {
                id,
                added: Some(added),
                ..grade.clone()
            })));
        }
        let Some(key) = key else {
            return Ok(None); // No such student.
        };
        let first: Option<(i64, i64, String, String, f64, Option<String>)> = on_pool!(
            self,
            |pool| {
                sqlx::query_as(
                "SELECT id, student_id, title, type, score, added FROM grades WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?
            }
        );
        Ok(match first {
            None => None, // Not taken: no such student.
            Some((id, student, title, kind, score, added))
                if student == student_id
                    && title == grade.title
                    && kind == grade.kind.as_str()
                    && score == grade.score =>
            {
                Some(Added::Repeated(Grade {
                    id,
                    added,
                    ..grade.clone()
                }))
            }
            Some(_) => Some(Added::KeyTaken),
        })
    }

    /// Deletes a student and their grades; false if there is no such student.
    ///
    /// # Errors
    /// The database cannot be written (nothing is deleted then).
    pub async fn delete_student(&self, id: i64) -> Result<bool, sqlx::Error> {
        let _written = self.writing();
        let deleted = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM students WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    /// Deletes one grade of a student; false if there is no such grade.
    ///
    /// # Errors
    /// The database cannot be written (nothing is deleted then).
    pub async fn delete_grade(&self, student_id: i64, grade_id: i64) -> Result<bool, sqlx::Error> {
        let _written = self.writing();
        let deleted = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM grades WHERE id = $1 AND student_id = $2")
                .bind(grade_id)
                .bind(student_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// The database does not answer.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}

/// A search and an order, as `GET /students?q=&sort=&page=&per_page=` asks for a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// A part of the name, as "First Last" or "Last, First", in any case; empty for all.
    pub search: String,
    pub order: StudentOrder,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

/// The SQL `LIKE` pattern that finds `search` anywhere (`%`, `_` and `\` in it taken
/// literally), lower-cased as the names it is compared with.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::from("%");
    for c in search.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Whether student `s` matches the pattern in `$1`: the same SQL on both databases.
const MATCHES: &str = "(lower(s.first_name || ' ' || s.last_name) LIKE $1 ESCAPE '\\'
     OR lower(s.last_name || ', ' || s.first_name) LIKE $1 ESCAPE '\\')";

/// The `ORDER BY` terms for `order`, over the columns of table `t` (`id`, `first_name`,
/// `last_name`) and the expression of its `average` (PostgreSQL lets an `ORDER BY`
/// expression name no column alias). Fixed text only: nothing from a request is put in SQL (the
/// statements built from it are marked `AssertSqlSafe` for that reason; the search is a
/// bound parameter).
fn order_by(order: StudentOrder, t: &str, average: &str) -> String {
    match order {
        StudentOrder::Id => format!("{t}.id"),
        StudentOrder::Name => {
            format!("lower({t}.last_name), lower({t}.first_name), {t}.id")
        }
        // `IS NULL` sorts false before true on both: the ungraded last.
        StudentOrder::Average => {
            format!("{average} IS NULL, {average} DESC, {t}.id")
        }
    }
}

/// A student's average, as a column of `s`.
const AVERAGE: &str = "(SELECT AVG(g.score) FROM grades g WHERE g.student_id = s.id)";

impl GradeStore {
    /// How many students match `search` (see [`PageQuery`]).
    async fn count_matching(&self, search: &str) -> Result<u64, sqlx::Error> {
        let sql = format!("SELECT COUNT(*) FROM students s WHERE {MATCHES}");
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(like_pattern(search))
                .fetch_one(pool)
                .await?
        });
        Ok(count.max(0) as u64)
    }

    /// How many students match the query, and one page of them, in its order, with
    /// their grades. The page is one statement, so it is one consistent snapshot even
    /// while others write. A page past the last is empty.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn page(&self, query: &PageQuery) -> Result<(u64, Arc<Vec<Student>>), sqlx::Error> {
        self.cached(
            |cache| &cache.pages,
            query.clone(),
            async || {
                let matching = self.count_matching(&query.search).await?;
                Ok((matching, Arc::new(self.read_page(query).await?)))
            },
        )
        .await
    }

    async fn read_page(&self, query: &PageQuery) -> Result<Vec<Student>, sqlx::Error> {
        let sql = format!(
            "WITH page AS (
                 SELECT s.id, s.first_name, s.last_name, {AVERAGE} AS average
                 FROM students s WHERE {MATCHES}
                 ORDER BY {} LIMIT $2 OFFSET $3
             )
             SELECT p.id, p.first_name, p.last_name, g.id, g.title, g.type, g.score, g.added
             FROM page p LEFT JOIN grades g ON g.student_id = p.id
             ORDER BY {}, g.id",
            order_by(query.order, "s", AVERAGE),
            order_by(query.order, "p", "p.average"),
        );
        let offset = i64::from(query.page.max(1) - 1) * i64::from(query.per_page);
        let rows: Vec<StudentGradeRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(like_pattern(&query.search))
                .bind(i64::from(query.per_page))
                .bind(offset)
                .fetch_all(pool)
                .await?
        });
        students_of(rows)
    }

    /// The class in figures: its size, the students matching `search`, and its averages
    /// by 10-point band, counted by the database (no student is read).
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn summary(&self, search: &str) -> Result<ClassSummary, sqlx::Error> {
        self.cached(
            |cache| &cache.summaries,
            search.trim().to_owned(),
            async || self.read_summary(search).await,
        )
        .await
    }

    async fn read_summary(&self, search: &str) -> Result<ClassSummary, sqlx::Error> {
        // Bands by threshold, the same on both databases (a cast to integer rounds on
        // PostgreSQL and truncates on SQLite); -1 for no average. The averages come from
        // one grouped pass over the grades: as a subquery named in each `WHEN`, SQLite
        // would run it once per test (3 ms rather than 1.5 for 1,000 students).
        let sql = "SELECT band, COUNT(*) FROM (
                 SELECT CAST(CASE WHEN average IS NULL THEN -1
                     WHEN average >= 90 THEN 9 WHEN average >= 80 THEN 8
                     WHEN average >= 70 THEN 7 WHEN average >= 60 THEN 6
                     WHEN average >= 50 THEN 5 WHEN average >= 40 THEN 4
                     WHEN average >= 30 THEN 3 WHEN average >= 20 THEN 2
                     WHEN average >= 10 THEN 1 ELSE 0 END AS BIGINT) AS band
                 FROM students s LEFT JOIN (
                     SELECT student_id, AVG(score) AS average FROM grades GROUP BY student_id
                 ) a ON a.student_id = s.id
             ) banded GROUP BY band";
        let counts: Vec<(i64, i64)> =
            on_pool!(self, |pool| { sqlx::query_as(sql).fetch_all(pool).await? });
        let mut summary = ClassSummary {
            students: 0,
            matching: 0,
            bands: [0; 10],
            ungraded: 0,
            page: None,
        };
        for (band, count) in counts {
            let count = count.max(0) as u64;
            summary.students += count;
            match usize::try_from(band) {
                Ok(band) if band < 10 => summary.bands[band] += count,
                _ => summary.ungraded += count,
            }
        }
        summary.matching = if search.trim().is_empty() {
            summary.students
        } else {
            self.count_matching(search).await?
        };
        Ok(summary)
    }
}

/// Students from their joined rows (ordered by student, then grade), averages computed.
fn students_of(rows: Vec<StudentGradeRow>) -> Result<Vec<Student>, sqlx::Error> {
    let mut students: Vec<Student> = Vec::new();
    for (id, first_name, last_name, grade_id, title, kind, score, added) in rows {
        if students.last().is_none_or(|last| last.id != id) {
            students.push(Student {
                id,
                first_name,
                last_name,
                grades: vec![],
                average: None,
            });
        }
        let (Some(grade_id), Some(title), Some(kind), Some(score)) = (grade_id, title, kind, score)
        else {
            continue;
        };
        let kind = GradeType::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown grade type {kind:?}").into()))?;
        if let Some(student) = students.last_mut() {
            student.grades.push(Grade {
                id: grade_id,
                title,
                kind,
                score,
                added,
            });
        }
    }
    for student in &mut students {
        student.average = Student::average_of(&student.grades);
    }
    Ok(students)
}
