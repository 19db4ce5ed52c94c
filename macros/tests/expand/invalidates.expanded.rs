pub async fn put_camera(
    __cached_etag: ::cached_etag::__private::WriteCache,
    Path(id): Path<i64>,
    guard: WriteGuard,
    Json(input): Json<CameraInput>,
) -> ::cached_etag::__private::Response {
    use ::cached_etag::__private as __ce;
    let __tags = [__ce::format!("camera:{id}"), __ce::String::from("cameras:list")];
    let __output: Result<(ETag, Json<Camera>), AppError> = async move {
        let current = db::camera(id).await?;
        guard.check(Some(&current.etag()), Some(current.updated_at))?;
        let updated = db::update_camera(id, input).await?;
        Ok((updated.etag(), Json(updated)))
    }
        .await;
    __cached_etag.after(__tags, __output).await
}
