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

use app::wire::grading::{Grade, NewStudent, Student};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::de::DeserializeOwned;

use super::{GradingService, validate};
use crate::http::{
    RequestBody,
    error::{ApiError, method_not_allowed},
    routes::Routes,
};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(service: GradingService) -> Routes {
    Routes::new()
        .route(
            "/students",
            get(students)
                .post(add_student)
                .fallback(|| async { method_not_allowed("GET, POST") }),
        )
        .route(
            "/students/{id}",
            get(student)
                .delete(delete_student)
                .fallback(|| async { method_not_allowed("GET, DELETE") }),
        )
        .route(
            "/students/{id}/grades",
            post(add_grade).fallback(|| async { method_not_allowed("POST") }),
        )
        .route(
            "/students/{id}/grades/{grade}",
            delete(delete_grade).fallback(|| async { method_not_allowed("DELETE") }),
        )
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
    RequestBody(body): RequestBody<MAX_BODY_BYTES>,
) -> Result<(StatusCode, Json<Student>), ApiError> {
    let new: NewStudent = json(&body, "NewStudent")?;
    let new = validate::student(new).map_err(ApiError::bad_request)?;
    let student = service.store.add_student(&new).await.map_err(unavailable)?;
    tracing::info!(
        id = student.id,
        "student added: {}, {}",
        student.last_name,
        student.first_name
    );
    Ok((StatusCode::CREATED, Json(student)))
}

async fn add_grade(
    State(service): State<GradingService>,
    Path(id): Path<String>,
    RequestBody(body): RequestBody<MAX_BODY_BYTES>,
) -> Result<(StatusCode, Json<Grade>), ApiError> {
    let id = student_id(&id)?;
    let grade: Grade = json(&body, "Grade")?;
    let grade = validate::grade(grade).map_err(ApiError::bad_request)?;
    let stored = service
        .store
        .add_grade(id, &grade)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_student(id))?;
    tracing::info!(
        student = id,
        grade = stored.id,
        "grade added: {} ({}) {}",
        stored.title,
        stored.kind.as_str(),
        stored.score
    );
    Ok((StatusCode::CREATED, Json(stored)))
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
