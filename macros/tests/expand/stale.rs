/// The latest frame of a camera: served stale for half a minute while it is
/// refreshed, and for ten minutes if the refresh fails.
#[cached_etag(
    ttl = 30,
    stale_while_revalidate = "30s",
    stale_if_error = "10m",
    advertise_stale,
    tags("camera:{id}:latest"),
)]
pub async fn latest_frame(Path(id): Path<i64>, State(db): State<Db>) -> Json<Frame> {
    Json(db.latest_frame(id).await)
}
