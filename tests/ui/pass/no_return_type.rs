//! A handler without a return type returns `()`, an empty 200.
#![deny(warnings)]
use axum::Router;
use axum::routing::get;
use cached_etag::cached_etag;

#[cached_etag(ttl = 1)]
async fn ping() {}

fn main() {
    let _: Router = Router::new().route("/", get(ping));
}
