//! The write paths. Each one checks the client's preconditions against the
//! current version (a `PUT` with a stale `If-Match` gets 412 and changes
//! nothing), writes, answers with the new ETag (the one the matching `GET`
//! shows), and publishes what it touched: the exact tags, and the new ETag so
//! that entries already showing it are kept.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cached_etag::Event;
use cached_etag::conditional::{Current, Outcome, Preconditions};
use cached_etag::etag::{self, ETag};

use crate::db::{self, Camera, CameraInput, Settings, SettingsInput};
use crate::{ApiError, AppState};

/// `PUT /api/settings`.
pub async fn settings(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(input): Json<SettingsInput>,
) -> Result<Response, ApiError> {
    if input.capture_interval_secs == 0 || input.retention_days == 0 {
        return Err(ApiError::Invalid(
            "capture_interval_secs and retention_days must be at least 1".into(),
        ));
    }
    let _write = app.write_lock.lock().await;
    let current = db::settings(&app.db).await?;
    require(&headers, &settings_etag(&current), current.updated_at)?;
    let updated = db::update_settings(&app.db, &current, &input).await?;
    let etag = settings_etag(&updated);
    app.publish(Event::tags(["settings"]).with_etag(etag.clone()))
        .await;
    Ok(with_etag(&etag, Json(updated)))
}

/// `PUT /api/cameras/{id}`.
pub async fn camera(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(input): Json<CameraInput>,
) -> Result<Response, ApiError> {
    if input.name.trim().is_empty() || input.name.chars().count() > 100 {
        return Err(ApiError::Invalid("name must be 1 to 100 characters".into()));
    }
    let _write = app.write_lock.lock().await;
    let current = db::camera(&app.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("camera {id}")))?;
    require(&headers, &camera_etag(&current), current.updated_at)?;
    let updated = db::update_camera(&app.db, &current, &input).await?;
    let etag = camera_etag(&updated);
    let list_etag = db::cameras_etag(&app.db).await?;
    // Two events, one per ETag: this camera's entry, and the list's. Neither
    // names `cameras`, which every camera's entry carries.
    app.publish(Event::tags([format!("camera:{id}")]).with_etag(etag.clone()))
        .await;
    app.publish(Event::tags(["cameras:list"]).with_etag(list_etag))
        .await;
    Ok(with_etag(&etag, Json(updated)))
}

/// `POST /api/cameras/{id}/capture`: records a new image. Its camera's
/// count and latest image change (no ETag in the event: both always do);
/// other cameras' stay cached.
pub async fn capture(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let _write = app.write_lock.lock().await;
    if db::camera(&app.db, id).await?.is_none() {
        return Err(ApiError::NotFound(format!("camera {id}")));
    }
    let image = db::insert_image(&app.db, id).await?;
    app.publish(Event::tags([format!("camera:{id}:images")]))
        .await;
    tracing::info!(camera = id, image = image.id, "captured");
    // The ETag `GET /api/images/{id}` will show: composite, weak (that
    // handler does not say `strong`).
    let etag = etag::composite_of(&image).0;
    let mut response = with_etag(&etag, (StatusCode::CREATED, Json(&image)));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/images/{}", image.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The ETag `GET /api/settings` shows: the timestamp style, strong.
fn settings_etag(settings: &Settings) -> ETag {
    etag::timestamp_of(settings).0.into_strong()
}

/// The ETag `GET /api/cameras/{id}` shows: the composite style, strong.
fn camera_etag(camera: &Camera) -> ETag {
    etag::composite_of(camera).0.into_strong()
}

/// RFC 9110 §13.2.2 for a `PUT` on an existing resource: `If-Match`
/// (strong), `If-Unmodified-Since`, `If-None-Match`. A request without
/// conditions proceeds.
fn require(headers: &HeaderMap, current: &ETag, last_modified: SystemTime) -> Result<(), ApiError> {
    let current_state = Current::new(Some(current), Some(last_modified));
    match Preconditions::new(headers).evaluate(&Method::PUT, current_state) {
        Outcome::Proceed => Ok(()),
        // 304 is for GET and HEAD only; for a PUT both outcomes mean 412.
        Outcome::NotModified | Outcome::PreconditionFailed => {
            Err(ApiError::PreconditionFailed(current.clone()))
        }
    }
}

fn with_etag(etag: &ETag, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag.to_header_value());
    response
}
