//! `GET /`: one static page, no build step. It lists the cameras from
//! `/api/cameras`, shows the cache's counters live from `/api/events`, and
//! refetches the list when an event says cameras changed. Its element ids
//! (`cameras`, `stat-hits`, `stat-not-modified`, `stat-bytes-saved`,
//! `selftest`) are what the browser test reads.

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
