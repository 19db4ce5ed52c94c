//! `CacheLayer` over `tower_http::services::ServeDir`, the way a router
//! serves static files: a file gets an ETag, 304s to `If-None-Match` and to
//! `If-Modified-Since` (judged by the file's own `Last-Modified`), and is
//! served from the cache afterwards; a file larger than the cache's body
//! limit streams through untouched and is not stored.

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use cached_etag::{Cache, CacheLayer, Policy};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_http::services::ServeDir;

const BIG: usize = 50 << 20;

/// A directory of files for the test called `test`.
fn files(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cached-etag-serve-dir-{}-{test}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("small.txt"), "a small file").unwrap();
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    dir
}

fn app(dir: &PathBuf, cache: &Cache) -> Router {
    Router::new()
        .nest_service("/files", ServeDir::new(dir))
        .layer(CacheLayer::new(Policy::builder("files").build()).cache(cache.clone()))
}

async fn get(app: &Router, path: &str, headers: &[(&str, &str)]) -> http::Response<Body> {
    let mut request = Request::get(path).header("host", "test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn header(response: &http::Response<Body>, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_small_file_gets_an_etag_304s_and_a_place_in_the_cache() {
    let dir = files("small");
    let cache = Cache::new();
    let app = app(&dir, &cache);

    let first = get(&app, "/files/small.txt", &[]).await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = header(&first, "etag");
    let last_modified = header(&first, "last-modified");
    assert_eq!(
        first.into_body().collect().await.unwrap().to_bytes(),
        "a small file"
    );
    assert_eq!(cache.stats().stores, 1);

    let again = get(&app, "/files/small.txt", &[]).await;
    assert_eq!(cache.stats().hits, 1, "served from the cache");
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(header(&again, "last-modified"), last_modified);

    let by_etag = get(&app, "/files/small.txt", &[("if-none-match", &etag)]).await;
    assert_eq!(by_etag.status(), StatusCode::NOT_MODIFIED);
    // RFC 9110 §13.1.3: the file's own Last-Modified is what the date is
    // judged by.
    let by_date = get(
        &app,
        "/files/small.txt",
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_large_file_streams_through_and_is_not_stored() {
    let dir = files("large");
    let cache = Cache::new();
    let app = app(&dir, &cache);
    let response = get(&app, "/files/big.bin", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-length"), BIG.to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), BIG);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    let stats = cache.stats();
    assert_eq!((stats.stores, stats.entries), (0, 0), "{stats:?}");
    assert_eq!(stats.bytes_held, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
