use axum::http::StatusCode;
use cached_etag::invalidates;

#[invalidates("settings", tags("other"))]
async fn put_settings() -> StatusCode {
    StatusCode::NO_CONTENT
}

fn main() {}
