//! The bench binary's helper modes, run as their own processes so that they do not share
//! a CPU budget with the benchmark driver:
//! - `bench bare --addr A --body FILE`: a bare axum handler answering every GET with the
//!   file's bytes (the baseline for registry lookups);
//! - `bench stub --addr A --count N`: answers `GET /hb/{i}` with 200 for N instances and
//!   counts the checks each receives (`GET /stats`).

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

fn arg(args: &[String], name: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| panic!("missing {name}"))
}

pub async fn bare(args: &[String]) {
    let body = Bytes::from(std::fs::read(arg(args, "--body")).unwrap());
    let app = Router::new().route(
        "/services/{name}",
        get(move |Path(_name): Path<String>| {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(arg(args, "--addr"))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}

pub async fn stub(args: &[String]) {
    let count: usize = arg(args, "--count").parse().unwrap();
    let hits: Arc<Vec<AtomicU32>> = Arc::new((0..count).map(|_| AtomicU32::new(0)).collect());
    let app = Router::new()
        .route(
            "/hb/{i}",
            get(
                |State(hits): State<Arc<Vec<AtomicU32>>>, Path(i): Path<usize>| async move {
                    match hits.get(i) {
                        Some(hit) => {
                            hit.fetch_add(1, Ordering::Relaxed);
                            StatusCode::OK
                        }
                        None => StatusCode::NOT_FOUND,
                    }
                },
            ),
        )
        .route(
            "/stats",
            get(|State(hits): State<Arc<Vec<AtomicU32>>>| async move {
                let counts: Vec<u32> = hits.iter().map(|h| h.load(Ordering::Relaxed)).collect();
                axum::Json(counts).into_response()
            }),
        )
        .with_state(hits);
    let listener = tokio::net::TcpListener::bind(arg(args, "--addr"))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}
