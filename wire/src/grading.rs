//! The grading service's wire types, with the original's Go field names: students, their
//! grades, and what a client sends to add them.

use serde::{Deserialize, Serialize};

/// The kinds of grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GradeType {
    Quiz,
    Test,
    Exam,
    Homework,
}

impl GradeType {
    pub const ALL: [GradeType; 4] = [
        GradeType::Test,
        GradeType::Quiz,
        GradeType::Exam,
        GradeType::Homework,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GradeType::Quiz => "Quiz",
            GradeType::Test => "Test",
            GradeType::Exam => "Exam",
            GradeType::Homework => "Homework",
        }
    }

    pub fn parse(text: &str) -> Option<GradeType> {
        GradeType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// One grade. `ID` and `Added` are this project's additions; Go clients ignore them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Grade {
    /// The database's; 0 in a new grade.
    #[serde(rename = "ID", default)]
    pub id: i64,
    #[serde(rename = "Title")]
    pub title: String,
    #[serde(rename = "Type")]
    pub kind: GradeType,
    #[serde(rename = "Score")]
    pub score: f64,
    /// When the grading service stored it (RFC 3339, UTC, to the second); absent for
    /// grades stored before it kept the time (the seed's among them). A client's value is
    /// ignored: the service sets it.
    #[serde(rename = "Added", default, skip_serializing_if = "Option::is_none")]
    pub added: Option<String>,
}

crate::go_json!(Grade, &["ID", "Title", "Type", "Score", "Added"]);

/// A student with their grades and, as an addition to the original, their average score
/// (absent while they have no grades).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Student {
    #[serde(rename = "ID")]
    pub id: i64,
    #[serde(rename = "FirstName")]
    pub first_name: String,
    #[serde(rename = "LastName")]
    pub last_name: String,
    #[serde(rename = "Grades", default)]
    pub grades: Vec<Grade>,
    #[serde(rename = "Average", default)]
    pub average: Option<f64>,
}

crate::go_json!(
    Student,
    &["ID", "FirstName", "LastName", "Grades", "Average"]
);

impl Student {
    /// The mean of the scores, or `None` without grades.
    pub fn average_of(grades: &[Grade]) -> Option<f64> {
        (!grades.is_empty())
            .then(|| grades.iter().map(|g| g.score).sum::<f64>() / grades.len() as f64)
    }
}

/// What `POST /students` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct NewStudent {
    #[serde(rename = "FirstName")]
    pub first_name: String,
    #[serde(rename = "LastName")]
    pub last_name: String,
}

crate::go_json!(NewStudent, &["FirstName", "LastName"]);

/// How `GET /students?sort=` orders a page of students (an addition to the original).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StudentOrder {
    /// By ID: the order students were added (the original's).
    #[default]
    Id,
    /// By last name, then first name, in any case.
    Name,
    /// Highest average first; students without grades last.
    Average,
}

impl StudentOrder {
    /// The `sort` parameter's value (`id` or empty, `name`, `average`); `None` for anything
    /// else.
    pub fn parse(text: &str) -> Option<StudentOrder> {
        match text {
            "" | "id" => Some(StudentOrder::Id),
            "name" => Some(StudentOrder::Name),
            "average" => Some(StudentOrder::Average),
            _ => None,
        }
    }

    /// The `sort` parameter's value for this order.
    pub fn as_str(self) -> &'static str {
        match self {
            StudentOrder::Id => "id",
            StudentOrder::Name => "name",
            StudentOrder::Average => "average",
        }
    }
}

/// Students a page holds unless `per_page` says otherwise.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// The most students one page may hold.
pub const MAX_PER_PAGE: u32 = 500;
/// The longest search (`q`) accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;
/// The header that carries how many students match a paged `GET /students`.
pub const TOTAL_COUNT_HEADER: &str = "x-total-count";

