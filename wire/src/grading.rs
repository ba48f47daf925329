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

/// One grade. `ID` is this project's addition (0 in a new grade); Go clients ignore it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Grade {
    #[serde(rename = "ID", default)]
    pub id: i64,
    #[serde(rename = "Title")]
    pub title: String,
    #[serde(rename = "Type")]
    pub kind: GradeType,
    #[serde(rename = "Score")]
    pub score: f64,
}

crate::go_json!(Grade, &["ID", "Title", "Type", "Score"]);

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
                score: 90.0
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
    fn the_average_is_the_mean_score() {
        let grade = |score| Grade {
            id: 0,
            title: "t".into(),
            kind: GradeType::Test,
            score,
        };
        assert_eq!(
            Student::average_of(&[grade(85.0), grade(94.0), grade(82.0)]),
            Some(87.0)
        );
        assert_eq!(Student::average_of(&[]), None);
    }
}
