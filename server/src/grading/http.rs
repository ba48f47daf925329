//! The grading service's HTTP API (the original's calls first):
//!
//! | call | answer |
//! | --- | --- |
//! | `GET /students` | 200, every student with grades and average |
//! | `GET /students/{id}` | 200, one student; unknown or non-numeric id: 404 |
//! | `POST /students/{id}/grades`, JSON `Grade` | 201, the stored grade; unknown student: 404; bad grade: 400 |
//! | `POST /students`, JSON `{FirstName, LastName}` | 201, the new student |
//! | `DELETE /students/{id}` | 204, the student and their grades deleted; unknown: 404 |
//! | `DELETE /students/{id}/grades/{grade}` | 204; unknown: 404 |
//!
//! Both additions take an `Idempotency-Key` header: the key is stored with the row, and
//! the same key again (a retry) stores nothing and is answered with the first answer (with
//! `Idempotent-Replayed: true`), or 422 if the key came with another addition.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::de::DeserializeOwned;
use wire::grading::{Grade, NewStudent, Student};

use super::{GradingService, store::Added, validate};
use crate::http::{RequestBody, error::ApiError, routes::Routes};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(service: GradingService) -> Routes {
    Routes::new()
        .route("/students", get(students).post(add_student))
        .route("/students/{id}", get(student).delete(delete_student))
        .route("/students/{id}/grades", post(add_grade))
        .route("/students/{id}/grades/{grade}", delete(delete_grade))
        .with_state(service)
}

async fn students(State(service): State<GradingService>) -> Result<Response, ApiError> {
    let students = service.store.students().await.map_err(unavailable)?;
    Ok(Json(&*students).into_response())
}

async fn student(
    State(service): State<GradingService>,
    Path(id): Path<String>,
) -> Result<Json<Student>, ApiError> {
    let id = student_id(&id)?;
    let student = service.store.student(id).await.map_err(unavailable)?;
    student.map(Json).ok_or_else(|| no_student(id))
}

async fn add_student(
    State(service): State<GradingService>,
    headers: HeaderMap,
    RequestBody(body): RequestBody<MAX_BODY_BYTES>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let new: NewStudent = json(&body, "NewStudent")?;
    let new = validate::student(new)?;
    let added = service
        .store
        .add_student(&new, key)
        .await
        .map_err(unavailable)?;
    if let Added::Stored(student) = &added {
        tracing::info!(
            id = student.id,
            "student added: {}, {}",
            student.last_name,
            student.first_name
        );
    }
    created(added)
}

async fn add_grade(
    State(service): State<GradingService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody<MAX_BODY_BYTES>,
) -> Result<Response, ApiError> {
    let id = student_id(&id)?;
    let key = idempotency_key(&headers)?;
    let grade: Grade = json(&body, "Grade")?;
    let grade = validate::grade(grade)?;
    let added = service
        .store
        .add_grade(id, &grade, key)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_student(id))?;
    if let Added::Stored(stored) = &added {
        tracing::info!(
            student = id,
            grade = stored.id,
            "grade added: {} ({}) {}",
            stored.title,
            stored.kind.as_str(),
            stored.score
        );
    }
    created(added)
}

/// The header a client names one addition with, so that sending it again (a retry after
/// a time-out, perhaps to another instance) stores nothing twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Said on the answer to a repeat: the first answer, given again.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest idempotency key taken.
pub const MAX_KEY_BYTES: usize = 255;

/// The request's `Idempotency-Key`, if any: 1 to [`MAX_KEY_BYTES`] visible ASCII
/// characters, else a 400 saying so.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_KEY_BYTES
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key))
        }
        _ => Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"
        ))),
    }
}

/// 201 with what was added; a repeat's first answer, marked `Idempotent-Replayed:
/// true`; or 422 when the key named another addition.
fn created<T: serde::Serialize>(added: Added<T>) -> Result<Response, ApiError> {
    match added {
        Added::Stored(value) => Ok((StatusCode::CREATED, Json(value)).into_response()),
        Added::Repeated(value) => {
            Ok((StatusCode::CREATED, [(REPLAYED, "true")], Json(value)).into_response())
        }
        Added::KeyTaken => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was sent with another addition; a key names one \
             addition: send a new key for a new one",
        )),
    }
}

async fn delete_student(
    State(service): State<GradingService>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = student_id(&id)?;
    if !service
        .store
        .delete_student(id)
        .await
        .map_err(unavailable)?
    {
        return Err(no_student(id));
    }
    tracing::info!(student = id, "student deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_grade(
    State(service): State<GradingService>,
    Path((id, grade)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = student_id(&id)?;
    let grade_id: i64 = grade
        .parse()
        .map_err(|_| ApiError::not_found(format!("no grade with ID {grade:?}")))?;
    if !service
        .store
        .delete_grade(id, grade_id)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::not_found(format!(
            "student {id} has no grade with ID {grade_id}"
        )));
    }
    tracing::info!(student = id, grade = grade_id, "grade deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn student_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no student with ID {text:?}")))
}

fn no_student(id: i64) -> ApiError {
    ApiError::not_found(format!("no student with ID {id}"))
}

fn json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    if body.trim_ascii().is_empty() {
        return Err(ApiError::bad_request(format!(
            "empty body: send a JSON {what}"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("invalid {what} JSON: {err}")))
}

/// A database failure: its cause (the driver's text) is logged here, once; the client is
/// told only that the database is unavailable, and that nothing was changed.
fn unavailable(err: sqlx::Error) -> ApiError {
    tracing::error!(%err, "the grade database failed");
    ApiError::unavailable("the grade database is unavailable; try again shortly")
}
