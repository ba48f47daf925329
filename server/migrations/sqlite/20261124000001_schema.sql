-- Students and their grades.
CREATE TABLE students (
    id         INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL CHECK (length(trim(first_name)) > 0),
    last_name  TEXT NOT NULL CHECK (length(trim(last_name)) > 0)
);

CREATE TABLE grades (
    id         INTEGER PRIMARY KEY,
    student_id INTEGER NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    title      TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 800),
    type       TEXT NOT NULL CHECK (type IN ('Quiz', 'Test', 'Exam', 'Homework')),
    score      REAL NOT NULL CHECK (score >= 0 AND score <= 100)
);

CREATE INDEX grades_by_student ON grades (student_id, id);
