//! The attribute and the layer are one engine: each behaviour below runs
//! against a `#[cached_etag]` handler and against its twin, the same
//! handler unannotated behind `CacheLayer` with the same policy, and must
//! come out the same.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::{Cache, CacheLayer, Policy, cached_etag};
use http::Request;

#[allow(dead_code)]
#[path = "safety/support.rs"]
mod support;

use support::{Reply, Runs};

// The annotated handlers.

#[cached_etag(tags("docs", "doc:{id}"))]
async fn doc(State(runs): State<Runs>, Path(id): Path<u32>) -> String {
    runs.bump();
    format!("doc {id}")
}

#[cached_etag]
async fn with_cookie(State(runs): State<Runs>) -> Response {
    runs.bump();
    ([("set-cookie", "session=1")], "personal").into_response()
}

#[cached_etag]
async fn failing(State(runs): State<Runs>) -> Response {
    runs.bump();
    (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
}

#[cached_etag]
async fn varies_on_everything(State(runs): State<Runs>, _headers: HeaderMap) -> Response {
    runs.bump();
    ([("vary", "*")], "depends").into_response()
}

// Their twins: the same bodies, no attribute.

async fn plain_doc(State(runs): State<Runs>, Path(id): Path<u32>) -> String {
    runs.bump();
    format!("doc {id}")
}

async fn plain_with_cookie(State(runs): State<Runs>) -> Response {
    runs.bump();
    ([("set-cookie", "session=1")], "personal").into_response()
}

async fn plain_failing(State(runs): State<Runs>) -> Response {
    runs.bump();
    (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
}

async fn plain_varies_on_everything(State(runs): State<Runs>) -> Response {
    runs.bump();
    ([("vary", "*")], "depends").into_response()
}

#[derive(Clone, Copy, Debug)]
enum Twin {
    Attribute,
    Layer,
}

const BOTH: [Twin; 2] = [Twin::Attribute, Twin::Layer];

fn app(twin: Twin, cache: &Cache, runs: &Runs) -> Router {
    let router = match twin {
        Twin::Attribute => Router::new()
            .route("/docs/{id}", get(doc).post(doc))
            .route("/cookie", get(with_cookie))
            .route("/failing", get(failing))
            .route("/vary", get(varies_on_everything)),
        Twin::Layer => Router::new()
            .route("/docs/{id}", get(plain_doc).post(plain_doc))
            .route("/cookie", get(plain_with_cookie))
            .route("/failing", get(plain_failing))
            .route("/vary", get(plain_varies_on_everything))
            .route_layer(
                CacheLayer::new(Policy::builder("twins::others").build()).route(
                    "/docs/{id}",
                    Policy::builder("twins::doc").build(),
                    &["docs", "doc:{id}"],
                ),
            ),
    };
    router
        .with_state(runs.clone())
        .layer(Extension(cache.clone()))
}

/// `method` of `target` with these headers, through `app`.
async fn send(app: &Router, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header("host", "twins");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    support::send(app, request.body(Body::empty()).unwrap()).await
}

fn setup(twin: Twin) -> (Router, Cache, Runs) {
    let (cache, runs) = (Cache::new(), Runs::default());
    (app(twin, &cache, &runs), cache, runs)
}

#[tokio::test]
async fn a_miss_then_hits_304s_and_head_from_one_run() {
    let mut cache_controls = Vec::new();
    for twin in BOTH {
        let (app, cache, runs) = setup(twin);
        let first = send(&app, "GET", "/docs/1", &[]).await;
        assert_eq!(first.body, "doc 1", "{twin:?}");
        let etag = first.header("etag").expect("an ETag").to_owned();
        assert!(etag.starts_with("W/\""), "{twin:?}: weak by default");
        cache_controls.push(first.header("cache-control").map(str::to_owned));
        assert_eq!(send(&app, "GET", "/docs/1", &[]).await.body, "doc 1");
        let not_modified = send(&app, "GET", "/docs/1", &[("if-none-match", &etag)]).await;
        assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED, "{twin:?}");
        assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
        let head = send(&app, "HEAD", "/docs/1", &[]).await;
        assert_eq!(head.header("etag"), Some(etag.as_str()), "{twin:?}");
        assert_eq!(runs.get(), 1, "{twin:?}");
        let stats = cache.stats();
        assert_eq!(
            (stats.stores, stats.hits, stats.not_modified),
            (1, 3, 1),
            "{twin:?}"
        );
    }
    assert_eq!(cache_controls[0], cache_controls[1]);
    assert_eq!(cache_controls[0].as_deref(), Some("private, max-age=60"));
}

#[tokio::test]
async fn other_methods_run_every_time() {
    for twin in BOTH {
        let (app, _cache, runs) = setup(twin);
        send(&app, "POST", "/docs/1", &[]).await;
        send(&app, "POST", "/docs/1", &[]).await;
        assert_eq!(runs.get(), 2, "{twin:?}");
    }
}

#[tokio::test]
async fn tag_templates_invalidate_exactly_their_entries() {
    for twin in BOTH {
        let (app, cache, runs) = setup(twin);
        send(&app, "GET", "/docs/1", &[]).await;
        send(&app, "GET", "/docs/2", &[]).await;
        assert_eq!(cache.invalidate_tag("doc:1").await.removed, 1, "{twin:?}");
        send(&app, "GET", "/docs/1", &[]).await;
        send(&app, "GET", "/docs/2", &[]).await;
        assert_eq!(cache.invalidate_tag("docs").await.removed, 2, "{twin:?}");
        assert_eq!(runs.get(), 3, "{twin:?}");
    }
}

#[tokio::test]
async fn credentials_bypass_the_store_and_still_get_304s() {
    for twin in BOTH {
        let (app, cache, runs) = setup(twin);
        let token = [("authorization", "Bearer alice")];
        let first = send(&app, "GET", "/docs/1", &token).await;
        let second = send(&app, "GET", "/docs/1", &token).await;
        assert_eq!(second.body, "doc 1");
        assert_eq!(runs.get(), 2, "{twin:?}: never from the store");
        assert_eq!(cache.stats().stores, 0, "{twin:?}");
        let cache_control = first.header("cache-control").unwrap_or_default();
        assert!(
            cache_control.starts_with("private"),
            "{twin:?}: {cache_control}"
        );
        let etag = second.header("etag").unwrap().to_owned();
        let revalidated = send(
            &app,
            "GET",
            "/docs/1",
            &[token[0], ("if-none-match", &etag)],
        )
        .await;
        assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED, "{twin:?}");
        assert_eq!(runs.get(), 3, "{twin:?}");
    }
}

