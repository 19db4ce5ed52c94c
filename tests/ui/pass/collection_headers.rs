//! `etag = "collection"` with `vary`, `shared`, `public`, `max_age`,
//! `surrogate_keys`, and a tag templated over a struct pattern's field.
#![deny(warnings)]
use std::time::SystemTime;

use axum::extract::{Path, Query};
use axum::routing::get;
use axum::{Json, Router};
use cached_etag::{Resource, cached_etag};

#[derive(serde::Deserialize)]
struct Page {
    page: u32,
    #[allow(dead_code)]
    per_page: Option<u32>,
}

#[derive(serde::Serialize, Resource)]
struct Image {
    id: u64,
    #[serde(skip)]
    updated_at: SystemTime,
}

#[cached_etag(
    etag = "collection",
    tags("images", "camera:{camera}:images", "page:{page:04}"),
    vary("accept-language", "accept"),
    shared,
    public,
    max_age = "10m",
    surrogate_keys
)]
async fn list_images(
    Path(camera): Path<u64>,
    Query(Page { page, .. }): Query<Page>,
) -> Json<Vec<Image>> {
    Json(vec![Image {
        id: camera * 1000 + u64::from(page),
        updated_at: SystemTime::now(),
    }])
}

fn main() {
    let _: Router = Router::new().route("/cameras/{camera}/images", get(list_images));
}
