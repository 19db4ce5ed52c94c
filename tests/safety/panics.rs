//! Data never panics the request path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use cached_etag::{Cache, Resource, cached_etag};
use http::StatusCode;
use serde::Serialize;

use crate::support::{get as request, send};

#[derive(Serialize, Resource)]
struct Item {
    id: u32,
    // serde refuses a time before 1970: the body is not the point here.
    #[serde(skip)]
    updated_at: SystemTime,
}

#[derive(Clone)]
struct Times(Vec<SystemTime>);

#[cached_etag(etag = "timestamp")]
async fn item(State(times): State<Times>, Path(i): Path<usize>) -> Json<Item> {
    Json(Item {
        id: i as u32,
        updated_at: times.0[i],
    })
}

#[tokio::test]
async fn last_modified_outside_what_an_http_date_can_say_is_left_out() {
    let before_1970 = UNIX_EPOCH - Duration::from_secs(86_400);
    // 10000-01-01T00:00:00Z.
    let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
    let last_second = year_10000 - Duration::from_secs(1);
    let times = Times(vec![before_1970, year_10000, last_second]);
    let app = Router::new()
        .route("/item/{i}", get(item))
        .with_state(times)
        .layer(Extension(Cache::new()));
    for i in 0..2 {
        let reply = send(&app, request(&format!("/item/{i}"), &[])).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.header("etag").is_some(), "the ETag is still made");
        assert!(reply.header("last-modified").is_none());
    }
    let reply = send(&app, request("/item/2", &[])).await;
    assert_eq!(
        reply.header("last-modified"),
        Some("Fri, 31 Dec 9999 23:59:59 GMT")
    );
}
