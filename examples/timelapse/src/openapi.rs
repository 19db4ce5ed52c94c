//! `GET /openapi.json`: the API's OpenAPI document. Each handler's
//! `#[utoipa::path]` says what it is with one line (`params(CachedRead)` on
//! the cached reads, `params(GuardedWrite)` on the guarded writes), and
//! [`Conditional`] adds what caching changes: the validators and `304` on
//! the reads, `412` and `428` on the writes.

use axum::Json;
use cached_etag::openapi::Conditional;
use utoipa::OpenApi;

use crate::{read, write};

#[derive(OpenApi)]
#[openapi(
    info(title = "Timelapse", description = "Cameras and their images, cached with cached-etag."),
    paths(
        read::settings,
        read::cameras,
        read::camera,
        read::image_count,
        read::latest_image,
        read::recent_images,
        read::image,
        read::image_file,
        write::settings,
        write::camera,
        write::capture,
    ),
    modifiers(&Conditional)
)]
struct Api;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
