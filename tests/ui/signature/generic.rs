use axum::Json;
use cached_etag::cached_etag;

#[cached_etag]
async fn echo<T: serde::Serialize + Default>() -> Json<T> {
    Json(T::default())
}

fn main() {}
