//! The routes a process serves, with their patterns kept beside the router ([`Routes`]),
//! and the table that finds the pattern a request's path matches ([`RouteTable`]).
//!
//! The request count ([`crate::ops::metrics`]) labels each request with its route's
//! pattern (`/students/{id}`, so ids make no new series). A layer of
//! [`crate::http::stack`] counts it in front of the whole router, where axum's own
//! `MatchedPath` does not exist yet: reading that needs `Router::layer`, which wraps
//! every route in a second boxed route, and that cost the registry's lookups 5 points of
//! their rate and the log's ingest 4 (`BENCHMARKS.md`). So the table matches the path
//! itself, with the pattern matcher axum uses (`matchit`), from the same patterns the
//! router was given: a path gets the pattern axum matched. Debug builds (every test)
//! check each request's label against axum's `MatchedPath` ([`check_against_axum`]).

use std::sync::Arc;

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::MethodRouter,
};

/// A router and the pattern of every route it has. Build it as a router (`route`,
/// `merge`, `nest`, `layer`, `fallback`, `with_state`): none of these can add a route
/// without its pattern. Only [`Routes::added_by`] trusts a list it is given (Leptos'
/// routes), and debug builds check it ([`check_against_axum`]).
pub struct Routes<S = ()> {
    router: Router<S>,
    patterns: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Routes<S> {
        Routes::new()
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Routes<S> {
        Routes {
            router: Router::new(),
            patterns: Vec::new(),
        }
    }

    /// As `Router::route`.
    pub fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Routes<S> {
        self.router = self.router.route(path, method_router);
        self.patterns.push(path.to_owned());
        self
    }

    /// Routes another crate adds to the router (Leptos' pages and server functions):
    /// `add` adds them, and `patterns` must be their paths, as given to the router.
    pub fn added_by(
        mut self,
        patterns: impl IntoIterator<Item = String>,
        add: impl FnOnce(Router<S>) -> Router<S>,
    ) -> Routes<S> {
        self.router = add(self.router);
        self.patterns.extend(patterns);
        self
    }

    /// As `Router::merge`.
    pub fn merge(mut self, other: Routes<S>) -> Routes<S> {
        self.router = self.router.merge(other.router);
        self.patterns.extend(other.patterns);
        self
    }

    /// As `Router::nest`: `other`'s routes under `prefix`.
    pub fn nest(mut self, prefix: &str, other: Routes<S>) -> Routes<S> {
        self.router = self.router.nest(prefix, other.router);
        self.patterns
            .extend(other.patterns.iter().map(|path| nested(prefix, path)));
        self
    }

    /// As `Router::layer`: `layer` wraps every route there is.
    pub fn layer<L>(mut self, layer: L) -> Routes<S>
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as tower::Service<Request>>::Error: Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    /// As `Router::fallback`: what answers a path no route takes.
    pub fn fallback<H, T>(mut self, handler: H) -> Routes<S>
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.fallback(handler);
        self
    }

    /// As `Router::with_state`.
    pub fn with_state<T>(self, state: S) -> Routes<T> {
        Routes {
            router: self.router.with_state(state),
            patterns: self.patterns,
        }
    }
}

impl Routes {
    /// The router, and the table of its routes' patterns.
    pub fn into_parts(self) -> (Router, RouteTable) {
        (self.router, RouteTable::new(&self.patterns))
    }
}

/// The router alone (a test serving one service with `axum::serve`).
impl From<Routes> for Router {
    fn from(routes: Routes) -> Router {
        routes.router
    }
}

/// The path of a route nested under `prefix`, as axum makes it.
fn nested(prefix: &str, path: &str) -> String {
    if prefix.ends_with('/') {
        format!("{prefix}{}", path.trim_start_matches('/'))
    } else if path == "/" {
        prefix.to_owned()
    } else {
        format!("{prefix}{path}")
    }
}

