use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::put;
use cached_etag::invalidates;

#[invalidates("cameras:list", "camera:{camera_id}")]
async fn put_camera(Path(id): Path<i64>) -> StatusCode {
    let _ = id;
    StatusCode::NO_CONTENT
}

// The function is still emitted beside the error: the route resolves, and
// the error above is the only one.
fn main() {
    let _: axum::Router = axum::Router::new().route("/cameras/{id}", put(put_camera));
}
