-- IDs are never reused: without AUTOINCREMENT, SQLite gives a new row the highest id
-- plus one, so a student or grade added after the last one was deleted took its id, and
-- a stale link or form acted on someone else. The tables are rebuilt with AUTOINCREMENT,
-- every row kept with its id. (Ids deleted before this migration, above the highest left,
-- cannot be known; from here on none is reused.)
--
-- The order matters with foreign keys on: the new grades point at the new students, the
-- old grades go before the old students (so dropping those cascades to nothing), and
-- renaming students_new rewrites the reference in grades_new.
CREATE TABLE students_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    first_name TEXT NOT NULL CHECK (length(trim(first_name)) > 0),
    last_name  TEXT NOT NULL CHECK (length(trim(last_name)) > 0)
);
INSERT INTO students_new (id, first_name, last_name)
    SELECT id, first_name, last_name FROM students;

CREATE TABLE grades_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    student_id INTEGER NOT NULL REFERENCES students_new (id) ON DELETE CASCADE,
    title      TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 800),
    type       TEXT NOT NULL CHECK (type IN ('Quiz', 'Test', 'Exam', 'Homework')),
    score      REAL NOT NULL CHECK (score >= 0 AND score <= 100)
);
INSERT INTO grades_new (id, student_id, title, type, score)
    SELECT id, student_id, title, type, score FROM grades;

DROP TABLE grades;
DROP TABLE students;
ALTER TABLE students_new RENAME TO students;
ALTER TABLE grades_new RENAME TO grades;
CREATE INDEX grades_by_student ON grades (student_id, id);