/// The pattern of the route a path takes, matched as axum matches it.
#[derive(Clone, Default)]
pub struct RouteTable(Arc<matchit::Router<Arc<str>>>);

impl RouteTable {
    pub fn new(patterns: &[String]) -> RouteTable {
        let mut table = matchit::Router::new();
        for pattern in patterns {
            // A pattern given twice (one per method, by Leptos) is the same route; two
            // that conflict are refused by axum when the router is built, first.
            let _ = table.insert(pattern.as_str(), Arc::from(pattern.as_str()));
        }
        RouteTable(Arc::new(table))
    }

    /// The pattern `path` matches; `None` when no route takes it (the fallback's).
    pub fn route(&self, path: &str) -> Option<&Arc<str>> {
        self.0.at(path).ok().map(|matched| matched.value)
    }
}

/// Middleware (debug builds): a request whose label from `table` is not axum's
/// `MatchedPath` is answered with a 500 that says so, so a route added to a router
/// without its pattern fails the first test that asks for it.
pub async fn check_against_axum(
    State(table): State<RouteTable>,
    request: Request,
    next: Next,
) -> Response {
    let axum = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let ours = table.route(request.uri().path()).map(|route| &**route);
    if axum != ours {
        let reason = format!(
            "the route table labels {} as {ours:?} where axum matched {axum:?}: build the \
             router with http::routes::Routes so every route's pattern is known",
            request.uri().path()
        );
        tracing::error!("{reason}");
        return (StatusCode::INTERNAL_SERVER_ERROR, reason).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[test]
    fn a_path_gets_the_pattern_axum_would_match() {
        let routes: Routes = Routes::new()
            .route("/services", get(|| async {}))
            .route("/services/{name}", get(|| async {}))
            .nest(
                "/grading",
                Routes::new()
                    .route("/students/{id}", get(|| async {}))
                    .route("/students/{id}/grades", get(|| async {})),
            )
            .merge(Routes::new().route("/files/{*rest}", get(|| async {})))
            .added_by(["/api/add".to_owned(), "/api/add".to_owned()], |router| {
                router.route("/api/add", get(|| async {}))
            });
        let (_, table) = routes.into_parts();
        let route = |path| table.route(path).map(|route| route.to_string());
        assert_eq!(route("/services").as_deref(), Some("/services"));
        assert_eq!(
            route("/services/LogService").as_deref(),
            Some("/services/{name}")
        );
        assert_eq!(
            route("/grading/students/7/grades").as_deref(),
            Some("/grading/students/{id}/grades")
        );
        assert_eq!(route("/files/a/b").as_deref(), Some("/files/{*rest}"));
        assert_eq!(route("/api/add").as_deref(), Some("/api/add"));
        assert_eq!(route("/students/7"), None);
        assert_eq!(route("/services/"), None);
    }

    #[tokio::test]
    async fn a_route_added_without_its_pattern_is_caught_by_the_check() {
        use tower::ServiceExt;
        // The one way a route can come without its pattern: a wrong list for `added_by`.
        let routes: Routes = Routes::new()
            .route("/known/{id}", get(|| async { "known" }))
            .added_by(Vec::new(), |router| {
                router.route("/unknown", get(|| async { "unknown" }))
            });
        let (router, table) = routes.into_parts();
        let router = router.layer(axum::middleware::from_fn_with_state(
            table,
            check_against_axum,
        ));
        let status = |path: &str| {
            let request = Request::builder().uri(path).body(axum::body::Body::empty());
            let router = router.clone();
            async move { router.oneshot(request.unwrap()).await.unwrap().status() }
        };
        assert_eq!(status("/known/7").await, StatusCode::OK);
        assert_eq!(status("/unknown").await, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn nesting_joins_paths_as_axum_does() {
        assert_eq!(nested("/grading", "/students"), "/grading/students");
        assert_eq!(nested("/grading", "/"), "/grading");
        assert_eq!(nested("/grading/", "/students"), "/grading/students");
    }
}
