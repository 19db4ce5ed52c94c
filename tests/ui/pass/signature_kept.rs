//! Attributes, docs, visibility and the `where` clause survive; `return` and
//! `?` in the body keep the declared return type; patterns of every kind
//! bind names for tag templates.
#![deny(warnings)]

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cached_etag::cached_etag;

#[derive(serde::Deserialize)]
struct Filter {
    kind: String,
    #[allow(dead_code)]
    limit: Option<u32>,
}

mod handlers {
    use super::*;

    /// Finds an image of a camera.
    #[cached_etag(tags(
        "camera:{camera}",
        "image:{camera}/{index}",
        "kind:{kind}",
        "{{literal}}"
    ))]
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub(crate) async fn find(
        Path((camera, index)): Path<(u32, u32)>,
        Query(Filter { kind, .. }): Query<Filter>,
    ) -> Result<Json<String>, StatusCode>
    where
        String: Send,
    {
        if index == 0 {
            return Err(StatusCode::NOT_FOUND);
        }
        let parsed: u32 = kind.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
        Ok(Json(format!("{camera}/{index}/{parsed}")))
    }
}

fn main() {
    let _: Router = Router::new().route("/{camera}/{index}", get(handlers::find));
}
