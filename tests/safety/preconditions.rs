//! RFC 9110 §13 and §15.4.5 over real routing: every precondition answer,
//! stored or not, with a `check` or without.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use cached_etag::conditional::Current;
use cached_etag::{Cache, ETag, Outcome, Preconditions, Resource, cached_etag};
use http::header::{CACHE_CONTROL, CONTENT_LOCATION, EXPIRES, LAST_MODIFIED};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

use crate::support::{Runs, get as request, send};

const T: u64 = 1_732_442_400;
const T_DATE: &str = "Sun, 24 Nov 2024 10:00:00 GMT";
const DAY_BEFORE: &str = "Sat, 23 Nov 2024 10:00:00 GMT";
const DAY_AFTER: &str = "Mon, 25 Nov 2024 10:00:00 GMT";

#[derive(Serialize, Resource)]
struct Doc {
    id: u32,
    updated_at: SystemTime,
}

fn doc() -> Doc {
    Doc {
        id: 1,
        updated_at: UNIX_EPOCH + Duration::from_secs(T),
    }
}

#[cached_etag(etag = "timestamp")]
async fn stamped() -> Json<Doc> {
    Json(doc())
}

/// A write handler written by hand with the conditional module, as the
/// timelapse example's are.
async fn write(headers: HeaderMap) -> StatusCode {
    let current = ETag::strong("v1").unwrap();
    let preconditions = Preconditions::new(&headers);
    match preconditions.evaluate(&Method::PUT, Current::new(Some(&current), None)) {
        Outcome::Proceed => StatusCode::NO_CONTENT,
        _ => StatusCode::PRECONDITION_FAILED,
    }
}

fn app() -> Router {
    Router::new()
        .route("/doc", get(stamped))
        .route("/write", put(write))
        .layer(Extension(Cache::new()))
}

#[tokio::test]
async fn an_if_match_that_lists_no_valid_tag_fails() {
    let app = app();
    for value in ["xyzzy", "w/\"v1\"", "\"v1", "\"v1\", *"] {
        let request = http::Request::put("/write")
            .header("if-match", value)
            .body(axum::body::Body::empty())
            .unwrap();
        let reply = crate::support::send(&app, request).await;
        assert_eq!(
            reply.status,
            StatusCode::PRECONDITION_FAILED,
            "{value}: a lost update"
        );
        let reply = send(&app, request_with("/doc", "if-match", value)).await;
        assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED, "{value}");
    }
    // The strong tag itself passes, and an empty field is no condition.
    for value in ["\"v1\"", ""] {
        let request = http::Request::put("/write")
            .header("if-match", value)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(
            send(&app, request).await.status,
            StatusCode::NO_CONTENT,
            "{value}"
        );
    }
}

fn request_with(target: &str, name: &str, value: &str) -> http::Request<axum::body::Body> {
    request(target, &[(name, value)])
}

