/// Lists a camera's images, a page at a time.
#[cached_etag(
    etag = "collection",
    tags("images", "camera:{camera}:images"),
    vary("accept-language"),
    shared,
    public,
    max_age = "10m",
    surrogate_keys,
)]
pub async fn list_images(
    Path(camera): Path<i64>,
    Query(Page { page, .. }): Query<Page>,
    State(db): State<Db>,
) -> Json<Vec<Image>> {
    Json(db.images(camera, page).await)
}
