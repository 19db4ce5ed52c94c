//! The write side over real HTTP: a small item service whose reads are
//! `#[cached_etag]` and whose writes take a `WriteGuard` and declare
//! `#[invalidates]`. One test per RFC 9110 §13.2.2 rule for writes, 428
//! (RFC 6585 §3), and what a write invalidates and when.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use cached_etag::etag::composite_of;
use cached_etag::{Cache, ETag, PreconditionError, Resource, WriteGuard, cached_etag, invalidates};
use reqwest::Client;
use serde::Serialize;

#[derive(Clone, Serialize, Resource)]
struct Item {
    id: u32,
    name: String,
    updated_at: SystemTime,
}

/// The ETag `GET /items/{id}` shows: composite, strong, as `If-Match` needs.
fn etag_of(item: &Item) -> (ETag, Option<SystemTime>) {
    let (etag, last_modified) = composite_of(item);
    (etag.into_strong(), last_modified)
}

#[derive(Clone, Default)]
struct App {
    items: Arc<std::sync::Mutex<HashMap<u32, Item>>>,
    reads: Arc<AtomicU64>,
}

impl App {
    fn item(&self, id: u32) -> Option<Item> {
        self.items.lock().unwrap().get(&id).cloned()
    }

    /// Stores `name` as the item's new version, one second after the last.
    fn write(&self, id: u32, name: &str) -> Item {
        let mut items = self.items.lock().unwrap();
        let updated_at = items
            .get(&id)
            .map_or(start(), |item| item.updated_at + Duration::from_secs(1));
        let item = Item {
            id,
            name: name.into(),
            updated_at,
        };
        items.insert(id, item.clone());
        item
    }

    fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
}

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_732_442_400)
}

/// A write's answer: the new version with the ETag the read will show.
fn written(status: StatusCode, item: &Item) -> Response {
    let (etag, _) = etag_of(item);
    let headers = [(header::ETAG, etag.to_header_value())];
    (status, headers, Json(item)).into_response()
}

#[cached_etag(etag = "composite", strong, tags("item:{id}"))]
async fn read(State(app): State<App>, Path(id): Path<u32>) -> Result<Json<Item>, StatusCode> {
    app.reads.fetch_add(1, Ordering::SeqCst);
    app.item(id).map(Json).ok_or(StatusCode::NOT_FOUND)
}

/// `PUT`: replaces the item, or creates it.
#[invalidates("item:{id}")]
async fn replace(
    State(app): State<App>,
    Path(id): Path<u32>,
    guard: WriteGuard,
    name: String,
) -> Result<Response, PreconditionError> {
    match app.item(id) {
        Some(current) => {
            let (etag, last_modified) = etag_of(&current);
            guard.check(Some(&etag), last_modified)?;
            Ok(written(StatusCode::OK, &app.write(id, &name)))
        }
        None => {
            guard.check_missing()?;
            Ok(written(StatusCode::CREATED, &app.write(id, &name)))
        }
    }
}

/// `PATCH`: changes an existing item; a missing one is the handler's 404.
#[invalidates("item:{id}")]
async fn rename(
    State(app): State<App>,
    Path(id): Path<u32>,
    guard: WriteGuard,
    name: String,
) -> Result<Response, Response> {
    let Some(current) = app.item(id) else {
        guard
            .check_not_found()
            .map_err(IntoResponse::into_response)?;
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    let (etag, last_modified) = etag_of(&current);
    guard
        .check(Some(&etag), last_modified)
        .map_err(IntoResponse::into_response)?;
    Ok(written(StatusCode::OK, &app.write(id, &name)))
}

/// `DELETE`.
#[invalidates("item:{id}")]
async fn remove(
    State(app): State<App>,
    Path(id): Path<u32>,
    guard: WriteGuard,
) -> Result<StatusCode, Response> {
    let Some(current) = app.item(id) else {
        guard
            .check_not_found()
            .map_err(IntoResponse::into_response)?;
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    let (etag, last_modified) = etag_of(&current);
    guard
        .check(Some(&etag), last_modified)
        .map_err(IntoResponse::into_response)?;
    app.items.lock().unwrap().remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST` to the item: a write that changes nothing answers the same ETag.
#[invalidates("item:{id}")]
async fn touch(
    State(app): State<App>,
    Path(id): Path<u32>,
    guard: WriteGuard,
) -> Result<Response, Response> {
    let current = app
        .item(id)
        .ok_or_else(|| StatusCode::NOT_FOUND.into_response())?;
    let (etag, last_modified) = etag_of(&current);
    guard
        .check(Some(&etag), last_modified)
        .map_err(IntoResponse::into_response)?;
    Ok(written(StatusCode::OK, &current))
}

/// `PUT` that always needs `If-Match`.
#[invalidates("item:{id}")]
async fn strict(
    State(app): State<App>,
    Path(id): Path<u32>,
    guard: WriteGuard,
    name: String,
) -> Result<Response, PreconditionError> {
    let current = app.item(id).expect("the tests create it first");
    let (etag, last_modified) = etag_of(&current);
    guard.required().check(Some(&etag), last_modified)?;
    Ok(written(StatusCode::OK, &app.write(id, &name)))
}

/// A write that changes the data and then fails: nothing is invalidated.
#[invalidates("item:{id}")]
async fn broken(State(app): State<App>, Path(id): Path<u32>) -> StatusCode {
    app.write(id, "half-written");
    StatusCode::INTERNAL_SERVER_ERROR
}

struct Server {
    base: String,
    app: App,
    cache: Cache,
    client: Client,
}

impl Server {
    async fn start(cache: Cache) -> Server {
        let app = App::default();
        app.write(1, "one");
        let router = Router::new()
            .route(
                "/items/{id}",
                get(read).put(replace).patch(rename).delete(remove),
            )
            .route("/items/{id}/touch", post(touch))
            .route("/items/{id}/strict", put(strict))
            .route("/items/{id}/broken", put(broken))
            .layer(Extension(cache.clone()))
            .with_state(app.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Server {
            base,
            app,
            cache,
            client: Client::new(),
        }
    }

    async fn new() -> Server {
        Server::start(Cache::new()).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /items/1`'s status and ETag.
    async fn get(&self, path: &str) -> (StatusCode, Option<String>) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        (response.status(), etag(&response))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path)).body("renamed");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    async fn put(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        self.send(reqwest::Method::PUT, "/items/1", headers).await
    }
}