#[tokio::test]
async fn unstorable_responses_pass_through_every_time() {
    for twin in BOTH {
        let (app, cache, runs) = setup(twin);
        for path in ["/cookie", "/failing", "/vary"] {
            let first = send(&app, "GET", path, &[]).await;
            send(&app, "GET", path, &[]).await;
            if path == "/cookie" {
                assert_eq!(first.header("set-cookie"), Some("session=1"), "{twin:?}");
            }
            if path == "/failing" {
                assert_eq!(first.status, StatusCode::INTERNAL_SERVER_ERROR, "{twin:?}");
                assert!(first.header("etag").is_none(), "{twin:?}: no ETag on a 500");
            }
        }
        assert_eq!(runs.get(), 6, "{twin:?}: each ran twice");
        assert_eq!(cache.stats().stores, 0, "{twin:?}");
    }
}

#[tokio::test]
async fn a_failed_if_match_is_412_and_runs_nothing() {
    for twin in BOTH {
        let (app, cache, runs) = setup(twin);
        send(&app, "GET", "/docs/1", &[]).await;
        let failed = send(&app, "GET", "/docs/1", &[("if-match", "\"other\"")]).await;
        assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED, "{twin:?}");
        assert_eq!(runs.get(), 1, "{twin:?}");
        assert_eq!(cache.stats().precondition_failed, 1, "{twin:?}");
    }
}

/// The origin of the stale twins: its version, and whether it fails.
#[derive(Clone, Default)]
struct Origin {
    runs: Runs,
    version: std::sync::Arc<std::sync::atomic::AtomicU32>,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Origin {
    fn answer(&self) -> Response {
        use std::sync::atomic::Ordering::SeqCst;
        self.runs.bump();
        if self.failing.load(SeqCst) {
            return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
        }
        format!("v{}", self.version.load(SeqCst)).into_response()
    }
}

#[cached_etag(ttl = 1, stale_while_revalidate = 60, stale_if_error = 600)]
async fn count(State(origin): State<Origin>) -> Response {
    origin.answer()
}

async fn plain_count(State(origin): State<Origin>) -> Response {
    origin.answer()
}

fn stale_app(twin: Twin, cache: &Cache, origin: &Origin) -> Router {
    let router = match twin {
        Twin::Attribute => Router::new().route("/count", get(count)),
        Twin::Layer => {
            Router::new()
                .route("/count", get(plain_count))
                .route_layer(CacheLayer::new(
                    Policy::builder("twins::count")
                        .ttl(std::time::Duration::from_secs(1))
                        .stale_while_revalidate(std::time::Duration::from_secs(60))
                        .stale_if_error(std::time::Duration::from_secs(600))
                        .build(),
                ))
        }
    };
    router
        .with_state(origin.clone())
        .layer(Extension(cache.clone()))
}

#[tokio::test(start_paused = true)]
async fn stale_entries_are_served_while_refreshed_and_instead_of_errors() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Duration;
    let settle = || async {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    };
    for twin in BOTH {
        let (cache, origin) = (Cache::new(), Origin::default());
        let app = stale_app(twin, &cache, &origin);
        assert_eq!(send(&app, "GET", "/count", &[]).await.body, "v0");
        origin.version.store(1, SeqCst);
        tokio::time::advance(Duration::from_secs(2)).await;
        // Stale: answered at once, refreshed behind.
        assert_eq!(
            send(&app, "GET", "/count", &[]).await.body,
            "v0",
            "{twin:?}"
        );
        settle().await;
        assert_eq!(
            send(&app, "GET", "/count", &[]).await.body,
            "v1",
            "{twin:?}"
        );
        assert_eq!(origin.runs.get(), 2, "{twin:?}");
        // The origin fails: past stale-while-revalidate, within
        // stale-if-error, the stale entry answers instead of the 503.
        origin.failing.store(true, SeqCst);
        tokio::time::advance(Duration::from_secs(120)).await;
        let reply = send(&app, "GET", "/count", &[]).await;
        assert_eq!(
            (reply.status, &*reply.body),
            (StatusCode::OK, "v1"),
            "{twin:?}"
        );
        let stats = cache.stats();
        assert_eq!(
            (stats.stale_served, stats.refreshes, stats.errors_masked),
            (2, 1, 1),
            "{twin:?}"
        );
    }
}
