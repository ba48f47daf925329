//! What the grading service accepts: grades and students checked field by field, with a
//! short reason for the 400 answer when something is off.

use wire::grading::{Grade, NewStudent};

/// Longest grade title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A grade to store: `Title` 1 to 200 characters (trimmed), `Score` a finite number from
/// 0 to 100. (`Type` is checked when the JSON is read.)
pub fn grade(grade: Grade) -> Result<Grade, String> {
    let title = grade.title.trim();
    if title.is_empty() {
        return Err("Title must not be empty".into());
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("Title is at most {MAX_TITLE_CHARS} characters"));
    }
    if title.chars().any(char::is_control) {
        return Err("Title must not contain control characters".into());
    }
    if !grade.score.is_finite() || !(0.0..=100.0).contains(&grade.score) {
        return Err(format!(
            "Score must be a number from 0 to 100, got {}",
            grade.score
        ));
    }
    Ok(Grade {
        id: 0,
        title: title.to_owned(),
        ..grade
    })
}

/// A student to add: both names non-empty (trimmed), at most 100 characters.
pub fn student(new: NewStudent) -> Result<NewStudent, String> {
    Ok(NewStudent {
        first_name: name("FirstName", &new.first_name)?,
        last_name: name("LastName", &new.last_name)?,
    })
}

fn name(field: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{field} is at most {MAX_NAME_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
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
            let err = grade(input.clone()).unwrap_err();
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
        assert!(student(s("", "L")).unwrap_err().starts_with("FirstName"));
        assert!(student(s("A", " ")).unwrap_err().starts_with("LastName"));
        assert!(
            student(s(&"a".repeat(101), "L"))
                .unwrap_err()
                .contains("at most")
        );
        assert!(student(s("A\u{0}", "L")).unwrap_err().contains("control"));
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
