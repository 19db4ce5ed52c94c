//! `#[invalidates]` with a literal and a templated tag, `cache = ...`,
//! `crate = ...`, a `WriteGuard`, an `impl Trait` return and no return type.
#![deny(warnings)]
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, post, put};
use cached_etag::{Cache, ETag, PreconditionError, WriteGuard, invalidates};

static CACHE: LazyLock<Cache> = LazyLock::new(Cache::new);

#[invalidates("cameras:list", "camera:{id}")]
async fn put_camera(
    Path(id): Path<i64>,
    guard: WriteGuard,
) -> Result<(ETag, &'static str), PreconditionError> {
    let current = ETag::from_string(&format!("{id}-1")).into_strong();
    guard.check(Some(&current), None)?;
    Ok((ETag::from_string(&format!("{id}-2")).into_strong(), "updated"))
}

#[invalidates("camera:{id}:images", cache = &*CACHE)]
async fn capture(Path(id): Path<i64>) -> impl IntoResponse {
    (StatusCode::CREATED, id.to_string())
}

mod reexport {
    pub use cached_etag as ce;
}

#[invalidates("cameras", crate = reexport::ce)]
async fn delete_all() {}

fn main() {
    let _: Router = Router::new()
        .route("/cameras/{id}", put(put_camera))
        .route("/cameras/{id}/capture", post(capture))
        .route("/cameras", delete(delete_all));
}
