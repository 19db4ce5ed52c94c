// Two mistakes in one attribute, two errors in one build: the bad style does
// not hide the zero ttl. The function is still emitted, so its route compiles.
use axum::Router;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(ttl = 0, etag = "bogus")]
async fn images() -> &'static str {
    "images"
}

fn main() {
    let _: Router = Router::new().route("/", get(images));
}
