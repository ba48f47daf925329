//! What the grading service accepts: grades and students checked field by field, with a
//! short reason for the 400 answer when something is off.

use wire::grading::{Grade, NewStudent};

/// Longest grade title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a grade or a student is refused: what to fix, the reason of the 400 answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must not contain control characters")]
    Control { field: &'static str },
    #[error("Score must be a number from 0 to 100, got {0}")]
    Score(f64),
}

/// A refused grade or student is the client's to fix.
impl From<Invalid> for crate::http::ApiError {
    fn from(err: Invalid) -> crate::http::ApiError {
        crate::http::ApiError::bad_request(crate::errors::report(&err))
    }
}

/// A grade to store: `Title` 1 to 200 characters (trimmed), `Score` a finite number from
/// 0 to 100. (`Type` is checked when the JSON is read.)
///
/// # Errors
/// Why the grade is refused, for a 400.
pub fn grade(grade: Grade) -> Result<Grade, Invalid> {
    let title = text("Title", &grade.title, MAX_TITLE_CHARS)?;
    if !grade.score.is_finite() || !(0.0..=100.0).contains(&grade.score) {
        return Err(Invalid::Score(grade.score));
    }
    Ok(Grade {
        id: 0,
        title,
        // The service says when it was stored.
        added: None,
        ..grade
    })
}

/// A student to add: both names non-empty (trimmed), at most 100 characters.
///
/// # Errors
/// Why the student is refused, for a 400.
pub fn student(new: NewStudent) -> Result<NewStudent, Invalid> {
    Ok(NewStudent {
        first_name: text("FirstName", &new.first_name, MAX_NAME_CHARS)?,
        last_name: text("LastName", &new.last_name, MAX_NAME_CHARS)?,
    })
}

/// `value` trimmed, if it is not empty, at most `max` characters and without control
/// characters.
fn text(field: &'static str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::Empty { field });
    }
    if value.chars().count() > max {
        return Err(Invalid::TooLong { field, max });
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::Control { field });
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::grading::GradeType;

    fn g(title: &str, score: f64) -> Grade {
        Grade {
            id: 7,
            title: title.into(),
            kind: GradeType::Quiz,
            score,
            added: None,
        }
    }

    #[test]
    fn every_grade_rule_has_a_failing_case() {
        assert_eq!(
            grade(g(" Quiz 3 ", 0.0)).unwrap(),
            g("Quiz 3", 0.0).with_id(0)
        );
        assert!(grade(g("Quiz", 100.0)).is_ok());
        for (input, reason) in [
            (g("", 50.0), "Title must not be empty"),
            (g("   ", 50.0), "Title must not be empty"),
            (g(&"t".repeat(201), 50.0), "at most 200"),
            (g("a\nb", 50.0), "control characters"),
            (g("Quiz", -0.5), "from 0 to 100"),
            (g("Quiz", 100.01), "from 0 to 100"),
            (g("Quiz", f64::NAN), "from 0 to 100"),
            (g("Quiz", f64::INFINITY), "from 0 to 100"),
        ] {
            let err = grade(input.clone()).unwrap_err().to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
        }
    }

    #[test]
    fn every_name_rule_has_a_failing_case() {
        let s = |first: &str, last: &str| NewStudent {
            first_name: first.into(),
            last_name: last.into(),
        };
        assert_eq!(
            student(s(" Ada ", "Lovelace")).unwrap(),
            s("Ada", "Lovelace")
        );
        assert!(
            student(s("", "L"))
                .unwrap_err()
                .to_string()
                .starts_with("FirstName")
        );
        assert!(
            student(s("A", " "))
                .unwrap_err()
                .to_string()
                .starts_with("LastName")
        );
        assert!(
            student(s(&"a".repeat(101), "L"))
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
        assert!(
            student(s("A\u{0}", "L"))
                .unwrap_err()
                .to_string()
                .contains("control")
        );
    }

    trait WithId {
        fn with_id(self, id: i64) -> Self;
    }
    impl WithId for Grade {
        fn with_id(mut self, id: i64) -> Self {
            self.id = id;
            self
        }
    }
}
