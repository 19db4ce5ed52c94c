use axum::Router;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(etag = "composite")]
async fn name() -> String {
    "name".to_owned()
}

fn main() {
    let _: Router = Router::new().route("/", get(name));
}
