use axum::http::StatusCode;
use cached_etag::invalidates;

#[invalidates("settings", 7)]
async fn put_settings() -> StatusCode {
    StatusCode::NO_CONTENT
}

fn main() {}
