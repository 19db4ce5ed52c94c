//! `etag = "composite"` with a literal and a templated tag over `Path(id)`.
#![deny(warnings)]
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cached_etag::{Identified, UpdatedAt, cached_etag};

#[derive(Clone)]
struct Db;

impl Db {
    async fn image(&self, id: i64) -> Result<Image, StatusCode> {
        Ok(Image {
            id,
            updated_at: SystemTime::UNIX_EPOCH,
        })
    }
}

#[derive(serde::Serialize)]
struct Image {
    id: i64,
    #[serde(skip)]
    updated_at: SystemTime,
}

impl Identified for Image {
    fn id(&self) -> impl std::fmt::Display + '_ {
        self.id
    }
}

impl UpdatedAt for Image {
    fn updated_at(&self) -> SystemTime {
        self.updated_at
    }
}

#[cached_etag(ttl = 300, etag = "composite", tags("images", "image:{id}"))]
async fn get_image(Path(id): Path<i64>, State(db): State<Db>) -> Result<Json<Image>, StatusCode> {
    Ok(Json(db.image(id).await?))
}

fn main() {
    let _: Router = Router::new()
        .route("/images/{id}", get(get_image))
        .with_state(Db);
}
