-- When each grade was stored (RFC 3339, UTC, set by the grading service): the portal's
-- scores chart says it. Grades stored before have none (NULL).
ALTER TABLE grades ADD COLUMN added TEXT;