#[tokio::test]
async fn if_modified_since_is_ignored_when_if_none_match_is_present_even_invalid() {
    let app = app();
    let reply = send(
        &app,
        request(
            "/doc",
            &[
                ("if-none-match", "garbage"),
                ("if-modified-since", DAY_AFTER),
            ],
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Alone, the date does give a 304.
    let reply = send(&app, request("/doc", &[("if-modified-since", DAY_AFTER)])).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
}

#[derive(Clone)]
struct Versions(Arc<AtomicU64>, Runs);

async fn version_of(versions: &Versions) -> ETag {
    ETag::from_string(&versions.0.load(Ordering::SeqCst).to_string())
}

#[cached_etag(check = version_of(&versions))]
async fn checked_with_headers(State(versions): State<Versions>) -> Response {
    versions.1.bump();
    let version = versions.0.load(Ordering::SeqCst);
    (
        [
            (CACHE_CONTROL, "public, max-age=30"),
            (CONTENT_LOCATION, "/doc/1"),
            (EXPIRES, DAY_AFTER),
        ],
        format!("version {version}"),
    )
        .into_response()
}

#[cached_etag(etag = "timestamp", check = version_of(&versions), vary("accept-language"))]
async fn checked_stamped(State(versions): State<Versions>) -> Json<Doc> {
    versions.1.bump();
    Json(doc())
}

fn checked_app() -> (Router, Versions) {
    let versions = Versions(Arc::new(AtomicU64::new(7)), Runs::default());
    let app = Router::new()
        .route("/checked", get(checked_with_headers))
        .route("/stamped", get(checked_stamped))
        .with_state(versions.clone())
        .layer(Extension(Cache::new()));
    (app, versions)
}

#[tokio::test]
async fn a_304_from_check_carries_what_the_200_carries() {
    let (app, versions) = checked_app();
    let ok = send(&app, request("/checked", &[])).await;
    assert_eq!(ok.status, StatusCode::OK);
    let etag = ok.header("etag").unwrap().to_owned();
    let not_modified = send(&app, request("/checked", &[("if-none-match", &etag)])).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    for name in ["etag", "cache-control", "content-location", "expires"] {
        assert_eq!(not_modified.header(name), ok.header(name), "{name}");
    }
    assert_eq!(versions.1.get(), 1);

    // With nothing stored, the 304 carries the policy's whole header set.
    let (app, versions) = checked_app();
    let etag = "W/\"7\"";
    let reply = send(
        &app,
        request(
            "/stamped",
            &[("if-none-match", etag), ("accept-language", "fr")],
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert_eq!(versions.1.get(), 0, "answered before the handler ran");
    assert_eq!(reply.header("etag"), Some(etag));
    assert_eq!(reply.header("cache-control"), Some("private, max-age=60"));
    assert_eq!(reply.header("vary"), Some("accept-language"));
}

#[tokio::test]
async fn a_check_304_never_skips_if_unmodified_since() {
    let (app, versions) = checked_app();
    let reply = send(
        &app,
        request(
            "/stamped",
            &[
                ("if-none-match", "W/\"7\""),
                ("if-unmodified-since", DAY_BEFORE),
            ],
        ),
    )
    .await;
    // RFC 9110 §13.2.2 step 2 comes before step 3: modified since then.
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(versions.1.get(), 1);
    let reply = send(
        &app,
        request(
            "/stamped",
            &[
                ("if-none-match", "W/\"7\""),
                ("if-unmodified-since", DAY_AFTER),
            ],
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
}

#[cached_etag]
async fn dated_by_hand(State(runs): State<Runs>) -> Response {
    runs.bump();
    ([(LAST_MODIFIED, T_DATE)], "dated").into_response()
}

#[tokio::test]
async fn a_last_modified_the_handler_sets_is_judged_stored_or_not() {
    let runs = Runs::default();
    let app = Router::new()
        .route("/dated", get(dated_by_hand))
        .with_state(runs.clone())
        .layer(Extension(Cache::new()));
    let ok = send(&app, request("/dated", &[])).await;
    assert_eq!(ok.header("last-modified"), Some(T_DATE));
    // Stored: answered from the entry.
    let stored = send(&app, request("/dated", &[("if-modified-since", T_DATE)])).await;
    assert_eq!(stored.status, StatusCode::NOT_MODIFIED);
    let stored = send(
        &app,
        request("/dated", &[("if-unmodified-since", DAY_BEFORE)]),
    )
    .await;
    assert_eq!(stored.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(runs.get(), 1);
    // Not stored (a credentialed request): the same answers.
    let cookie = ("cookie", "s=1");
    let fresh = send(
        &app,
        request("/dated", &[cookie, ("if-modified-since", T_DATE)]),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::NOT_MODIFIED);
    let fresh = send(
        &app,
        request("/dated", &[cookie, ("if-unmodified-since", DAY_BEFORE)]),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::PRECONDITION_FAILED);
}
