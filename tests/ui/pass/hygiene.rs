//! User names that collide with what the expansion uses: shadowed prelude
//! types and macros, arguments named like the generated locals, two cached
//! handlers in one module.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use cached_etag::cached_etag;

struct Result;
struct Option;
struct Vec;
struct String;
struct Arc;
struct Duration;
struct LazyLock;
static POLICY: u8 = 0;

#[allow(unused_macros)]
macro_rules! format {
    ($($t:tt)*) => {
        compile_error!("the user's format! was used")
    };
}

#[derive(serde::Deserialize)]
struct Params {
    __policy: u32,
    __tags: u32,
}

#[cached_etag(tags("p:{__policy}", "t:{__tags}", "k:{key}"), ttl = 10)]
async fn first(
    Query(Params { __policy, __tags }): Query<Params>,
    Query(key): Query<u32>,
) -> Json<u32> {
    let __output = __policy + __tags + key;
    let __cached_etag = __output;
    Json(__cached_etag)
}

#[cached_etag(tags("second"))]
async fn second() -> &'static str {
    "second"
}

fn main() {
    let _: Router = Router::new()
        .route("/1", get(first))
        .route("/2", get(second));
}
