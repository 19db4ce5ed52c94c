//! `check = <async expr>` over bound names, and `cache = <expr>`, both
//! evaluated before the body, which still uses the same names.
#![deny(warnings)]
use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cached_etag::{Cache, ETag, cached_etag};

#[derive(Clone)]
struct App {
    db: Db,
    cache: Cache,
}

#[derive(Clone)]
struct Db;

impl Db {
    async fn image_version(&self, id: i64) -> Result<ETag, StatusCode> {
        ETag::weak(&id.to_string()).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
    }

    async fn image(&self, id: i64) -> Result<String, StatusCode> {
        Ok(format!("image {id}"))
    }
}

#[cached_etag(check = db.image_version(id), cache = cache)]
async fn by_state(
    Path(id): Path<i64>,
    State(App { db, cache }): State<App>,
) -> Result<Json<String>, StatusCode> {
    Ok(Json(db.image(id).await?))
}

static CACHE: LazyLock<Cache> = LazyLock::new(Cache::new);

#[cached_etag(check = async { None::<ETag> }, cache = &*CACHE)]
async fn by_static() -> &'static str {
    "static"
}

fn main() {
    let app = App {
        db: Db,
        cache: Cache::new(),
    };
    let _: Router = Router::new()
        .route("/images/{id}", get(by_state))
        .route("/static", get(by_static))
        .with_state(app);
}
