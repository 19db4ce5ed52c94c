// The attribute's error is the only one: the function is still emitted, so
// the route that names it compiles.
use axum::Router;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(ttl = 0)]
async fn images() -> &'static str {
    "images"
}

fn main() {
    let _: Router = Router::new().route("/", get(images));
}
