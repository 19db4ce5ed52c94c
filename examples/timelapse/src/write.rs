//! The write paths. Each one loads the current version, lets its
//! [`WriteGuard`] check the client's preconditions against it (a `PUT` with
//! a stale `If-Match` gets 412 and changes nothing), writes, and answers
//! with the new ETag (the one the matching `GET` shows). What it touched is
//! declared with `#[invalidates]`: after a 2xx, those tags are invalidated,
//! keeping entries already at the response's ETag, here, in Redis and on
//! the other instances, before the response is sent.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cached_etag::etag::{self, ETag};
use cached_etag::openapi::GuardedWrite;
use cached_etag::{WriteGuard, invalidates};

use crate::db::{self, Camera, CameraInput, Settings, SettingsInput};
use crate::{ApiError, AppState};

/// `PUT /api/settings`.
#[utoipa::path(
    put,
    path = "/api/settings",
    params(GuardedWrite),
    responses((status = 200, description = "The updated settings, with their new ETag"), (status = 400, description = "Invalid input"))
)]
#[invalidates("settings")]
pub async fn settings(
    State(app): State<AppState>,
    guard: WriteGuard,
    Json(input): Json<SettingsInput>,
) -> Result<Response, ApiError> {
    if input.capture_interval_secs == 0 || input.retention_days == 0 {
        return Err(ApiError::Invalid(
            "capture_interval_secs and retention_days must be at least 1".into(),
        ));
    }
    let _write = app.write_lock.lock().await;
    let current = db::settings(&app.db).await?;
    guard.check(Some(&settings_etag(&current)), Some(current.updated_at))?;
    let updated = db::update_settings(&app.db, &current, &input).await?;
    Ok((settings_etag(&updated), Json(updated)).into_response())
}

/// `PUT /api/cameras/{id}`. Invalidates the camera's entry and the list's;
/// not `cameras`, which every camera's entry carries. The list's entry
/// never shows the camera's ETag, so it goes even when the camera did not
/// change.
#[utoipa::path(
    put,
    path = "/api/cameras/{id}",
    params(("id" = i64, Path, description = "The camera's id"), GuardedWrite),
    responses((status = 200, description = "The updated camera, with its new ETag"), (status = 400, description = "Invalid input"), (status = 404, description = "No such camera"))
)]
#[invalidates("camera:{id}", "cameras:list")]
pub async fn camera(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    guard: WriteGuard,
    Json(input): Json<CameraInput>,
) -> Result<Response, ApiError> {
    if input.name.trim().is_empty() || input.name.chars().count() > 100 {
        return Err(ApiError::Invalid("name must be 1 to 100 characters".into()));
    }
    let _write = app.write_lock.lock().await;
    let current = existing_camera(&app, id, &guard).await?;
    guard.check(Some(&camera_etag(&current)), Some(current.updated_at))?;
    let updated = db::update_camera(&app.db, &current, &input).await?;
    Ok((camera_etag(&updated), Json(updated)).into_response())
}

/// `POST /api/cameras/{id}/capture`: records a new image. Its camera's
/// count and latest image change; other cameras' stay cached. The guard
/// checks the camera: `If-Match` with the camera's ETag captures only if
/// the camera is still as the client saw it.
#[utoipa::path(
    post,
    path = "/api/cameras/{id}/capture",
    params(("id" = i64, Path, description = "The camera's id"), GuardedWrite),
    responses((status = 201, description = "The new image, with its ETag and Location"), (status = 400, description = "Invalid input"), (status = 404, description = "No such camera"))
)]
#[invalidates("camera:{id}:images")]
pub async fn capture(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    guard: WriteGuard,
) -> Result<Response, ApiError> {
    let _write = app.write_lock.lock().await;
    let camera = existing_camera(&app, id, &guard).await?;
    guard.check(Some(&camera_etag(&camera)), Some(camera.updated_at))?;
    let image = db::insert_image(&app.db, id).await?;
    tracing::info!(camera = id, image = image.id, "captured");
    // The ETag `GET /api/images/{id}` will show: composite, weak (that
    // handler does not say `strong`).
    let etag = etag::composite_of(&image).0;
    let location = HeaderValue::from_str(&format!("/api/images/{}", image.id))
        .map(|location| [(header::LOCATION, location)])
        .ok();
    Ok((StatusCode::CREATED, etag, location, Json(image)).into_response())
}

/// The camera, or the handler's 404: preconditions do not turn a missing
/// camera into a 412 (RFC 9110 §13.2.1), except `If-Match: *`, which
/// asked for one that exists.
async fn existing_camera(app: &AppState, id: i64, guard: &WriteGuard) -> Result<Camera, ApiError> {
    match db::camera(&app.db, id).await? {
        Some(camera) => Ok(camera),
        None => {
            guard.check_not_found()?;
            Err(ApiError::NotFound(format!("camera {id}")))
        }
    }
}

/// The ETag `GET /api/settings` shows: the timestamp style, strong.
fn settings_etag(settings: &Settings) -> ETag {
    etag::timestamp_of(settings).0.into_strong()
}

/// The ETag `GET /api/cameras/{id}` shows: the composite style, strong.
fn camera_etag(camera: &Camera) -> ETag {
    etag::composite_of(camera).0.into_strong()
}
