use axum::extract::Path;
use axum::http::StatusCode;
use cached_etag::invalidates;

#[invalidates("camera:{idd}", "", cache = "CACHE")]
fn put_camera<T>(Path(id): Path<i64>) -> StatusCode {
    let _ = id;
    StatusCode::NO_CONTENT
}

fn main() {}
