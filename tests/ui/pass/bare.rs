//! No argument: a one-minute, weak, content-hash ETag.
#![deny(warnings)]
use axum::Router;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag]
async fn hello() -> &'static str {
    "hello"
}

fn main() {
    let _: Router = Router::new().route("/", get(hello));
}