/// What `GET /students/summary?q=` answers (an addition to the original): the class's
/// size, how many match the search, and the class's averages by 10-point band, counted
/// by the database; with any of `sort`, `page` or `per_page`, also that page of the
/// students matching the search, so a grade book view is one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct ClassSummary {
    /// Every student.
    #[serde(rename = "Students")]
    pub students: u64,
    /// The students whose name contains the search (every student without one).
    #[serde(rename = "Matching")]
    pub matching: u64,
    /// Students by average, in 10-point bands: 0–9, 10–19, …, 90–100.
    #[serde(rename = "Bands")]
    pub bands: [u64; 10],
    /// Students without grades (so without an average).
    #[serde(rename = "Ungraded")]
    pub ungraded: u64,
    /// The page asked for (as `GET /students?q=&sort=&page=&per_page=` answers it), if
    /// one was.
    #[serde(rename = "Page", default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Vec<Student>>,
}

crate::go_json!(
    ClassSummary,
    &["Students", "Matching", "Bands", "Ungraded", "Page"]
);

impl ClassSummary {
    /// The summary of `class` (every student, with grades) that `GET /students/summary`
    /// would answer for search `q`, order `order` and page `page` (from 1) of `per_page`:
    /// for a client of a grading service that has only the original's `GET /students`
    /// (which answers the whole class, without `Average`). The rules are the service's:
    /// the search is found anywhere in "First Last" or "Last, First", in any case; the
    /// bands are by threshold (an average of 89.99 is in 80–89). A student's `average`,
    /// if the service sent one, is kept; else it is worked out. For names in ASCII, and a
    /// PostgreSQL in the C collation (as the tests and `make cluster` run it), the answer
    /// is the SQL's to the student (a test checks it on both stores). Otherwise the two
    /// can differ: this folds the case of every letter and orders names by code point,
    /// where SQLite's `lower()` folds only ASCII and PostgreSQL orders by its collation
    /// (en_US sets "De Luca" after "Dean", ignoring the space at first).
    pub fn of_class(
        class: &[Student],
        q: &str,
        order: StudentOrder,
        page: u32,
        per_page: u32,
    ) -> ClassSummary {
        let mut summary = ClassSummary {
            students: class.len() as u64,
            matching: 0,
            bands: [0; 10],
            ungraded: 0,
            page: None,
        };
        // Each student with their average. An average the service sent is kept: its
        // database may round the last digit otherwise (SQLite's AVG of 100, 100, 81 is
        // 93.66666666666669). Only the page's students are copied, at the end: the class
        // may be a few MB.
        let mut class: Vec<(&Student, Option<f64>)> = class
            .iter()
            .map(|s| (s, s.average.or_else(|| Student::average_of(&s.grades))))
            .collect();
        for (_, average) in &class {
            match average {
                // `as` saturates: a score outside 0..100 lands in the first or last band.
                Some(average) => summary.bands[((average / 10.0) as usize).min(9)] += 1,
                None => summary.ungraded += 1,
            }
        }
        let q = q.trim().to_lowercase();
        class.retain(|(s, _)| {
            format!("{} {}", s.first_name, s.last_name)
                .to_lowercase()
                .contains(&q)
                || format!("{}, {}", s.last_name, s.first_name)
                    .to_lowercase()
                    .contains(&q)
        });
        summary.matching = class.len() as u64;
        match order {
            StudentOrder::Id => class.sort_by_key(|(s, _)| s.id),
            StudentOrder::Name => class.sort_by_cached_key(|(s, _)| {
                (
                    s.last_name.to_lowercase(),
                    s.first_name.to_lowercase(),
                    s.id,
                )
            }),
            // The ungraded last; among equals, by ID.
            StudentOrder::Average => class.sort_by(|(a, x), (b, y)| {
                use std::cmp::Ordering::{Equal, Greater, Less};
                match (x, y) {
                    (Some(x), Some(y)) => y.total_cmp(x),
                    (Some(_), None) => Less,
                    (None, Some(_)) => Greater,
                    (None, None) => Equal,
                }
                .then(a.id.cmp(&b.id))
            }),
        }
        let skip = (page.max(1) as usize - 1).saturating_mul(per_page as usize);
        summary.page = Some(
            class
                .into_iter()
                .skip(skip)
                .take(per_page as usize)
                .map(|(s, average)| Student {
                    average,
                    ..s.clone()
                })
                .collect(),
        );
        summary
    }
}

