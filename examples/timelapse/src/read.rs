//! The read paths, each one cached handler. The attribute keeps the
//! response server-side, answers `If-None-Match` with 304, and files the
//! entry under its tags for the writes in [`crate::write`] to invalidate.
//!
//! Mutable resources (settings, cameras, counts) say `no_cache`: browsers
//! keep them but revalidate on every use, which costs a 304 from the server
//! cache, so a change shows up at once. Images never change: their metadata
//! is `public` for a day, their bytes `immutable` for a year.

use axum::Json;
use axum::extract::{Path, State};
use cached_etag::cached_etag;
use cached_etag::openapi::CachedRead;

use crate::db::{self, Camera, Image, ImageCount, Settings};
use crate::svg::{self, Svg};
use crate::{ApiError, AppState};

/// `GET /api/settings`. Strong ETag: `PUT` takes it back in `If-Match`,
/// which compares strongly (RFC 9110 §13.1.1), and the JSON bytes are a
/// function of the row.
#[utoipa::path(
    get,
    path = "/api/settings",
    params(CachedRead),
    responses((status = 200, description = "The settings"))
)]
#[cached_etag(etag = "timestamp", strong, ttl = "5m", no_cache, tags("settings"))]
pub async fn settings(State(app): State<AppState>) -> Result<Json<Settings>, ApiError> {
    Ok(Json(db::settings(&app.db).await?))
}

/// `GET /api/cameras`. Also tagged `cameras:list`, the tag a camera write
/// invalidates: `cameras` is on every camera's own entry too, and a change
/// to one camera must not cost the others theirs.
#[utoipa::path(
    get,
    path = "/api/cameras",
    params(CachedRead),
    responses((status = 200, description = "Every camera"))
)]
#[cached_etag(
    etag = "collection",
    ttl = "5m",
    no_cache,
    tags("cameras", "cameras:list")
)]
pub async fn cameras(State(app): State<AppState>) -> Result<Json<Vec<Camera>>, ApiError> {
    Ok(Json(db::cameras(&app.db).await?))
}

/// `GET /api/cameras/{id}`: `"{id}-{updated_at}"`, strong for `If-Match`.
#[utoipa::path(
    get,
    path = "/api/cameras/{id}",
    params(("id" = i64, Path, description = "The camera's id"), CachedRead),
    responses((status = 200, description = "The camera"), (status = 404, description = "No such camera"))
)]
#[cached_etag(
    etag = "composite",
    strong,
    ttl = "5m",
    no_cache,
    tags("cameras", "camera:{id}")
)]
pub async fn camera(
    Path(id): Path<i64>,
    State(app): State<AppState>,
) -> Result<Json<Camera>, ApiError> {
    let camera = db::camera(&app.db, id).await?;
    Ok(Json(camera.ok_or_else(|| camera_not_found(id))?))
}

/// `GET /api/cameras/{id}/images/count`: `"{count}-{newest}"`. Captures
/// from outside this process (the capture worker) reach it through
/// `images:by-camera`, which the database watcher marks stale
/// ([`crate::watch_database`]): captures arrive every few seconds, and a
/// count one capture behind is fine where a waiting request is not, so a
/// stale count is answered at once while one refresh replaces it, and
/// served instead of a failing database for ten minutes.
#[utoipa::path(
    get,
    path = "/api/cameras/{id}/images/count",
    params(("id" = i64, Path, description = "The camera's id"), CachedRead),
    responses((status = 200, description = "How many images the camera has, and the newest one's time"), (status = 404, description = "No such camera"))
)]
#[cached_etag(
    etag = "collection",
    ttl = "5m",
    stale_while_revalidate = "30s",
    stale_if_error = "10m",
    no_cache,
    tags("images", "camera:{id}:images", "images:by-camera")
)]
pub async fn image_count(
    Path(id): Path<i64>,
    State(app): State<AppState>,
) -> Result<Json<ImageCount>, ApiError> {
    if db::camera(&app.db, id).await?.is_none() {
        return Err(camera_not_found(id));
    }
    Ok(Json(db::image_count(&app.db, id).await?))
}

