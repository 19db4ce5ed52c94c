//! `#[axum::debug_handler]` and `#[tracing::instrument]` on a cached handler.
//! They go below `#[cached_etag]`, so that they see the handler as axum will
//! call it (with the injected extractor); above it, `debug_handler` would
//! check the signature before the attribute adds its argument.
#![deny(warnings)]

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use cached_etag::cached_etag;

#[cached_etag(ttl = 60, tags("item:{id}"))]
#[axum::debug_handler]
#[tracing::instrument]
async fn item(Path(id): Path<u32>) -> Json<u32> {
    Json(id)
}

fn main() {
    let _app: Router = Router::new().route("/items/{id}", get(item));
}
