use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(etag = "timestamp")]
async fn settings() -> impl IntoResponse {
    "settings"
}

fn main() {
    let _: Router = Router::new().route("/", get(settings));
}
