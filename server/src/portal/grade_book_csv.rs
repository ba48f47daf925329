//! `GET /students.csv`: the whole grade book as a CSV file a spreadsheet opens as it is
//! (RFC 4180, UTF-8), read from the grading service through the portal's providers.
//!
//! One row per grade, after a header row: `StudentID,LastName,FirstName,GradeID,Title,
//! Type,Score,Added` (`Added`: when the grade was stored, RFC 3339; empty for older grades). A student without grades has one row with the grade's cells empty, so
//! nobody is missing from the sheet. A cell that a spreadsheet would take for a formula
//! (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, so
//! a grade title can never run code on the teacher's machine.

use std::sync::Arc;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use wire::{grading::Student, registry::GRADING_SERVICE};

use super::{PortalBackend, backend::MAX_ANSWER_BYTES};
use crate::http::{
    ApiError,
    client::{self, ClientError},
};

/// The CSV's header row.
pub const HEADER: &str = "StudentID,LastName,FirstName,GradeID,Title,Type,Score,Added";

/// `GET /students.csv`.
pub async fn download(State(backend): State<Arc<PortalBackend>>) -> Result<Response, ApiError> {
    let students: Vec<Student> = backend.grading_students().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"grade-book.csv\"",
            ),
        ],
        csv(&students),
    )
        .into_response())
}

/// The grade book as CSV text, `\r\n` after every row (as RFC 4180 has it).
pub fn csv(students: &[Student]) -> String {
    let mut out = String::with_capacity(64 * (students.len() + 1));
    out.push_str(HEADER);
    out.push_str("\r\n");
    for student in students {
        let who = [
            student.id.to_string(),
            cell(&student.last_name),
            cell(&student.first_name),
        ]
        .join(",");
        if student.grades.is_empty() {
            out.push_str(&who);
            out.push_str(",,,,,\r\n");
        }
        for grade in &student.grades {
            out.push_str(&who);
            out.push_str(&format!(
                ",{},{},{},{},{}\r\n",
                grade.id,
                cell(&grade.title),
                grade.kind.as_str(),
                grade.score,
                cell(grade.added.as_deref().unwrap_or_default())
            ));
        }
    }
    out
}

/// A text cell: quoted when it holds a comma, a quote or a line break (quotes doubled),
/// and defused when a spreadsheet would read it as a formula.
fn cell(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

impl PortalBackend {
    /// Every student, from a grading service instance (with failover).
    async fn grading_students(&self) -> Result<Vec<Student>, ApiError> {
        let calls = self.calls.clone();
        self.providers
            .call(GRADING_SERVICE, |base: String| {
                let request = calls.get(format!("{base}/students")).send();
                async move {
                    let response = request.await?;
                    if !response.status().is_success() {
                        return Err(ClientError::refusal(response, 4096).await);
                    }
                    let body = client::read_limited(response, MAX_ANSWER_BYTES).await?;
                    serde_json::from_slice::<Vec<Student>>(&body)
                        .map_err(|err| ClientError::Unreadable(err.to_string()))
                }
            })
            .await
            .map_err(|err| {
                tracing::warn!(%err, "the grade book could not be read for its CSV");
                ApiError::unavailable(format!(
                    "the grade book cannot be read: {GRADING_SERVICE} is unavailable"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use wire::grading::{Grade, GradeType};

    use super::*;

    #[test]
    fn one_row_a_grade_quoted_and_defused_where_needed() {
        let students = vec![
            Student {
                id: 1,
                first_name: "Nick".into(),
                last_name: "Carter, Jr.".into(),
                grades: vec![
                    Grade {
                        id: 10,
                        title: "Quiz \"1\"".into(),
                        kind: GradeType::Quiz,
                        score: 85.5,
                        added: None,
                    },
                    Grade {
                        id: 11,
                        title: "=HYPERLINK(\"x\")".into(),
                        kind: GradeType::Exam,
                        score: 90.0,
                        added: Some("2026-12-05T09:30:00Z".into()),
                    },
                ],
                average: Some(87.75),
            },
            Student {
                id: 2,
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                grades: vec![],
                average: None,
            },
        ];
        assert_eq!(
            csv(&students),
            "StudentID,LastName,FirstName,GradeID,Title,Type,Score,Added\r\n\
             1,\"Carter, Jr.\",Nick,10,\"Quiz \"\"1\"\"\",Quiz,85.5,\r\n\
             1,\"Carter, Jr.\",Nick,11,\"'=HYPERLINK(\"\"x\"\")\",Exam,90,2026-12-05T09:30:00Z\r\n\
             2,Lovelace,Ada,,,,,\r\n"
        );
    }
}
