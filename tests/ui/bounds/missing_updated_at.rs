use axum::routing::get;
use axum::{Json, Router};
use cached_etag::cached_etag;

#[derive(serde::Serialize)]
struct Settings {
    interval: u32,
}

#[cached_etag(etag = "timestamp")]
async fn settings() -> Json<Settings> {
    Json(Settings { interval: 60 })
}

fn main() {
    let _: Router = Router::new().route("/", get(settings));
}
