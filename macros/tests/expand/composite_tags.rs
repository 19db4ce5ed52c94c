#[cached_etag(ttl = 300, etag = "composite", tags("images", "image:{id}"))]
async fn get_image(Path(id): Path<i64>, State(db): State<Db>) -> Result<Json<Image>, AppError> {
    Ok(Json(db.image(id).await?))
}
