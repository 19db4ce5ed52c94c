//! The `Cache-Control` flags each alone, and `public` with `immutable`.
#![deny(warnings)]
use axum::Router;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(no_cache)]
async fn revalidated() -> &'static str {
    "always revalidated"
}

#[cached_etag(public, immutable, max_age = 31536000, ttl = "1d")]
async fn asset() -> &'static str {
    "forever"
}

fn main() {
    let _: Router = Router::new()
        .route("/a", get(revalidated))
        .route("/b", get(asset));
}
