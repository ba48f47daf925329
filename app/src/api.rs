//! The portal's server functions: what its pages ask the server for. Each finds the
//! service it needs through the registry ([`crate::backend`]) and fails with a plain
//! message when that service is unavailable.

use leptos::prelude::*;

use crate::plain_form::FormOutcome;
use crate::wire::{grading::Student, logs::LogRecord, registry::InstanceInfo};

/// Every student, with grades and averages.
#[server]
pub async fn list_students() -> Result<Vec<Student>, ServerFnError> {
    use crate::{
        backend::{Target, get_json},
        wire::registry::GRADING_SERVICE,
    };
    let mut class: Vec<Student> =
        get_json(Target::Service(GRADING_SERVICE), "/students".into()).await?;
    // The original's grading service sends no `Average`: worked out here for it.
    for student in class.iter_mut().filter(|s| s.average.is_none()) {
        student.average = Student::average_of(&student.grades);
    }
    Ok(class)
}

/// Adds a grade from the "Add a Grade" form (`csrf`: see [`crate::teacher`]): done, the
/// page is fetched again; refused, the field at fault is `title`, `kind` or `score`.
/// Without JavaScript (a plain form post) it answers with a redirect back to the
/// student's page, carrying a refusal in the query, or to the login page if a login is
/// needed.
#[server]
pub async fn add_grade(
    student_id: i64,
    title: String,
    kind: String,
    score: String,
    csrf: String,
) -> Result<FormOutcome, ServerFnError> {
    use crate::wire::grading::{Grade, GradeType};
    use crate::{
        backend::{Target, backend, reason},
        wire::registry::GRADING_SERVICE,
    };

    authorized(&csrf, &format!("/students/{student_id}"))?;

    let outcome = 'outcome: {
        let Some(kind) = GradeType::parse(kind.trim()) else {
            break 'outcome FormOutcome::Refused {
                field: Some("kind".into()),
                reason: "Type must be one of Test, Quiz, Exam, Homework".into(),
            };
        };
        let score = match score.trim().parse::<f64>() {
            Ok(score) if score.is_finite() && (0.0..=100.0).contains(&score) => score,
            _ => {
                break 'outcome FormOutcome::Refused {
                    field: Some("score".into()),
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
            201 => {
                let grade: Grade = serde_json::from_slice(&reply.body)?;
                FormOutcome::Done {
                    said: format!("Added {} ({}).", grade.title, grade.kind.as_str()),
                    next: None,
                }
            }
            400 | 404 => {
                // The service's reason starts with its name for the field.
                let reason = reason(&reply.body);
                let field = [("Title", "title"), ("Type", "kind"), ("Score", "score")]
                    .into_iter()
                    .find(|(said, _)| reason.starts_with(said))
                    .map(|(_, field)| field.to_owned());
                FormOutcome::Refused { field, reason }
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
            FormOutcome::Done { .. } => leptos_axum::redirect(&page),
            FormOutcome::Refused { field, reason } => leptos_axum::redirect(&format!(
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
/// [`crate::teacher`]): done, the next page is the new student's; refused, the field at
/// fault is `first_name` or `last_name`, if one is. Without JavaScript it answers with a
/// redirect to the new student's page, or back to the Grade Book with the refusal in the
/// query, or to the login page if a login is needed.
#[server]
pub async fn add_student(
    first_name: String,
    last_name: String,
    csrf: String,
) -> Result<FormOutcome, ServerFnError> {
    use crate::{
        backend::{Target, backend, reason},
        wire::{grading::NewStudent, registry::GRADING_SERVICE},
    };

    authorized(&csrf, "/students")?;
    // Refused (the service's 400): the field at fault, if one is, and the reason;
    // failed (the service unreachable, or an answer unreadable): `None` and the reason.
    let outcome: Result<Student, (Option<&str>, String)> = async {
        let body = serde_json::to_string(&NewStudent {
            first_name,
            last_name,
        })
        .map_err(|err| (None, err.to_string()))?;
        let reply = backend()
            .map_err(|err| (None, crate::format::server_error(&err)))?
            .send(
                Target::Service(GRADING_SERVICE),
                http::Method::POST,
                "/students".into(),
                Some(body),
            )
            .await
            .map_err(|err| (None, err.to_string()))?;
        match reply.status {
            201 => serde_json::from_slice::<Student>(&reply.body).map_err(|err| {
                (
                    None,
                    format!("{GRADING_SERVICE} sent unreadable JSON: {err}"),
                )
            }),
            400 => {
                // The service names its fields as the wire does; the form, as people do.
                let reason = reason(&reply.body)
                    .replacen("FirstName", "First name", 1)
                    .replacen("LastName", "Last name", 1);
                let field = if reason.starts_with("First") {
                    "first_name"
                } else if reason.starts_with("Last") {
                    "last_name"
                } else {
                    ""
                };
                Err((Some(field), reason))
            }
            status => Err((
                None,
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
            Ok(student) => leptos_axum::redirect(&format!("/students/{}", student.id)),
            Err((field, reason)) => leptos_axum::redirect(&format!(
                "/students?field={}&error={}#add-student",
                field.unwrap_or(""),
                crate::format::url_encode(reason)
            )),
        }
    }
    match outcome {
        Ok(student) => Ok(FormOutcome::Done {
            said: format!("Added {}, {}.", student.last_name, student.first_name),
            next: Some(format!("/students/{}", student.id)),
        }),
        Err((Some(field), reason)) => Ok(FormOutcome::Refused {
            field: (!field.is_empty()).then(|| field.to_owned()),
            reason,
        }),
        Err((None, reason)) => Err(ServerFnError::new(reason)),
    }
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
