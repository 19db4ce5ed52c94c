//! `GET /`: one static page, no build step. It lists the cameras from
//! `/api/cameras`, shows the cache's counters live from `/api/events`, and
//! refetches the list when an event says cameras changed. Its element ids
//! (`cameras`, `stat-hits`, `stat-not-modified`, `stat-bytes-saved`,
//! `selftest`) are what the browser test reads.

use axum::response::Html;

const INDEX: &str = include_str!("index.html");

/// The page.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}
