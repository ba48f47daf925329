//! The portal's server functions: what its pages ask the server for. Each finds the
//! service it needs through the registry ([`crate::backend`]) and fails with a plain
//! message when that service is unavailable.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::wire::{
    grading::{Grade, Student},
    logs::LogRecord,
    registry::InstanceInfo,
};

/// How a grade submission went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GradeOutcome {
    Added(Grade),
    /// Refused: `field` is the form field at fault (`Title`, `Type`, `Score`), if one is.
    Invalid {
        field: Option<String>,
        reason: String,
    },
}

/// Every student, with grades and averages.
#[server]
pub async fn list_students() -> Result<Vec<Student>, ServerFnError> {
    use crate::{
        backend::{Target, get_json},
        wire::registry::GRADING_SERVICE,
    };
    get_json(Target::Service(GRADING_SERVICE), "/students".into()).await
}

/// Adds a grade from the "Add a Grade" form (`csrf`: see [`crate::teacher`]). Without
/// JavaScript (a plain form post) it answers with a redirect back to the student's page,
/// carrying a refusal in the query, or to the login page if a login is needed.
#[server]
pub async fn add_grade(
    student_id: i64,
    title: String,
    kind: String,
    score: String,
    csrf: String,
) -> Result<GradeOutcome, ServerFnError> {
    use crate::wire::grading::GradeType;
    use crate::{
        backend::{Target, backend, reason},
        wire::registry::GRADING_SERVICE,
    };

    authorized(&csrf, &format!("/students/{student_id}"))?;

    let outcome = 'outcome: {
        let Some(kind) = GradeType::parse(kind.trim()) else {
            break 'outcome GradeOutcome::Invalid {
                field: Some("Type".into()),
                reason: "Type must be one of Test, Quiz, Exam, Homework".into(),
            };
        };
        let score = match score.trim().parse::<f64>() {
            Ok(score) if score.is_finite() && (0.0..=100.0).contains(&score) => score,
            _ => {
                break 'outcome GradeOutcome::Invalid {
                    field: Some("Score".into()),
                    reason: "Score must be a number from 0 to 100".into(),
                };
            }
        };
        let grade = Grade {
            id: 0,
            title,
            kind,
            score,
            added: None,
        };
        let body = serde_json::to_string(&grade)?;
        let reply = backend()?
            .send(
                Target::Service(GRADING_SERVICE),
                http::Method::POST,
                format!("/students/{student_id}/grades"),
                Some(body),
            )
            .await
            .map_err(ServerFnError::new)?;
        match reply.status {
            201 => GradeOutcome::Added(serde_json::from_slice(&reply.body)?),
            400 | 404 => {
                let reason = reason(&reply.body);
                let field = ["Title", "Type", "Score"]
                    .into_iter()
                    .find(|field| reason.starts_with(field))
                    .map(str::to_owned);
                GradeOutcome::Invalid { field, reason }
            }
            status => {
                return Err(ServerFnError::new(format!(
                    "{GRADING_SERVICE} answered {status}: {}",
                    reason(&reply.body)
                )));
            }
        }
    };

    if crate::plain_form::posted() {
        let page = format!("/students/{student_id}");
        match &outcome {
            GradeOutcome::Added(_) => leptos_axum::redirect(&page),
            GradeOutcome::Invalid { field, reason } => leptos_axum::redirect(&format!(
                "{page}?field={}&error={}#add-grade",
                crate::format::url_encode(field.as_deref().unwrap_or("")),
                crate::format::url_encode(reason)
            )),
        }
    }
    Ok(outcome)
}

/// Deletes one of a student's grades (`csrf`: see [`crate::teacher`]). Without
/// JavaScript it answers with a redirect back to the student's page.
#[server]
pub async fn delete_grade(
    student_id: i64,
    grade_id: i64,
    csrf: String,
) -> Result<(), ServerFnError> {
    use crate::{
        backend::{Target, backend, reason},
        wire::registry::GRADING_SERVICE,
    };

    let page = format!("/students/{student_id}");
    authorized(&csrf, &page)?;
    let deleted = async {
        let reply = backend()?
            .send(
                Target::Service(GRADING_SERVICE),
                http::Method::DELETE,
                format!("/students/{student_id}/grades/{grade_id}"),
                None,
            )
            .await
            .map_err(ServerFnError::new)?;
        match reply.status {
            // Already gone is as good as deleted.
            204 | 404 => Ok(()),
            status => Err(ServerFnError::new(format!(
                "{GRADING_SERVICE} answered {status}: {}",
                reason(&reply.body)
            ))),
        }
    }
    .await;
    if crate::plain_form::posted() {
        match &deleted {
            Ok(()) => leptos_axum::redirect(&page),
            // Shown by the page as the form's error.
            Err(err) => leptos_axum::redirect(&format!(
                "{page}?field=&error={}#add-grade",
                crate::format::url_encode(&crate::format::server_error(err))
            )),
        }
    }
    deleted
}

