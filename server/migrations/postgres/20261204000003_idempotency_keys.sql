-- An addition may carry an Idempotency-Key (the portal sends one, and sends the same
-- one again when it retries on another instance): stored with the row, unique, so a
-- repeat finds the first answer instead of storing the row twice. NULLs (no key) are
-- distinct, so rows without a key are not constrained.
ALTER TABLE students ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX students_by_idempotency_key ON students (idempotency_key);
ALTER TABLE grades ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX grades_by_idempotency_key ON grades (idempotency_key);
