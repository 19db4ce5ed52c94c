//! A handler written by hand against the runtime, over real HTTP on
//! loopback: 200 with an ETag, 304 on revalidation, a new ETag after the
//! data changed and its tag was invalidated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use cached_etag::{Cache, CacheRequest, Policy};
use reqwest::StatusCode;

static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("handwritten::counter")
        .tags(&["counter"])
        .build()
});

#[derive(Clone, Default)]
struct App {
    value: Arc<AtomicU64>,
    runs: Arc<AtomicU64>,
}

async fn counter(request: CacheRequest, State(app): State<App>) -> Response {
    request
        .respond(&POLICY, Vec::new(), None, async move {
            app.runs.fetch_add(1, Ordering::SeqCst);
            let value = app.value.load(Ordering::SeqCst);
            cached_etag::hash(Json(serde_json::json!({ "value": value })))
        })
        .await
}

#[tokio::test]
async fn hand_written_handler_over_http() {
    let cache = Cache::new();
    let app = App::default();
    let router = Router::new()
        .route("/counter", get(counter))
        .with_state(app.clone())
        .layer(Extension(cache.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/counter", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = reqwest::Client::new();

    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers()["cache-control"], "private, max-age=60");
    assert_eq!(first.text().await.unwrap(), r#"{"value":0}"#);

    let revalidated = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
    assert_eq!(
        app.runs.load(Ordering::SeqCst),
        1,
        "the 304 did not run the handler"
    );

    app.value.store(1, Ordering::SeqCst);
    assert_eq!(cache.invalidate_tag("counter").await.removed, 1);
    let changed = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"], etag.as_str());
    assert_eq!(changed.text().await.unwrap(), r#"{"value":1}"#);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.not_modified), (1, 2, 1));
}