/// `GET /api/cameras/{id}/images/latest`: the newest image's metadata,
/// served stale while refreshed as the count is.
#[utoipa::path(
    get,
    path = "/api/cameras/{id}/images/latest",
    params(("id" = i64, Path, description = "The camera's id"), CachedRead),
    responses((status = 200, description = "The newest image's metadata"), (status = 404, description = "No such camera"))
)]
#[cached_etag(
    etag = "composite",
    ttl = "5m",
    stale_while_revalidate = "30s",
    stale_if_error = "10m",
    no_cache,
    tags("camera:{id}:images", "images:by-camera")
)]
pub async fn latest_image(
    Path(id): Path<i64>,
    State(app): State<AppState>,
) -> Result<Json<Image>, ApiError> {
    match db::latest_image(&app.db, id).await? {
        Some(image) => Ok(Json(image)),
        None if db::camera(&app.db, id).await?.is_none() => Err(camera_not_found(id)),
        None => Err(ApiError::NotFound(format!("an image of camera {id}"))),
    }
}

/// How many frames `GET /api/cameras/{id}/images/recent` lists.
pub const RECENT_FRAMES: u32 = 8;

/// `GET /api/cameras/{id}/images/recent`: the newest frames, newest first,
/// for the page's strip. Invalidated with the count and the latest image.
#[utoipa::path(
    get,
    path = "/api/cameras/{id}/images/recent",
    params(("id" = i64, Path, description = "The camera's id"), CachedRead),
    responses((status = 200, description = "The newest frames, newest first"), (status = 404, description = "No such camera"))
)]
#[cached_etag(
    etag = "collection",
    ttl = "5m",
    no_cache,
    tags("camera:{id}:images", "images:by-camera")
)]
pub async fn recent_images(
    Path(id): Path<i64>,
    State(app): State<AppState>,
) -> Result<Json<Vec<Image>>, ApiError> {
    if db::camera(&app.db, id).await?.is_none() {
        return Err(camera_not_found(id));
    }
    Ok(Json(db::recent_images(&app.db, id, RECENT_FRAMES).await?))
}

/// `GET /api/images/{id}`: metadata, which never changes after capture.
#[utoipa::path(
    get,
    path = "/api/images/{id}",
    params(("id" = i64, Path, description = "The image's id"), CachedRead),
    responses((status = 200, description = "The image's metadata"), (status = 404, description = "No such image"))
)]
#[cached_etag(
    etag = "composite",
    ttl = "1h",
    public,
    max_age = "1d",
    tags("images", "image:{id}")
)]
pub async fn image(
    Path(id): Path<i64>,
    State(app): State<AppState>,
) -> Result<Json<Image>, ApiError> {
    let image = db::image(&app.db, id).await?;
    Ok(Json(image.ok_or_else(|| image_not_found(id))?))
}

/// `GET /api/images/{id}/file`: the picture. The bytes are the identity, so
/// the ETag is their hash, strong; they never change at this URL, so clients
/// and CDNs may keep them for a year without asking.
#[utoipa::path(
    get,
    path = "/api/images/{id}/file",
    params(("id" = i64, Path, description = "The image's id"), CachedRead),
    responses((status = 200, description = "The picture (SVG)"), (status = 404, description = "No such image"))
)]
#[cached_etag(
    etag = "hash",
    strong,
    ttl = "1h",
    public,
    immutable,
    max_age = "365d",
    tags("images", "image:{id}")
)]
pub async fn image_file(Path(id): Path<i64>, State(app): State<AppState>) -> Result<Svg, ApiError> {
    let image = db::image(&app.db, id).await?;
    Ok(svg::render(&image.ok_or_else(|| image_not_found(id))?))
}

fn camera_not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("camera {id}"))
}

fn image_not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("image {id}"))
}
