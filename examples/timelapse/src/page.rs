//! `GET /`: one static page, no build step, no script from elsewhere. It
//! shows each camera with its latest capture and a strip of recent frames,
//! and the settings, all loaded through the cached endpoints and
//! revalidated every few seconds (so the 304s show in the numbers beside
//! them); and, live from `/api/events`, the cache's totals and, per route,
//! requests, hit ratio, 304s and bytes saved as a table and a small SVG
//! chart. Its element ids (`cameras`, `settings`, `stat-hits`,
//! `stat-not-modified`, `stat-bytes-saved`, `routes`, `chart`, `live`,
//! `selftest`) and the `data-route` of rows and lines are what the browser
//! test reads.

use std::time::Duration;

use axum::response::Html;
use cached_etag::{CacheLayer, Policy};

const INDEX: &str = include_str!("index.html");

/// The page. It knows nothing of caching: [`cache`] wraps its route.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// The layer that caches the page: the other way to attach cached-etag,
/// for a handler (or a whole router) left as it is. The page gets an ETag
/// (a SHA-256 of its bytes), `Cache-Control` and 304s, from the same cache
/// and engine as the annotated API handlers.
pub fn cache() -> CacheLayer {
    CacheLayer::new(
        Policy::builder("timelapse::page")
            .ttl(Duration::from_secs(3600))
            .build(),
    )
}
