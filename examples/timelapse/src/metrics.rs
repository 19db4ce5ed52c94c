//! `GET /metrics`: the cache's series in the Prometheus text format, through
//! the `metrics` facade that cached-etag's `metrics` feature feeds and the
//! `metrics-exporter-prometheus` recorder (no HTTP listener of its own: the
//! service serves the text on its own router).
//!
//! The recorder is process-wide and must be installed before the cache
//! registers its series, so [`crate::build`] calls [`install`] before it
//! builds the cache. Several services in one process (the tests) share it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the Prometheus recorder, once per process; `None` when another
/// recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "another metrics recorder is installed; /metrics stays empty");
                None
            }
        })
        .as_ref()
}

/// `GET /metrics`.
pub async fn render() -> impl IntoResponse {
    let text = install().map_or_else(String::new, |handle| {
        // Drains the histograms' samples into their summaries, so that
        // they do not grow between scrapes.
        handle.run_upkeep();
        handle.render()
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
