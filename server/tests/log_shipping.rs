//! The runtime's log shipping: `tracing` records reach the discovered log service in
//! batches with the original's `[Name] - ` prefix, wait while none is known, and are
//! dropped oldest-first (and counted) when the buffer is full.

mod common;

use std::{sync::Arc, time::Duration};

use app::wire::{
    logs::LogRecord,
    registry::{Patch, PatchEntry},
};
use server::{
    logs::{self, LogConfig, LogService, writer::Fsync},
    runtime::{
        Providers,
        log_shipper::{LogShipper, ShipLayer},
    },
};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::prelude::*;

async fn log_service() -> (String, CancellationToken) {
    let dir = common::temp_dir("ship");
    let stop = CancellationToken::new();
    let config = LogConfig {
        log_file: dir.join("d.log"),
        fsync: Fsync::Never,
        max_file_size: 1 << 30,
        keep_files: 1,
    };
    let service = LogService::start(&config, stop.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, logs::router(service)).await.unwrap() });
    (url, stop)
}

async fn records(url: &str) -> Vec<LogRecord> {
    common::client()
        .get(format!("{url}/log?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn log_with(shipper: &Arc<LogShipper>, emit: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(ShipLayer::new(
        shipper.clone(),
        "Grading",
        tracing::Level::INFO,
    ));
    tracing::subscriber::with_default(subscriber, emit);
}

#[tokio::test]
async fn records_wait_for_a_log_service_then_arrive_with_the_service_prefix() {
    let (url, _stop) = log_service().await;
    let shipper = LogShipper::new(100);
    let providers = Arc::new(Providers::default());
    tokio::spawn(shipper.clone().run(
        "Grading".into(),
        providers.clone(),
        None,
        CancellationToken::new(),
    ));

    log_with(&shipper, || {
        tracing::info!(student = 3, "grade added");
        tracing::debug!("below the shipping level");
        tracing::warn!("multi\nline");
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        shipper.pending(),
        2,
        "no log service known yet: records wait"
    );

    providers.apply(&Patch {
        added: vec![PatchEntry {
            name: "LogService".into(),
            url: url.clone(),
        }],
        removed: vec![],
    });
    let started = std::time::Instant::now();
    while records(&url).await.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "records never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got: Vec<(String, String)> = records(&url)
        .await
        .into_iter()
        .map(|r| (r.service, r.message))
        .collect();
    assert_eq!(
        got,
        [
            ("Grading".to_owned(), "WARN multi\nline".to_owned()),
            (
                "Grading".to_owned(),
                "INFO grade added student=3".to_owned()
            )
        ]
    );
    assert_eq!(shipper.pending(), 0);
}

#[tokio::test]
async fn a_full_buffer_drops_the_oldest_and_reports_the_count() {
    let shipper = LogShipper::new(3);
    log_with(&shipper, || {
        for n in 0..5 {
            tracing::info!("record {n}");
        }
    });
    assert_eq!(shipper.pending(), 3);
    assert_eq!(shipper.dropped(), 2);

    let (url, _stop) = log_service().await;
    let providers = Arc::new(Providers::default());
    providers.apply(&Patch {
        added: vec![PatchEntry {
            name: "LogService".into(),
            url: url.clone(),
        }],
        removed: vec![],
    });
    tokio::spawn(
        shipper
            .clone()
            .run("Grading".into(), providers, None, CancellationToken::new()),
    );
    let started = std::time::Instant::now();
    while records(&url).await.len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "records never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let messages: Vec<String> = records(&url)
        .await
        .into_iter()
        .rev()
        .map(|r| r.message)
        .collect();
    assert_eq!(
        messages,
        [
            "INFO record 2",
            "INFO record 3",
            "INFO record 4",
            "WARN 2 log records were dropped: the buffer was full"
        ]
    );
}
