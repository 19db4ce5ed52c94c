use axum::http::StatusCode;
use cached_etag::invalidates;

#[invalidates("settings")]
fn put_settings() -> StatusCode {
    StatusCode::NO_CONTENT
}

fn main() {}
