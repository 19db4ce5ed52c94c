//! What is in the key: the original path, the authority, each credential
//! header only through its own `vary`, and every header the response's own
//! `Vary` names.

use std::sync::{Arc, LazyLock};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::{Cache, CacheRequest, Key, Policy, cached_etag};
use http::HeaderMap;
use http::header::VARY;

use crate::support::{Runs, get as request, send};

#[cached_etag]
async fn tenant_doc(Path(tenant): Path<String>) -> String {
    format!("doc of {tenant}")
}

#[tokio::test]
async fn nested_routers_never_share_entries_across_prefixes() {
    let inner = Router::new().route("/doc", get(tenant_doc));
    let app = Router::new()
        .nest("/t/{tenant}", inner)
        .layer(Extension(Cache::new()));
    let acme = send(&app, request("/t/acme/doc", &[])).await;
    assert_eq!(acme.body, "doc of acme");
    let evil = send(&app, request("/t/evil/doc", &[])).await;
    assert_eq!(
        evil.body, "doc of evil",
        "one tenant's entry served to another"
    );
}

static AUTHORITY: LazyLock<Arc<Policy>> =
    LazyLock::new(|| Policy::builder("safety::authority").build());

async fn by_authority(request: CacheRequest, State(runs): State<Runs>) -> Response {
    request
        .respond(&AUTHORITY, Vec::new(), None, async move {
            cached_etag::hash(format!("run {}", runs.bump()))
        })
        .await
}

#[tokio::test]
async fn the_authority_keeps_its_port_for_http2_and_http1_alike() {
    let cache = Cache::new();
    let runs = Runs::default();
    let app = Router::new()
        .route("/p", get(by_authority))
        .with_state(runs.clone())
        .layer(Extension(cache.clone()));
    // HTTP/2 carries the authority in the target, with no Host field.
    let h2 = http::Request::get("http://h:3000/p")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&app, h2).await.body, "run 1");
    // The same resource over HTTP/1.1 is the same entry.
    let h1 = send(&app, request("/p", &[("host", "h:3000")])).await;
    assert_eq!(h1.body, "run 1");
    assert_eq!(runs.get(), 1);
    // And the key hand-written code computes names it.
    let removed = cache
        .invalidate(&Key::for_get("safety::authority", "h:3000", "/p"))
        .await;
    assert_eq!(removed.removed, 1);
    // Another port is another origin.
    let other = send(&app, request("/p", &[("host", "h:4000")])).await;
    assert_eq!(other.body, "run 2");
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

#[cached_etag(vary("authorization"))]
async fn varies_on_authorization(headers: HeaderMap) -> String {
    format!("cookie {}", header(&headers, "cookie"))
}

#[cached_etag(vary("cookie"))]
async fn varies_on_cookie(headers: HeaderMap) -> String {
    format!("authorization {}", header(&headers, "authorization"))
}

#[tokio::test]
async fn vary_authorization_does_not_open_the_cookie_bypass() {
    let app = Router::new()
        .route("/a", get(varies_on_authorization))
        .route("/c", get(varies_on_cookie))
        .layer(Extension(Cache::new()));
    let alice = send(&app, request("/a", &[("cookie", "session=alice")])).await;
    assert_eq!(alice.body, "cookie session=alice");
    let bob = send(&app, request("/a", &[("cookie", "session=bob")])).await;
    assert_eq!(
        bob.body, "cookie session=bob",
        "Cookie users shared an entry"
    );
    assert!(bob.header("cache-control").unwrap().contains("private"));

    let alice = send(&app, request("/c", &[("authorization", "Bearer alice")])).await;
    assert_eq!(alice.body, "authorization Bearer alice");
    let bob = send(&app, request("/c", &[("authorization", "Bearer bob")])).await;
    assert_eq!(bob.body, "authorization Bearer bob");
}

#[cached_etag]
async fn by_api_key(headers: HeaderMap) -> String {
    format!("key {}", header(&headers, "x-api-key"))
}

#[tokio::test]
async fn credential_headers_are_configurable_per_cache() {
    let cache = Cache::builder()
        .credential_headers(
            cached_etag::DEFAULT_CREDENTIAL_HEADERS
                .into_iter()
                .chain([http::HeaderName::from_static("x-api-key")]),
        )
        .build();
    let app = Router::new()
        .route("/k", get(by_api_key))
        .layer(Extension(cache.clone()));
    let a = send(&app, request("/k", &[("x-api-key", "a")])).await;
    let b = send(&app, request("/k", &[("x-api-key", "b")])).await;
    assert_eq!((a.body.as_str(), b.body.as_str()), ("key a", "key b"));
    assert_eq!(cache.stats().stores, 0);
    assert_eq!(cache.stats().bypassed, 2);
    // Without it in the list, the header is just another request header.
    let shared = Router::new()
        .route("/k", get(by_api_key))
        .layer(Extension(Cache::new()));
    send(&shared, request("/k", &[("x-api-key", "a")])).await;
    let b = send(&shared, request("/k", &[("x-api-key", "b")])).await;
    assert_eq!(b.body, "key a", "documented: only listed headers bypass");
}

#[cached_etag]
async fn negotiated(State(runs): State<Runs>, headers: HeaderMap) -> Response {
    runs.bump();
    let json = header(&headers, "accept").contains("json");
    let body = if json { "{\"doc\":1}" } else { "<p>doc</p>" };
    ([(VARY, "accept")], body).into_response()
}

#[tokio::test]
async fn a_vary_the_handler_sets_is_part_of_the_key() {
    let runs = Runs::default();
    let app = Router::new()
        .route("/n", get(negotiated))
        .with_state(runs.clone())
        .layer(Extension(Cache::new()));
    let html = |app| send(app, request("/n", &[("accept", "text/html")]));
    let json = |app| send(app, request("/n", &[("accept", "application/json")]));
    assert_eq!(html(&app).await.body, "<p>doc</p>");
    assert_eq!(json(&app).await.body, "{\"doc\":1}", "HTML served to JSON");
    // From then on each variant has its own entry.
    assert_eq!(html(&app).await.body, "<p>doc</p>");
    let before = runs.get();
    assert_eq!(html(&app).await.body, "<p>doc</p>");
    assert_eq!(json(&app).await.body, "{\"doc\":1}");
    assert_eq!(runs.get(), before, "each variant is stored apart");
}
