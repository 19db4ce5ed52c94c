use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use cached_etag::cached_etag;

async fn version(id: i64) -> i64 {
    id
}

#[cached_etag(check = version(id))]
async fn image(Path(id): Path<i64>) -> String {
    id.to_string()
}

fn main() {
    let _: Router = Router::new().route("/{id}", get(image));
}
