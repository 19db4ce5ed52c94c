#[invalidates("camera:{id}", "cameras:list")]
pub async fn put_camera(
    Path(id): Path<i64>,
    guard: WriteGuard,
    Json(input): Json<CameraInput>,
) -> Result<(ETag, Json<Camera>), AppError> {
    let current = db::camera(id).await?;
    guard.check(Some(&current.etag()), Some(current.updated_at))?;
    let updated = db::update_camera(id, input).await?;
    Ok((updated.etag(), Json(updated)))
}
