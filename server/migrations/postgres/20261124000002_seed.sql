-- The original's five students and their grades. As a migration it runs once per
-- database, under the migrator's advisory lock: several instances starting at once on
-- an empty database seed it once, and restarts never add them again.
INSERT INTO students (id, first_name, last_name) VALUES
    (1, 'Nick', 'Carter'),
    (2, 'Roberto', 'Baggio'),
    (3, 'Emma', 'Stone'),
    (4, 'Rachel', 'McAdams'),
    (5, 'Kelly', 'Clarkson');

-- The ids above were given, not drawn: the next student drawn is 6.
SELECT setval(pg_get_serial_sequence('students', 'id'), 5);

INSERT INTO grades (student_id, title, type, score) VALUES
    (1, 'Quiz 1', 'Quiz', 85), (1, 'Final Exam', 'Exam', 94), (1, 'Quiz 2', 'Quiz', 82),
    (2, 'Quiz 1', 'Quiz', 100), (2, 'Final Exam', 'Exam', 100), (2, 'Quiz 2', 'Quiz', 81),
    (3, 'Quiz 1', 'Quiz', 67), (3, 'Final Exam', 'Exam', 0), (3, 'Quiz 2', 'Quiz', 75),
    (4, 'Quiz 1', 'Quiz', 98), (4, 'Final Exam', 'Exam', 99), (4, 'Quiz 2', 'Quiz', 94),
    (5, 'Quiz 1', 'Quiz', 95), (5, 'Final Exam', 'Exam', 100), (5, 'Quiz 2', 'Quiz', 97);