/// Adds a student from the Grade Book's "Add a student" form (`csrf`: see
/// [`crate::teacher`]), a plain form post: it answers with a redirect to the new
/// student's page, or back to the Grade Book with the refusal in the query (`field`:
/// `first`, `last` or empty), or to the login page if a login is needed. Called by a
/// program, it answers the new student's id.
#[server]
pub async fn add_student(
    first_name: String,
    last_name: String,
    csrf: String,
) -> Result<i64, ServerFnError> {
    use crate::{
        backend::{Target, backend, reason},
        wire::{grading::NewStudent, registry::GRADING_SERVICE},
    };

    authorized(&csrf, "/students")?;
    let outcome: Result<i64, (&str, String)> = async {
        let body = serde_json::to_string(&NewStudent {
            first_name,
            last_name,
        })
        .map_err(|err| ("", err.to_string()))?;
        let reply = backend()
            .map_err(|err| ("", crate::format::server_error(&err)))?
            .send(
                Target::Service(GRADING_SERVICE),
                http::Method::POST,
                "/students".into(),
                Some(body),
            )
            .await
            .map_err(|err| ("", err.to_string()))?;
        match reply.status {
            201 => serde_json::from_slice::<Student>(&reply.body)
                .map(|student| student.id)
                .map_err(|err| ("", format!("{GRADING_SERVICE} sent unreadable JSON: {err}"))),
            400 => {
                // The service names its fields as the wire does; the form, as people do.
                let reason = reason(&reply.body)
                    .replacen("FirstName", "First name", 1)
                    .replacen("LastName", "Last name", 1);
                let field = if reason.starts_with("First") {
                    "first"
                } else if reason.starts_with("Last") {
                    "last"
                } else {
                    ""
                };
                Err((field, reason))
            }
            status => Err((
                "",
                format!(
                    "{GRADING_SERVICE} answered {status}: {}",
                    reason(&reply.body)
                ),
            )),
        }
    }
    .await;
    if crate::plain_form::posted() {
        match &outcome {
            Ok(id) => leptos_axum::redirect(&format!("/students/{id}")),
            Err((field, reason)) => leptos_axum::redirect(&format!(
                "/students?field={field}&error={}#add-student",
                crate::format::url_encode(reason)
            )),
        }
    }
    outcome.map_err(|(_, reason)| ServerFnError::new(reason))
}

/// Whether the current request may change grades; a plain form post that may not is
/// sent to the login page, to come back to `page`.
#[cfg(feature = "ssr")]
fn authorized(csrf: &str, page: &str) -> Result<(), ServerFnError> {
    let result = crate::teacher::server_side::authorize(csrf);
    if result.is_err() && crate::plain_form::posted() {
        leptos_axum::redirect(&format!("/login?next={}", crate::format::url_encode(page)));
    }
    result
}

/// Every instance the registry knows, as it lists them.
#[server]
pub async fn registry_instances() -> Result<Vec<InstanceInfo>, ServerFnError> {
    use crate::backend::{Target, get_json};
    get_json(Target::Registry, "/services".into()).await
}

/// The newest log records (at most 200), filtered by service and text, from every log
/// service instance (each record is stored by one of them), merged newest first.
#[server]
pub async fn recent_logs(service: String, text: String) -> Result<Vec<LogRecord>, ServerFnError> {
    use crate::{backend::get_json_from_every, wire::registry::LOG_SERVICE};
    let path = format!(
        "/log?limit={RECENT_LOGS}&service={}&text={}",
        crate::format::url_encode(service.trim()),
        crate::format::url_encode(text.trim())
    );
    let answers: Vec<Vec<LogRecord>> = get_json_from_every(LOG_SERVICE, path).await?;
    Ok(crate::wire::logs::newest_first(answers, RECENT_LOGS))
}

/// How many records the logs page shows at first.
pub const RECENT_LOGS: usize = 200;
