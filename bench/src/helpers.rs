//! The bench binary's helper modes, run as their own processes so that they do not share
//! a CPU budget with the benchmark driver:
//! - `bench bare --addr A --body FILE [--type MIME]`: a bare axum handler answering every
//!   GET with the file's bytes (the baseline for registry lookups and the portal's page);
//! - `bench bare-log --addr A --file FILE [--fsync]`: a bare axum handler appending each
//!   `POST /log` body and a newline to the file, flushing it to disk each time with
//!   `--fsync`, and emptying it at 1 GiB (the baseline for log ingest);
//! - `bench stub --listeners L --ports-file F --count N`: answers `GET /hb/{i}` with 200
//!   for N instances on each of L listeners (free ports it picks and writes, comma
//!   separated, to F once it listens), and counts the checks each receives (`GET /stats`
//!   on any of them).

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
    let mime = args
        .iter()
        .position(|a| a == "--type")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "application/json".into());
    // A path parameter, as the registry's route has, then any other path.
    let answer = move || {
        let (body, mime) = (body.clone(), mime.clone());
        async move { ([(header::CONTENT_TYPE, mime)], body) }
    };
    let named = answer.clone();
    let app = Router::new()
        .route(
            "/services/{name}",
            get(move |Path(_name): Path<String>| named()),
        )
        .fallback(get(answer));
    let listener = tokio::net::TcpListener::bind(arg(args, "--addr"))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}

pub async fn bare_log(args: &[String]) {
    use std::io::Write as _;
    let fsync = args.iter().any(|a| a == "--fsync");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(arg(args, "--file"))
        .unwrap();
    // The file and its size: emptied at 1 GiB, as the log service rotates at 1 GiB in
    // the bench, so neither fills the disk.
    let file = Arc::new(std::sync::Mutex::new((file, 0u64)));
    let app = Router::new().route(
        "/log",
        axum::routing::post(move |body: Bytes| {
            let file = file.clone();
            async move {
                let mut guard = file.lock().unwrap();
                let (file, size) = &mut *guard;
                file.write_all(&body).unwrap();
                file.write_all(b"\n").unwrap();
                if fsync {
                    file.sync_data().unwrap();
                }
                *size += body.len() as u64 + 1;
                if *size > 1 << 30 {
                    file.set_len(0).unwrap();
                    *size = 0;
                }
                StatusCode::OK
            }
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
    let listeners: usize = arg(args, "--listeners").parse().unwrap();
    let mut servers = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..listeners {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.push(listener.local_addr().unwrap().port().to_string());
        let app = app.clone();
        servers.push(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap()
        }));
    }
    // Written whole, then renamed: the reader never sees half a list.
    let file = arg(args, "--ports-file");
    std::fs::write(format!("{file}.part"), ports.join(",")).unwrap();
    std::fs::rename(format!("{file}.part"), &file).unwrap();
    for server in servers {
        server.await.unwrap();
    }
}