fn etag(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("etag")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn if_match_round_trips_and_a_replay_is_refused() {
    let server = Server::new().await;
    let (_, first) = server.get("/items/1").await;
    let first = first.unwrap();
    assert!(!first.starts_with("W/"), "the read's ETag is strong");

    let put = server.put(&[("if-match", &first)]).await;
    assert_eq!(put.status(), StatusCode::OK);
    let second = etag(&put).unwrap();
    assert_ne!(second, first);
    // The write's invalidation completed before its response: the next read
    // shows the new version.
    assert_eq!(server.get("/items/1").await.1.as_deref(), Some(&*second));

    let replay = server.put(&[("if-match", &first)]).await;
    assert_eq!(replay.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        etag(&replay).as_deref(),
        Some(&*second),
        "412 names the current"
    );
    assert_eq!(
        server.app.item(1).unwrap().updated_at,
        start() + Duration::from_secs(1)
    );
}

#[tokio::test]
async fn if_match_compares_strongly() {
    let server = Server::new().await;
    let (_, current) = server.get("/items/1").await;
    let weak = format!("W/{}", current.unwrap());
    // RFC 9110 §13.1.1: a weak tag never matches in If-Match, even when
    // its opaque part is the current one.
    let put = server.put(&[("if-match", &weak)]).await;
    assert_eq!(put.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn if_match_lists_match_any_member() {
    let server = Server::new().await;
    let current = server.get("/items/1").await.1.unwrap();
    let refused = server.put(&[("if-match", r#""a", "b""#)]).await;
    assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED);
    let list = format!(r#""a", {current}"#);
    assert_eq!(
        server.put(&[("if-match", &list)]).await.status(),
        StatusCode::OK
    );
    // An If-Match that does not parse lists no tag that matches.
    let garbage = server.put(&[("if-match", "not-a-tag")]).await;
    assert_eq!(garbage.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn if_match_star_needs_an_existing_resource() {
    let server = Server::new().await;
    assert_eq!(
        server.put(&[("if-match", "*")]).await.status(),
        StatusCode::OK
    );
    // A PUT that would create: 412, and nothing is created.
    let create = server
        .send(reqwest::Method::PUT, "/items/2", &[("if-match", "*")])
        .await;
    assert_eq!(create.status(), StatusCode::PRECONDITION_FAILED);
    assert!(create.headers().get("etag").is_none());
    assert!(server.app.item(2).is_none());
    // A PATCH or DELETE of a missing resource: the handler's 404, except
    // for `*`, which asked for a current representation.
    for method in [reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let tagged = server
            .send(method.clone(), "/items/2", &[("if-match", r#""x""#)])
            .await;
        assert_eq!(tagged.status(), StatusCode::NOT_FOUND, "{method}");
        let star = server
            .send(method.clone(), "/items/2", &[("if-match", "*")])
            .await;
        assert_eq!(star.status(), StatusCode::PRECONDITION_FAILED, "{method}");
    }
}

#[tokio::test]
async fn if_unmodified_since_counts_only_without_if_match() {
    let server = Server::new().await;
    let current = server.get("/items/1").await.1.unwrap();
    let before = httpdate::fmt_http_date(start() - Duration::from_secs(1));
    let at = httpdate::fmt_http_date(start());

    let stale = server.put(&[("if-unmodified-since", &before)]).await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(etag(&stale).as_deref(), Some(&*current));
    // §13.1.4: ignored when If-Match is present (and holds).
    let both = server
        .put(&[("if-match", &current), ("if-unmodified-since", &before)])
        .await;
    assert_eq!(both.status(), StatusCode::OK);
    // The item is now one second past `at`.
    assert_eq!(
        server.put(&[("if-unmodified-since", &at)]).await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    let now = httpdate::fmt_http_date(start() + Duration::from_secs(1));
    assert_eq!(
        server.put(&[("if-unmodified-since", &now)]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn if_none_match_on_put_creates_only_what_is_missing() {
    let server = Server::new().await;
    let current = server.get("/items/1").await.1.unwrap();
    assert_eq!(
        server.put(&[("if-none-match", "*")]).await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        server.put(&[("if-none-match", &current)]).await.status(),
        StatusCode::PRECONDITION_FAILED,
        "a PUT is refused, not answered 304"
    );
    let create = server
        .send(reqwest::Method::PUT, "/items/2", &[("if-none-match", "*")])
        .await;
    assert_eq!(create.status(), StatusCode::CREATED);
    assert_eq!(server.get("/items/2").await.1, etag(&create));
    assert_eq!(
        server
            .put(&[("if-none-match", r#""other""#)])
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_handler_can_require_a_precondition() {
    let server = Server::new().await;
    let path = "/items/1/strict";
    let bare = server.send(reqwest::Method::PUT, path, &[]).await;
    assert_eq!(bare.status(), StatusCode::PRECONDITION_REQUIRED);
    assert!(bare.text().await.unwrap().contains("If-Match"));
    let current = server.get("/items/1").await.1.unwrap();
    let guarded = server
        .send(reqwest::Method::PUT, path, &[("if-match", &current)])
        .await;
    assert_eq!(guarded.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cache_can_require_preconditions_for_every_guard() {
    let server = Server::start(Cache::builder().require_preconditions(true).build()).await;
    assert_eq!(
        server.put(&[]).await.status(),
        StatusCode::PRECONDITION_REQUIRED
    );
    // A missing resource is still the handler's 404 (RFC 9110 §13.2.1).
    let missing = server.send(reqwest::Method::PATCH, "/items/9", &[]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let current = server.get("/items/1").await.1.unwrap();
    assert_eq!(
        server.put(&[("if-match", &current)]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn nothing_is_invalidated_after_a_4xx_or_5xx() {
    let server = Server::new().await;
    let (_, cached) = server.get("/items/1").await;
    assert_eq!(server.app.reads(), 1);

    let refused = server.put(&[("if-match", r#""old""#)]).await;
    assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED);
    let failed = server
        .send(reqwest::Method::PUT, "/items/1/broken", &[])
        .await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);

    assert_eq!(server.cache.stats().invalidations, 0);
    // Still the stored entry: the failed write changed the data, but did not
    // say so.
    assert_eq!(server.get("/items/1").await.1, cached);
    assert_eq!(server.app.reads(), 1);
}

#[tokio::test]
async fn a_2xx_invalidates_and_the_next_read_refills() {
    let server = Server::new().await;
    server.get("/items/1").await;
    let current = server.get("/items/1").await.1.unwrap();
    assert_eq!(server.app.reads(), 1);
    let patch = server
        .send(
            reqwest::Method::PATCH,
            "/items/1",
            &[("if-match", &current)],
        )
        .await;
    assert_eq!(patch.status(), StatusCode::OK);
    assert_eq!(server.cache.stats().invalidations, 1);
    assert_eq!(server.get("/items/1").await.1, etag(&patch));
    assert_eq!(server.app.reads(), 2);

    let delete = server
        .send(
            reqwest::Method::DELETE,
            "/items/1",
            &[("if-match", &etag(&patch).unwrap())],
        )
        .await;
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.get("/items/1").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_write_that_keeps_the_etag_keeps_the_entry() {
    let server = Server::new().await;
    let current = server.get("/items/1").await.1.unwrap();
    let touch = server
        .send(
            reqwest::Method::POST,
            "/items/1/touch",
            &[("if-match", &current)],
        )
        .await;
    assert_eq!(touch.status(), StatusCode::OK);
    assert_eq!(etag(&touch).as_deref(), Some(&*current));
    let stats = server.cache.stats();
    assert_eq!((stats.invalidations, stats.invalidations_skipped), (0, 1));
    assert_eq!(server.get("/items/1").await.1.as_deref(), Some(&*current));
    assert_eq!(server.app.reads(), 1, "served from the kept entry");
}
