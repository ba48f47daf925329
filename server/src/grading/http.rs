//! The grading service's HTTP API (the original's calls first):
//!
//! | call | answer |
//! | --- | --- |
//! | `GET /students` | 200, every student with grades and average |
//! | `GET /students?q=&sort=&page=&per_page=` | 200, one page of the students whose name contains `q` (any case), by `id`, `name` or `average`, `per_page` 1–500 (50); `X-Total-Count`: how many match; a bad parameter: 400 |
//! | `GET /students` with `Accept: text/event-stream` | each change stored, live: `student_added`, `student_deleted`, `grade_added`, `grade_deleted`, data `{StudentID, GradeID}` |
//! | `GET /students/summary?q=` | 200, `{Students, Matching, Bands, Ungraded}`: the class's averages by 10-point band, counted by the database; with any of `sort`, `page` or `per_page`, also `Page`, that page of the matching students (one call for a grade book view) |
//! | `GET /students/{id}` | 200, one student; unknown or non-numeric id: 404 |
//! | `POST /students/{id}/grades`, JSON `Grade` | 201, the stored grade; unknown student: 404; bad grade: 400 |
//! | `POST /students`, JSON `{FirstName, LastName}` | 201, the new student |
//! | `DELETE /students/{id}` | 204, the student and their grades deleted; unknown: 404 |
//! | `DELETE /students/{id}/grades/{grade}` | 204; unknown: 404 |
//!
//! Both additions take an `Idempotency-Key` header: the key is stored with the row, and
//! the same key again (a retry) stores nothing and is answered with the first answer (with
//! `Idempotent-Replayed: true`), or 422 if the key came with another addition.

use std::{collections::BTreeMap, convert::Infallible};

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{delete, get, post},
};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast::error::RecvError;
use wire::grading::{
    ClassSummary, DEFAULT_PER_PAGE, Grade, MAX_PER_PAGE, MAX_SEARCH_CHARS, NewStudent, Student,
    StudentOrder, TOTAL_COUNT_HEADER,
};

use super::{
    GradingService,
    store::{Added, PageQuery},
    validate,
};
use crate::http::{RequestBody, error::ApiError, routes::Routes};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(service: GradingService) -> Routes {
    Routes::new()
        .route("/students", get(students).post(add_student))
        .route("/students/summary", get(summary))
        .route("/students/{id}", get(student).delete(delete_student))
        .route("/students/{id}/grades", post(add_grade))
        .route("/students/{id}/grades/{grade}", delete(delete_grade))
        .with_state(service)
}

/// `GET /students`: every student, as the original answers; with any of `q`, `sort`,
/// `page` or `per_page`, one page of the students matching `q`, in `sort`'s order, and
/// how many match in `X-Total-Count`.
async fn students(
    State(service): State<GradingService>,
    headers: HeaderMap,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    if crate::http::event_stream::wanted(&headers) {
        return Ok(Sse::new(changes(service))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let Query(params) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let Some(query) = page_query(&params)? else {
        let students = service.store.students().await.map_err(unavailable)?;
        return Ok(Json(&*students).into_response());
    };
    let (matching, page) = service.store.page(&query).await.map_err(unavailable)?;
    Ok(([(TOTAL_COUNT_HEADER, matching.to_string())], Json(&*page)).into_response())
}

/// Every change stored from now on, as events named for what changed (see
/// [`wire::grading::GRADE_EVENTS`]); a subscriber that falls behind is told how many it
/// missed (`missed`). Ends when the service shuts down.
fn changes(service: GradingService) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = service.subscribe();
    futures::stream::unfold(changes, |mut changes| async move {
        let event = match changes.recv().await {
            Ok((name, change)) => Event::default()
                .event(name)
                .data(serde_json::to_string(&change).expect("a change serialises")),
            Err(RecvError::Lagged(missed)) => Event::default()
                .event("missed")
                .data(format!(r#"{{"Missed":{missed}}}"#)),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), changes))
    })
    .take_until(service.stopping().cancelled_owned())
}

/// `GET /students/summary?q=`: the class's size, how many match `q`, and its averages by
/// band; with paging parameters, the page too.
async fn summary(
    State(service): State<GradingService>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<ClassSummary>, ApiError> {
    let Query(params) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let search = search(&params)?;
    let page = page_query(&params)?.filter(|_| {
        ["sort", "page", "per_page"]
            .iter()
            .any(|name| params.contains_key(*name))
    });
    let mut summary = service.store.summary(&search).await.map_err(unavailable)?;
    if let Some(query) = page {
        let (matching, page) = service.store.page(&query).await.map_err(unavailable)?;
        // The page's own count, so the two agree even if a write came in between.
        summary.matching = matching;
        summary.page = Some(page.to_vec());
    }
    Ok(Json(summary))
}

/// The search in `q`, checked: at most [`MAX_SEARCH_CHARS`] characters.
fn search(params: &BTreeMap<String, String>) -> Result<String, ApiError> {
    let q = params.get("q").map(|q| q.trim()).unwrap_or_default();
    if q.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::bad_request(format!(
            "q is {} characters: at most {MAX_SEARCH_CHARS} are searched",
            q.chars().count()
        )));
    }
    Ok(q.to_owned())
}

/// The page asked for, if any paging parameter is present (the original's call has none).
fn page_query(params: &BTreeMap<String, String>) -> Result<Option<PageQuery>, ApiError> {
    if !["q", "sort", "page", "per_page"]
        .iter()
        .any(|name| params.contains_key(*name))
    {
        return Ok(None);
    }
    let sort = params.get("sort").map(String::as_str).unwrap_or_default();
    let order = StudentOrder::parse(sort).ok_or_else(|| {
        ApiError::bad_request(format!("sort is {sort:?}: use id, name or average"))
    })?;
    let number = |name: &str, default: u32, max: u32| -> Result<u32, ApiError> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name} is {text:?}: use a whole number from 1 to {max}"
                    ))
                }),
        }
    };
    Ok(Some(PageQuery {
        search: search(params)?,
        order,
        page: number("page", 1, 1_000_000)?,
        per_page: number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?,
    }))
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
        service.changed("student_added", student.id, None);
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
        service.changed("grade_added", id, Some(stored.id));
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
    service.changed("student_deleted", id, None);
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
    service.changed("grade_deleted", id, Some(grade_id));
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
