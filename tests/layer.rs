//! `CacheLayer` over real axum routing: the same engine as the attribute for
//! handlers that know nothing of caching.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::{Cache, CacheLayer, Policy};
use http::header::{ETAG, LAST_MODIFIED};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Runs(Arc<AtomicU64>);

impl Runs {
    fn bump(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(app: &Router, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header("host", "test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

async fn counted(State(runs): State<Runs>) -> String {
    format!("run {}", runs.bump())
}

async fn image(State(runs): State<Runs>, Path(id): Path<u32>) -> String {
    runs.bump();
    format!("image {id}")
}

const STRONG: &str = "\"file-v1\"";
const DATE: &str = "Sun, 24 Nov 2024 10:00:00 GMT";

async fn own_validators(State(runs): State<Runs>) -> Response {
    runs.bump();
    ([(ETAG, STRONG), (LAST_MODIFIED, DATE)], "a file").into_response()
}

async fn streamed(State(runs): State<Runs>) -> Body {
    runs.bump();
    let chunks = (0..64).map(|i| Ok::<_, std::io::Error>(vec![i as u8; 1024]));
    Body::from_stream(futures_util::stream::iter(chunks))
}

fn app(cache: &Cache, runs: &Runs) -> Router {
    let images = Policy::builder("layer::images")
        .ttl(Duration::from_secs(300))
        .build();
    Router::new()
        .route("/page", get(counted).post(counted))
        .route("/images/{id}", get(image))
        .route("/file", get(own_validators))
        .route("/stream", get(streamed))
        .route_layer(
            CacheLayer::new(Policy::builder("layer::pages").build()).route(
                "/images/{id}",
                images,
                &["images", "image:{id}"],
            ),
        )
        .route("/plain", get(counted))
        .with_state(runs.clone())
        .layer(Extension(cache.clone()))
}

#[tokio::test]
async fn a_route_group_gets_etags_hits_and_304s() {
    let (cache, runs) = (Cache::new(), Runs::default());
    let app = app(&cache, &runs);
    let first = send(&app, "GET", "/page", &[]).await;
    assert_eq!(first.body, b"run 1");
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "a hash ETag, weak by default");
    assert_eq!(send(&app, "GET", "/page", &[]).await.body, b"run 1");
    let not_modified = send(&app, "GET", "/page", &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_empty());
    let head = send(&app, "HEAD", "/page", &[]).await;
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(runs.get(), 1);
    // Other methods pass untouched, every time.
    assert_eq!(send(&app, "POST", "/page", &[]).await.body, b"run 2");
    assert_eq!(send(&app, "POST", "/page", &[]).await.body, b"run 3");
    // A route outside the group is not cached.
    send(&app, "GET", "/plain", &[]).await;
    send(&app, "GET", "/plain", &[]).await;
    assert_eq!(runs.get(), 5);
}

#[tokio::test]
async fn the_inner_services_own_validators_are_kept() {
    let (cache, runs) = (Cache::new(), Runs::default());
    let app = app(&cache, &runs);
    let ok = send(&app, "GET", "/file", &[]).await;
    assert_eq!(ok.header("etag"), Some(STRONG), "kept as sent, strong");
    assert_eq!(ok.header("last-modified"), Some(DATE));
    let by_tag = send(&app, "GET", "/file", &[("if-none-match", STRONG)]).await;
    assert_eq!(by_tag.status, StatusCode::NOT_MODIFIED);
    let by_date = send(&app, "GET", "/file", &[("if-modified-since", DATE)]).await;
    assert_eq!(by_date.status, StatusCode::NOT_MODIFIED);
    assert_eq!(runs.get(), 1);
}

#[tokio::test]
async fn path_parameter_tags_invalidate_exactly_one_route_instance() {
    let (cache, runs) = (Cache::new(), Runs::default());
    let app = app(&cache, &runs);
    for id in [1, 2] {
        send(&app, "GET", &format!("/images/{id}"), &[]).await;
    }
    assert_eq!(runs.get(), 2);
    assert_eq!(cache.invalidate_tag("image:1").await.removed, 1);
    assert_eq!(send(&app, "GET", "/images/1", &[]).await.body, b"image 1");
    assert_eq!(send(&app, "GET", "/images/2", &[]).await.body, b"image 2");
    assert_eq!(runs.get(), 3, "image 2 was still stored");
    assert_eq!(cache.invalidate_tag("images").await.removed, 2);
}

#[tokio::test]
async fn a_streamed_body_passes_through_untouched_and_unstored() {
    let (cache, runs) = (Cache::new(), Runs::default());
    let app = app(&cache, &runs);
    for _ in 0..2 {
        let reply = send(&app, "GET", "/stream", &[]).await;
        assert_eq!(reply.body.len(), 64 * 1024);
        assert!(
            reply
                .body
                .chunks(1024)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8))
        );
    }
    assert_eq!(runs.get(), 2);
    assert_eq!(cache.stats().stores, 0);
}

#[tokio::test]
async fn credentialed_requests_bypass_the_store_behind_the_layer_too() {
    let (cache, runs) = (Cache::new(), Runs::default());
    let app = app(&cache, &runs);
    let alice = send(&app, "GET", "/page", &[("cookie", "s=alice")]).await;
    let bob = send(&app, "GET", "/page", &[("cookie", "s=bob")]).await;
    assert!(bob.header("cache-control").unwrap().contains("private"));
    assert_eq!(
        (alice.body, bob.body),
        (b"run 1".to_vec(), b"run 2".to_vec())
    );
    assert_eq!(cache.stats().stores, 0);
}

#[derive(Clone, Default)]
struct Cameras {
    runs: Runs,
    version: Arc<AtomicU64>,
}

async fn camera(State(cameras): State<Cameras>, Path(id): Path<u32>) -> String {
    cameras.runs.bump();
    format!("camera {id} v{}", cameras.version.load(Ordering::SeqCst))
}

async fn save_camera(State(cameras): State<Cameras>, Path(id): Path<u32>) -> Response {
    if id == 0 {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    let version = cameras.version.fetch_add(1, Ordering::SeqCst) + 1;
    format!("camera {id} v{version}").into_response()
}

#[tokio::test]
async fn writes_through_the_layer_invalidate_their_tags_after_a_2xx_only() {
    let cache = Cache::new();
    let cameras = Cameras::default();
    let app = Router::new()
        .route("/cameras/{id}", get(camera).put(save_camera))
        .route_layer(
            CacheLayer::routes_only()
                .route(
                    "/cameras/{id}",
                    Policy::builder("layer::camera").build(),
                    &["camera:{id}"],
                )
                .invalidate_on_write("/cameras/{id}", &["camera:{id}"]),
        )
        .with_state(cameras.clone())
        .layer(Extension(cache.clone()));
    for id in [0, 1, 2] {
        send(&app, "GET", &format!("/cameras/{id}"), &[]).await;
    }
    assert_eq!(cameras.runs.get(), 3);
    // A refused write changes nothing and invalidates nothing.
    let refused = send(&app, "PUT", "/cameras/0", &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        send(&app, "GET", "/cameras/0", &[]).await.body,
        b"camera 0 v0"
    );
    assert_eq!(cameras.runs.get(), 3);
    // A 2xx write to camera 1 invalidates camera 1 only, before it returns.
    let saved = send(&app, "PUT", "/cameras/1", &[]).await;
    assert_eq!(saved.status, StatusCode::OK);
    assert_eq!(
        send(&app, "GET", "/cameras/1", &[]).await.body,
        b"camera 1 v1"
    );
    assert_eq!(cameras.runs.get(), 4);
    send(&app, "GET", "/cameras/2", &[]).await;
    assert_eq!(cameras.runs.get(), 4, "camera 2 was still stored");
}
