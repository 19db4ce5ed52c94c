//! The stale windows, kept server-side or advertised to clients.
#![deny(warnings)]
use axum::Router;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(ttl = 30, stale_while_revalidate = "250ms", stale_if_error = 600)]
async fn kept() -> &'static str {
    "served stale by this cache only"
}

#[cached_etag(
    ttl = "1m",
    stale_while_revalidate = 30,
    stale_if_error = "10m",
    advertise_stale,
    public
)]
async fn advertised() -> &'static str {
    "served stale downstream too"
}

#[cached_etag(stale_if_error = "1h", advertise_stale)]
async fn on_error_only() -> &'static str {
    "served stale when the refresh fails"
}

fn main() {
    let _: Router = Router::new()
        .route("/a", get(kept))
        .route("/b", get(advertised))
        .route("/c", get(on_error_only));
}
