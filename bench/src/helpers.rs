//! The bench binary's helper modes, run as their own processes so that they do not share
//! a CPU budget with the benchmark driver. Each says where it listens on stdout, as our
//! binaries do (`bench: listening on http://…`, one line a listener):
//! - `bench bare [--addr A] --body FILE [--type MIME]`: a bare axum handler answering
//!   every GET with the file's bytes (the baseline for registry lookups and the portal's
//!   page);
//! - `bench bare-log [--addr A] --file FILE [--fsync]`: a bare axum handler appending each
//!   `POST /log` body and a newline to the file, flushing it to disk each time with
//!   `--fsync`, and emptying it at 1 GiB (the baseline for log ingest);
//! - `bench stub --listeners L --count N`: answers `GET /hb/{i}` with 200 for N instances
//!   on each of L listeners (on ports the kernel picks), and counts the checks each
//!   receives (`GET /stats` on any of them);
//! - `bench bare-dns --answers N`: a bare DNS responder on UDP, from the same crate as the
//!   registry's (hickory-server), answering every question with the same N `A` records
//!   of `lookupservice.service.consul.` (the baseline for DNS queries; its line gives the
//!   UDP address, after `http://` like the others).

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

/// `bench bare`'s flags.
#[derive(Debug, clap::Args)]
pub struct BareArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// The file whose bytes every GET is answered with.
    #[arg(long)]
    body: PathBuf,
    /// The answers' content type.
    #[arg(long = "type", default_value = "application/json")]
    mime: String,
}

/// `bench bare-log`'s flags.
#[derive(Debug, clap::Args)]
pub struct BareLogArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// The file each body is appended to.
    #[arg(long)]
    file: PathBuf,
    /// Flush the file to disk after each body.
    #[arg(long)]
    fsync: bool,
}

/// `bench bare-dns`'s flags.
#[derive(Debug, clap::Args)]
pub struct BareDnsArgs {
    /// How many `A` records every answer holds.
    #[arg(long, default_value_t = 8)]
    answers: u8,
}

/// `bench stub`'s flags.
#[derive(Debug, clap::Args)]
pub struct StubArgs {
    /// Instances on each listener.
    #[arg(long)]
    count: usize,
    /// Listeners, each on a port the kernel picks.
    #[arg(long)]
    listeners: usize,
}

pub async fn bare(args: BareArgs) {
    let body = Bytes::from(std::fs::read(&args.body).unwrap());
    let mime = args.mime;
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
    let listener = listen(&args.addr).await;
    axum::serve(listener, app).await.unwrap();
}

pub async fn bare_log(args: BareLogArgs) {
    use std::io::Write as _;
    let fsync = args.fsync;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.file)
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
    let listener = listen(&args.addr).await;
    axum::serve(listener, app).await.unwrap();
}

pub async fn stub(args: StubArgs) {
    let count = args.count;
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
    let listeners = args.listeners;
    let mut servers = Vec::new();
    for _ in 0..listeners {
        let listener = listen("127.0.0.1:0").await;
        let app = app.clone();
        servers.push(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap()
        }));
    }
    for server in servers {
        server.await.unwrap();
    }
}

/// Binds `addr` and says where it listens, for the parent waiting on that line.
async fn listen(addr: &str) -> tokio::net::TcpListener {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|err| panic!("bench: cannot listen on {addr}: {err}"));
    let bound = listener
        .local_addr()
        .expect("a bound listener has an address");
    testkit::process::announce("bench", bound);
    listener
}

/// The bare DNS responder's handler: the same records for every question.
struct FixedAnswer {
    records: Vec<hickory_server::proto::rr::Record>,
}

#[async_trait::async_trait]
impl hickory_server::server::RequestHandler for FixedAnswer {
    async fn handle_request<
        R: hickory_server::server::ResponseHandler,
        T: hickory_server::net::runtime::Time,
    >(
        &self,
        request: &hickory_server::server::Request,
        mut response_handle: R,
    ) -> hickory_server::server::ResponseInfo {
        use hickory_server::{proto::op::Metadata, zone_handler::MessageResponseBuilder};
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let response = MessageResponseBuilder::from_message_request(request).build(
            metadata,
            self.records.iter(),
            [],
            [],
            [],
        );
        response_handle
            .send_response(response)
            .await
            .expect("a UDP answer is sent")
    }
}

pub async fn bare_dns(args: BareDnsArgs) {
    use hickory_server::proto::rr::{Name, RData, Record, rdata::A};
    let name = Name::from_ascii("lookupservice.service.consul.").expect("a fixed name");
    let records = (1..=args.answers)
        .map(|i| Record::from_rdata(name.clone(), 0, RData::A(A::new(127, 0, 0, i))))
        .collect();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bench: cannot bind a UDP socket");
    testkit::process::announce("bench", socket.local_addr().expect("a bound socket"));
    let mut server = hickory_server::Server::new(FixedAnswer { records });
    server.register_socket(socket);
    server.block_until_done().await.expect("the responder runs");
}
