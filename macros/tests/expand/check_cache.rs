#[cached_etag(
    ttl = "1h30m",
    etag = "timestamp",
    tags("settings"),
    check = db.settings_version(),
    cache = cache,
)]
async fn get_settings(State(App { db, cache }): State<App>) -> Result<Json<Settings>, AppError> {
    Ok(Json(db.settings().await?))
}
