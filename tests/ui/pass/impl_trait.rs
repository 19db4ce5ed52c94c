//! `impl IntoResponse` works with the `hash` style, which needs no typed value.
#![deny(warnings)]
use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(etag = "hash", ttl = "30s")]
async fn page() -> impl IntoResponse {
    ([("content-type", "text/html")], "<h1>hi</h1>")
}

fn main() {
    let _: Router = Router::new().route("/", get(page));
}
