//! The grade store: students and grades in an embedded SQLite database, through `sqlx`.
//!
//! The schema and the original's seed data are migrations (`server/migrations/`), applied
//! at open: a new database is created and seeded, an existing one is brought up to date
//! and never seeded twice. The database runs in WAL mode with a busy timeout, so
//! concurrent writers wait for each other rather than fail, and nothing is lost. By
//! default (`--database-sync full`) every commit is synced before it is answered, so a
//! grade answered 201 survives a power cut; `make bench` measures what that costs
//! against `normal`.
//!
//! The full list of students is the hottest read (the Grade Book shows it), so the store
//! keeps it in memory until its next write. A generation counter, bumped after every
//! write, makes sure a read that raced a write never caches what it read.

use std::{
    path::Path,
    str::FromStr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use app::wire::grading::{Grade, GradeType, NewStudent, Student};
use sqlx::{
    Row,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
        SqliteSynchronous,
    },
};

use super::DatabaseSync;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct GradeStore {
    pool: SqlitePool,
    cache: Arc<StudentsCache>,
}

/// The list of students as of a generation of the store.
#[derive(Default)]
struct StudentsCache {
    generation: AtomicU64,
    students: Mutex<Option<(u64, Arc<Vec<Student>>)>>,
}

impl GradeStore {
    /// Opens (creating if need be) the database at `path`, synced at commits as `sync`
    /// says, and applies the migrations.
    ///
    /// # Errors
    /// The database cannot be created, opened or migrated.
    pub async fn open(path: &Path, sync: DatabaseSync) -> Result<GradeStore, sqlx::Error> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                DatabaseSync::Full => SqliteSynchronous::Full,
                DatabaseSync::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(GradeStore {
            pool,
            cache: Arc::default(),
        })
    }

    /// Every student with their grades, by ID.
    /// Closes the database: every later call fails (on shutdown, or to test that
    /// `/healthz` notices).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// # Errors
    /// The database cannot be read.
    pub async fn students(&self) -> Result<Arc<Vec<Student>>, sqlx::Error> {
        let generation = self.cache.generation.load(Ordering::SeqCst);
        if let Some((cached, students)) = &*self.cache.students.lock().unwrap()
            && *cached == generation
        {
            return Ok(students.clone());
        }
        let students = Arc::new(self.read_students().await?);
        if self.cache.generation.load(Ordering::SeqCst) == generation {
            *self.cache.students.lock().unwrap() = Some((generation, students.clone()));
        }
        Ok(students)
    }

    /// A write happened: the cached list is out of date.
    fn written(&self) {
        self.cache.generation.fetch_add(1, Ordering::SeqCst);
    }

    async fn read_students(&self) -> Result<Vec<Student>, sqlx::Error> {
        let mut students: Vec<Student> =
            sqlx::query("SELECT id, first_name, last_name FROM students ORDER BY id")
                .map(student_row)
                .fetch_all(&self.pool)
                .await?;
        let grades = sqlx::query(
            "SELECT id, student_id, title, type, score FROM grades ORDER BY student_id, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut index = 0;
        for row in grades {
            let student_id: i64 = row.get("student_id");
            while index < students.len() && students[index].id < student_id {
                index += 1;
            }
            if let Some(student) = students.get_mut(index).filter(|s| s.id == student_id) {
                student.grades.push(grade_row(&row)?);
            }
        }
        for student in &mut students {
            student.average = Student::average_of(&student.grades);
        }
        Ok(students)
    }

    /// One student with their grades.
    ///
    /// # Errors
    /// The database cannot be read.
    pub async fn student(&self, id: i64) -> Result<Option<Student>, sqlx::Error> {
        let Some(mut student) =
            sqlx::query("SELECT id, first_name, last_name FROM students WHERE id = ?")
                .bind(id)
                .map(student_row)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT id, title, type, score FROM grades WHERE student_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        student.grades = rows.iter().map(grade_row).collect::<Result<_, _>>()?;
        student.average = Student::average_of(&student.grades);
        Ok(Some(student))
    }

    /// Adds a student (already validated).
    ///
    /// # Errors
    /// The database cannot be written (nothing is stored then).
    pub async fn add_student(&self, new: &NewStudent) -> Result<Student, sqlx::Error> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO students (first_name, last_name) VALUES (?, ?) RETURNING id",
        )
        .bind(&new.first_name)
        .bind(&new.last_name)
        .fetch_one(&self.pool)
        .await?;
        self.written();
        Ok(Student {
            id,
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            grades: vec![],
            average: None,
        })
    }

    /// Adds a grade (already validated) to a student; `None` if there is no such student.
    ///
    /// # Errors
    /// The database cannot be written (nothing is stored then).
    pub async fn add_grade(
        &self,
        student_id: i64,
        grade: &Grade,
    ) -> Result<Option<Grade>, sqlx::Error> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO grades (student_id, title, type, score)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM students WHERE id = ?1)
             RETURNING id",
        )
        .bind(student_id)
        .bind(&grade.title)
        .bind(grade.kind.as_str())
        .bind(grade.score)
        .fetch_optional(&self.pool)
        .await?;
        self.written();
        Ok(id.map(|id| Grade {
            id,
            ..grade.clone()
        }))
    }

    /// Deletes a student and their grades; false if there is no such student.
    ///
    /// # Errors
    /// The database cannot be written (nothing is deleted then).
    pub async fn delete_student(&self, id: i64) -> Result<bool, sqlx::Error> {
        let result = sqlx::query("DELETE FROM students WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.written();
        Ok(result.rows_affected() > 0)
    }

    /// Deletes one grade of a student; false if there is no such grade.
    pub async fn delete_grade(&self, student_id: i64, grade_id: i64) -> Result<bool, sqlx::Error> {
        let result = sqlx::query("DELETE FROM grades WHERE id = ? AND student_id = ?")
            .bind(grade_id)
            .bind(student_id)
            .execute(&self.pool)
            .await?;
        self.written();
        Ok(result.rows_affected() > 0)
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// The database does not answer.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

fn student_row(row: SqliteRow) -> Student {
    Student {
        id: row.get("id"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        grades: vec![],
        average: None,
    }
}

fn grade_row(row: &SqliteRow) -> Result<Grade, sqlx::Error> {
    let kind: String = row.get("type");
    Ok(Grade {
        id: row.get("id"),
        title: row.get("title"),
        kind: GradeType::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown grade type {kind:?}").into()))?,
        score: row.get("score"),
    })
}
