//! `etag = "timestamp"` on a value whose `UpdatedAt` comes from the derive,
//! with a duration string for `ttl`.
#![deny(warnings)]
use std::time::SystemTime;

use axum::routing::get;
use axum::{Json, Router};
use cached_etag::{Resource, cached_etag};

#[derive(serde::Serialize, Resource)]
struct Settings {
    interval: u32,
    #[serde(skip)]
    updated_at: SystemTime,
}

#[cached_etag(etag = "timestamp", ttl = "1h30m", tags("settings"))]
async fn get_settings() -> Json<Settings> {
    Json(Settings {
        interval: 60,
        updated_at: SystemTime::now(),
    })
}

fn main() {
    let _: Router = Router::new().route("/", get(get_settings));
}