/// One change to the grade book, as the grading service's event stream says it
/// (`GET /students` with `Accept: text/event-stream`; an addition to the original): the
/// event's name is what changed (one of [`GRADE_EVENTS`]), its data this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeChange {
    #[serde(rename = "StudentID")]
    pub student_id: i64,
    /// The grade added or deleted; absent for a student's own addition or deletion.
    #[serde(rename = "GradeID", default, skip_serializing_if = "Option::is_none")]
    pub grade_id: Option<i64>,
}

/// The names of the grading service's events.
pub const GRADE_EVENTS: [&str; 4] = [
    "student_added",
    "student_deleted",
    "grade_added",
    "grade_deleted",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_use_go_names_and_reject_unknown_types() {
        let grade: Grade =
            serde_json::from_str(r#"{"title":"Quiz 3","type":"Quiz","score":90}"#).unwrap();
        assert_eq!(
            grade,
            Grade {
                id: 0,
                title: "Quiz 3".into(),
                kind: GradeType::Quiz,
                score: 90.0,
                added: None,
            }
        );
        let err =
            serde_json::from_str::<Grade>(r#"{"Title":"x","Type":"Essay","Score":1}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown variant `Essay`, expected one of"),
            "{err}"
        );
        let err = serde_json::from_str::<Grade>(r#"{"Title":"x","Score":1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `Type`"), "{err}");
    }

    #[test]
    fn a_class_summary_is_worked_out_from_the_whole_class() {
        let student = |id, first: &str, last: &str, scores: &[f64]| Student {
            id,
            first_name: first.into(),
            last_name: last.into(),
            grades: scores
                .iter()
                .map(|&score| Grade {
                    id: 0,
                    title: "t".into(),
                    kind: GradeType::Quiz,
                    score,
                    added: None,
                })
                .collect(),
            average: None,
        };
        let class = vec![
            student(1, "Ada", "Lovelace", &[89.99]),
            student(2, "Alan", "Turing", &[]),
            student(3, "Grace", "hopper", &[100.0, 100.0]),
            student(4, "Edsger", "Dijkstra", &[0.0]),
            student(5, "Barbara", "Liskov", &[89.99]),
        ];
        let all = ClassSummary::of_class(&class, " ", StudentOrder::Average, 0, 10);
        assert_eq!(
            (all.students, all.matching, all.bands, all.ungraded),
            (5, 5, [1, 0, 0, 0, 0, 0, 0, 0, 2, 1], 1),
            "89.99 is in 80–89, 100 in 90–100; page 0 is the first"
        );
        let ids = |summary: ClassSummary| -> Vec<i64> {
            summary.page.unwrap().iter().map(|s| s.id).collect()
        };
        assert_eq!(
            ids(all.clone()),
            [3, 1, 5, 4, 2],
            "highest first, ties by ID, the ungraded last"
        );
        assert_eq!(all.page.unwrap()[0].average, Some(100.0));
        let by_name = ClassSummary::of_class(&class, "", StudentOrder::Name, 1, 2);
        assert_eq!(ids(by_name), [4, 3], "Dijkstra, then hopper in any case");
        let found = ClassSummary::of_class(&class, "LOVELACE, a", StudentOrder::Id, 1, 10);
        assert_eq!((found.matching, ids(found)), (1, vec![1]));
        let past = ClassSummary::of_class(&class, "", StudentOrder::Id, 3, 2);
        assert_eq!(ids(past.clone()), [5]);
        let past = ClassSummary::of_class(&[], "", StudentOrder::Id, 9, 2);
        assert_eq!((past.students, ids(past)), (0, vec![]));
    }

    #[test]
    fn the_average_is_the_mean_score() {
        let grade = |score| Grade {
            id: 0,
            title: "t".into(),
            kind: GradeType::Test,
            score,
            added: None,
        };
        assert_eq!(
            Student::average_of(&[grade(85.0), grade(94.0), grade(82.0)]),
            Some(87.0)
        );
        assert_eq!(Student::average_of(&[]), None);
    }
}
