//! All HTTP bench scenarios in one process, so that every pair is measured
//! against the same server, allocator and runtime. Driven by `bench/http.sh`.
//!
//! `bench-server [PORT]` prints `listening on 127.0.0.1:PORT` when ready.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use cached_etag::{Cache, CacheRequest, Identified, Policy, UpdatedAt, cached_etag};
use serde::{Deserialize, Serialize};

/// The ~2 KB document every scenario serves.
#[derive(Serialize, Clone)]
struct Report {
    id: u64,
    updated_at_ms: u64,
    items: Vec<Item>,
}

#[derive(Serialize, Clone)]
struct Item {
    id: u32,
    name: String,
    score: f64,
}

impl UpdatedAt for Report {
    fn updated_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.updated_at_ms)
    }
}

impl Identified for Report {
    fn id(&self) -> impl std::fmt::Display + '_ {
        self.id
    }
}

fn report(id: u64) -> Report {
    Report {
        id,
        updated_at_ms: 1_732_442_400_123,
        items: (0..36)
            .map(|i| Item {
                id: i,
                name: format!("camera-{i:03}-north-gate"),
                score: f64::from(i) * 1.5,
            })
            .collect(),
    }
}

#[derive(Deserialize)]
struct Params {
    id: Option<u64>,
}

/// The simulated query: what a handler costs without a cache.
async fn work(id: u64) -> Report {
    tokio::time::sleep(Duration::from_millis(1)).await;
    report(id)
}

async fn hello() -> &'static str {
    "Hello, World!"
}

static STATIC_BODY: LazyLock<Bytes> =
    LazyLock::new(|| Bytes::from(serde_json::to_vec(&report(0)).expect("serialisable")));

async fn static_bytes() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        STATIC_BODY.clone(),
    )
        .into_response()
}

/// The same bytes with the headers a hit sends (`ETag`, `Cache-Control`),
/// as static values: the floor of a hit, what its extra header bytes cost
/// hyper and the kernel without any cache work.
async fn static_with_headers() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ETAG, "W/\"Jh1XFUiAP_ut4o2MURt0vQ\""),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        STATIC_BODY.clone(),
    )
        .into_response()
}

async fn baseline_work(Query(p): Query<Params>) -> Json<Report> {
    Json(work(p.id.unwrap_or(0)).await)
}

#[cached_etag(ttl = 3600)]
async fn cached_work(Query(p): Query<Params>) -> Json<Report> {
    Json(work(p.id.unwrap_or(0)).await)
}

#[cached_etag(ttl = 3600, etag = "composite")]
async fn cached_composite(Query(p): Query<Params>) -> Json<Report> {
    Json(work(p.id.unwrap_or(0)).await)
}

/// Whether `cached_stale` made its first response: every later run is a
/// refresh, which never finishes within a benchmark, so that every request
/// after the ttl is a stale hit beside a refresh under way.
static STALE_WARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cached_etag(ttl = 1, stale_while_revalidate = "1h")]
async fn cached_stale(Query(p): Query<Params>) -> Json<Report> {
    if STALE_WARMED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    Json(work(p.id.unwrap_or(0)).await)
}

static MANUAL: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("bench::manual_work")
        .ttl(Duration::from_secs(3600))
        .build()
});

/// The same caching as `cached_work`, written by hand against the runtime.
async fn manual_work(request: CacheRequest, Query(p): Query<Params>) -> Response {
    request
        .respond(&MANUAL, Vec::new(), None, async move {
            cached_etag::hash(Json(work(p.id.unwrap_or(0)).await))
        })
        .await
}

#[derive(Deserialize)]
struct Fill {
    n: u64,
}

static SMALL: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("bench::small")
        .ttl(Duration::from_secs(3600))
        .build()
});

/// Small entries for the scale scenario: `/small?id=N`.
async fn small(request: CacheRequest, Query(p): Query<Params>) -> Response {
    let id = p.id.unwrap_or(0);
    request
        .respond(&SMALL, Vec::new(), None, async move {
            cached_etag::hash(Json(id))
        })
        .await
}

/// Fills `/small?id=0..n` through the cache as requests with this request's
/// `Host` would, for the scale scenario; answers with the resident entries.
async fn fill(
    Extension(cache): Extension<Cache>,
    headers: axum::http::HeaderMap,
    Query(f): Query<Fill>,
) -> String {
    for id in 0..f.n {
        let uri: axum::http::Uri = format!("/small?id={id}").parse().expect("valid uri");
        let head = cached_etag::RequestHead {
            method: &axum::http::Method::GET,
            uri: &uri,
            headers: &headers,
        };
        let _: Response = cache
            .respond(head, &SMALL, Vec::new(), None, async move {
                cached_etag::hash(Json(id))
            })
            .await;
    }
    cache.stats().entries.to_string()
}

