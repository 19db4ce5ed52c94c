//! `crate = path` for a crate that re-exports cached-etag.
#![deny(warnings)]
use axum::Router;
use axum::routing::get;

mod framework {
    pub use cached_etag as caching;
}

#[framework::caching::cached_etag(crate = framework::caching, ttl = 5)]
async fn hello() -> &'static str {
    "hello"
}

fn main() {
    let _: Router = Router::new().route("/", get(hello));
}
