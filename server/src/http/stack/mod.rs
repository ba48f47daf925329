//! The layers in front of every service's router, each with one job, read top-down in
//! [`stack`] (the first wraps all the others). Each is a `layer()` and a service whose
//! future is a concrete type: a request through the stack allocates nothing of its own
//! (a body is boxed once per layer that wraps it). As one hand-written service, these
//! jobs had cost a box per request; as axum's `from_fn` and tower-http's trace layer they
//! cost the registry a sixth of its lookup rate (see `BENCHMARKS.md`).
//!
//! | module | owns |
//! | --- | --- |
//! | [`count`] | `http_requests_total`, by the route table's label |
//! | [`access_log`] | one line per request (`--access-log`) |
//! | [`explain`] | every refusal said in the log, and a JSON reason for one without a body (the one way a 405 is explained) |
//! | [`header_limit`] | 431 for headers over 32 KiB |
//! | [`deadline`] | the whole-request deadline on bodies (408) |
//! | [`drain`] | what a handler left of a body, read after its answer |
//!
//! The route a request is counted under comes from the route table
//! ([`crate::http::routes`]), which matches the path itself, in front of the router:
//! axum's own `MatchedPath` exists only inside it, and reading it there (with
//! `Router::layer`) cost the registry's lookups 5 points.

pub mod access_log;
pub mod count;
pub mod deadline;
pub mod drain;
pub mod explain;
pub mod header_limit;

use axum::Router;

use crate::http::{limits::HttpLimits, routes::Routes};

/// The whole stack over a router.
pub type Stack = count::Count<
    access_log::AccessLog<
        explain::Explain<header_limit::HeaderLimit<deadline::Deadline<drain::Drain<Router>>>>,
    >,
>;

/// `routes` with every layer in front, set as `limits` say.
pub fn stack(routes: Routes, limits: &HttpLimits) -> Stack {
    let (router, table) = routes.into_parts();
    // Debug builds (every test) check that the route table labels each request with the
    // route axum matched.
    #[cfg(debug_assertions)]
    let router = router.layer(axum::middleware::from_fn_with_state(
        table.clone(),
        crate::http::routes::check_against_axum,
    ));
    tower::ServiceBuilder::new()
        // Outermost, so every answer is counted: refusals by the layers below too.
        .layer(count::layer(table))
        // Sees the final status; its latency covers everything below.
        .layer(access_log::layer(limits.access_log))
        // Every refusal below, the router's own 404s and 405s included, said once.
        .layer(explain::layer())
        // Before anything touches the body.
        .layer(header_limit::layer())
        .layer(deadline::layer(limits.request_timeout))
        // Inside the deadline, so draining is bounded by it too.
        .layer(drain::layer())
        .service(router)
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        extract::Request,
        http::{StatusCode, header},
        routing::get,
    };
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::stack;
    use crate::http::{limits::HttpLimits, routes::Routes};

    async fn answer(request: Request) -> (StatusCode, String, Option<String>) {
        let routes = Routes::new().route("/things/{id}", get(|| async { "a thing" }));
        let response = stack(routes, &HttpLimits::default())
            .oneshot(request)
            .await
            .unwrap();
        let allow = response
            .headers()
            .get(header::ALLOW)
            .map(|value| value.to_str().unwrap().to_owned());
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap(), allow)
    }

    fn request(method: &str, path: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(path)
    }

    #[tokio::test]
    async fn a_wrong_method_is_explained_with_the_methods_the_route_takes() {
        let (status, body, allow) =
            answer(request("PUT", "/things/7").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(allow.as_deref(), Some("GET,HEAD"));
        assert_eq!(
            body,
            r#"{"error":"method not allowed here; use GET, HEAD"}"#
        );
    }

    #[tokio::test]
    async fn an_unknown_path_and_huge_headers_are_refused_with_a_reason() {
        let (status, body, _) =
            answer(request("GET", "/nothing").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"error":"Not Found: GET /nothing"}"#);

        let huge = "x".repeat(super::header_limit::MAX_HEADER_BYTES);
        let (status, body, _) = answer(
            request("GET", "/things/7")
                .header("x-huge", huge)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert!(body.contains("at most 32 KiB"), "{body}");
    }

    #[tokio::test]
    async fn a_body_the_handler_left_unread_is_drained_before_the_answer() {
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = sent.clone();
        let pieces = futures::stream::iter((0..4).map(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"xx"))
        }));
        let (status, _, _) = answer(
            request("GET", "/things/7")
                .body(Body::from_stream(pieces))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            sent.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "every piece read"
        );
    }
}
