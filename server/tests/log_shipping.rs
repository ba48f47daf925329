//! The runtime's log shipping: `tracing` records reach the discovered log service in
//! batches with the original's `[Name] - ` prefix, wait while none is known, are
//! dropped oldest-first (and counted) when the buffer is full, and a record the log
//! service refuses is dropped alone without holding up the rest.

mod common;

use std::{sync::Arc, time::Duration};

use server::{
    logs::{self, LogConfig, LogService, writer::Fsync},
    runtime::{
        Providers,
        log_shipper::{LogShipper, ShipLayer},
    },
};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::prelude::*;
use wire::{
    logs::LogRecord,
    registry::{Patch, PatchEntry},
};

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
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::from(logs::router(service)))
            .await
            .unwrap()
    });
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
    // The shipper has tried (and found no log service) once the retry pause has begun:
    // the records are still waiting, in order.
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    common::until("both records to arrive", || async {
        records(&url).await.len() >= 2
    })
    .await;
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
    common::until("four records to arrive", || async {
        records(&url).await.len() >= 4
    })
    .await;
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

/// The value of `log_records_dropped_total{reason}` in this process.
fn dropped_for(reason: &str) -> u64 {
    let text = server::ops::metrics::global().render();
    let series = format!("log_records_dropped_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_refused_record_is_dropped_alone_and_the_rest_ship_in_order() {
    let (url, _stop) = log_service().await;
    let shipper = LogShipper::new(100);
    let providers = Arc::new(Providers::default());
    providers.apply(&Patch {
        added: vec![PatchEntry {
            name: "LogService".into(),
            url: url.clone(),
        }],
        removed: vec![],
    });
    let refused_before = dropped_for("refused");
    // One record over the log service's 64 KiB limit among ordinary ones, all in the
    // buffer before the shipper starts, so they go in one batch.
    log_with(&shipper, || {
        tracing::info!("before 1");
        tracing::info!("before 2");
        tracing::info!("{}", "x".repeat(70 * 1024));
        tracing::info!("after 1");
        tracing::info!("after 2");
    });
    tokio::spawn(
        shipper
            .clone()
            .run("Grading".into(), providers, None, CancellationToken::new()),
    );
    common::until("the four acceptable records to arrive", || async {
        records(&url).await.len() >= 4 && shipper.pending() == 0
    })
    .await;
    // Later records are not held up either.
    log_with(&shipper, || tracing::info!("later"));
    common::until("the later record to arrive", || async {
        records(&url).await.len() >= 5
    })
    .await;
    let messages: Vec<String> = records(&url)
        .await
        .into_iter()
        .rev()
        .map(|r| r.message)
        .collect();
    assert_eq!(
        messages,
        [
            "INFO before 1",
            "INFO before 2",
            "INFO after 1",
            "INFO after 2",
            "INFO later"
        ]
    );
    assert_eq!(dropped_for("refused") - refused_before, 1);
}