/// The same caching written by hand, as a user might without a library:
/// a read-locked map of ETag and body per path and query, a byte comparison
/// of `If-None-Match`, no TTL, no tags, no single flight.
async fn handmade(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    type Map = std::collections::HashMap<String, (axum::http::HeaderValue, Bytes)>;
    static MAP: LazyLock<parking_lot::RwLock<Map>> = LazyLock::new(Default::default);
    let key = uri.path_and_query().map_or("", |p| p.as_str());
    let stored = MAP.read().get(key).cloned();
    let (etag, body) = match stored {
        Some(stored) => stored,
        None => {
            let body = Bytes::from(serde_json::to_vec(&work(0).await).expect("serialisable"));
            let etag = cached_etag::ETag::from_content(&body).to_header_value();
            MAP.write()
                .insert(key.to_owned(), (etag.clone(), body.clone()));
            (etag, body)
        }
    };
    if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        return (axum::http::StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// The same work behind tower-http-cache's layer (in memory, moka). Its
/// service wants a `Sync` body, so the inner service answers with `Full`.
fn tower_http_cache_route() -> axum::routing::MethodRouter {
    use tower_http_cache::prelude::{CacheLayer, InMemoryBackend};
    let inner = tower::service_fn(|_: axum::extract::Request| async {
        let body = serde_json::to_vec(&work(0).await).expect("serialisable");
        let response = axum::http::Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(Bytes::from(body)))
            .expect("a valid response");
        Ok::<_, std::convert::Infallible>(response)
    });
    let layer = CacheLayer::builder(InMemoryBackend::new(10_000))
        .ttl(Duration::from_secs(3600))
        .build();
    let service = tower::ServiceBuilder::new().layer(layer).service(inner);
    let service =
        axum::error_handling::HandleError::new(service, |error: tower::BoxError| async move {
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                error.to_string(),
            )
        });
    axum::routing::get_service(service)
}

/// The compression scenarios (`bench/compression.sh`): a 2 KB and a 50 KB
/// JSON document, each cached by the layer twice: `stored` in a cache that
/// keeps compressed variants, and `layer` in a cache that does not, under
/// tower-http's `CompressionLayer`, which compresses every hit anew.
#[cfg(feature = "compression")]
fn compression_routes() -> Router {
    use cached_etag::CacheLayer;
    use cached_etag::compression::Compression;
    use tower_http::compression::CompressionLayer;

    static LARGE_BODY: LazyLock<Bytes> = LazyLock::new(|| {
        let mut large = report(0);
        large.items = (0..880)
            .map(|i| Item {
                id: i,
                name: format!("camera-{i:03}-north-gate"),
                score: f64::from(i) * 1.5,
            })
            .collect();
        Bytes::from(serde_json::to_vec(&large).expect("serialisable"))
    });
    async fn large_bytes() -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            LARGE_BODY.clone(),
        )
            .into_response()
    }
    let stored = Cache::new();
    let uncompressed = Cache::builder().compression(Compression::off()).build();
    let policy = |name| Policy::builder(name).ttl(Duration::from_secs(3600)).build();
    let cached = |cache: &Cache, name| CacheLayer::new(policy(name)).cache(cache.clone());
    Router::new()
        .route(
            "/compress/stored/2k",
            get(static_bytes).layer(cached(&stored, "bench::stored_2k")),
        )
        .route(
            "/compress/stored/50k",
            get(large_bytes).layer(cached(&stored, "bench::stored_50k")),
        )
        .route(
            "/compress/layer/2k",
            get(static_bytes)
                .layer::<_, std::convert::Infallible>(cached(&uncompressed, "bench::layer_2k"))
                .layer(CompressionLayer::new()),
        )
        .route(
            "/compress/layer/50k",
            get(large_bytes)
                .layer::<_, std::convert::Infallible>(cached(&uncompressed, "bench::layer_50k"))
                .layer(CompressionLayer::new()),
        )
}

async fn stats(Extension(cache): Extension<Cache>) -> String {
    format!("{:?}", cache.stats())
}

#[tokio::main]
async fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8088".into());
    // Room for the 1M-entry scale scenario.
    let cache = Cache::builder()
        .max_entries(2_000_000)
        .max_bytes(4 << 30)
        .build();
    let app = Router::new()
        .route("/baseline/hello", get(hello))
        .route("/baseline/static", get(static_bytes))
        .route("/baseline/static-headers", get(static_with_headers))
        .route("/baseline/work", get(baseline_work))
        .route("/cached/work", get(cached_work))
        .route("/cached/composite", get(cached_composite))
        .route("/cached/stale", get(cached_stale))
        .route("/small", get(small))
        .route("/manual/work", get(manual_work))
        .route("/handmade/work", get(handmade))
        .route(
            "/peer/axum-response-cache",
            get(baseline_work).layer(axum_response_cache::CacheLayer::with_lifespan(
                Duration::from_secs(3600),
            )),
        )
        .route("/peer/tower-http-cache", tower_http_cache_route())
        .route("/admin/fill", get(fill))
        .route("/admin/stats", get(stats))
        .layer(Extension(cache));
    #[cfg(feature = "compression")]
    let app = app.merge(compression_routes());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("port free");
    println!("listening on {}", listener.local_addr().expect("bound"));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("server runs");
}
