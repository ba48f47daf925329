//! The portal's site router renders pages on the server and answers unknown paths with
//! its 404 page.

use axum::{body::Body, http::Request, http::StatusCode};
use http_body_util::BodyExt;
use server::site::SiteArgs;
use tower::ServiceExt;

fn router() -> axum::Router {
    let args = SiteArgs {
        site_root: "target/site".into(),
        output_name: app::OUTPUT_NAME.into(),
        reload_port: 3001,
    };
    server::site::router(args.leptos_options("127.0.0.1:3000".parse().unwrap()))
}

async fn get(path: &str) -> (StatusCode, String) {
    let response = router()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_overview_is_rendered_with_its_hydration_script() {
    let (status, html) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>distributed</h1>"), "{html}");
    assert!(html.contains("/pkg/distributed.js"), "{html}");
    assert!(
        html.contains("<title>Overview · distributed</title>"),
        "{html}"
    );
}

#[tokio::test]
async fn an_unknown_path_gets_the_404_page() {
    let (status, html) = get("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"), "{html}");
}
