//! `#[cached_etag]` over real HTTP: an axum server on 127.0.0.1:0 and a
//! reqwest client, one test per style and option.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use cached_etag::{Cache, ETag, Resource, cached_etag};
use reqwest::Client;
use serde::Serialize;

#[derive(Clone, Default)]
struct Runs(Arc<AtomicU64>);

impl Runs {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Serialize, Resource)]
struct Item {
    id: u32,
    updated_at: SystemTime,
}

fn item(id: u32) -> Item {
    Item {
        id,
        updated_at: UNIX_EPOCH + Duration::from_millis(1_732_442_400_250),
    }
}

#[cached_etag]
async fn hash(State(runs): State<Runs>) -> Json<&'static str> {
    runs.bump();
    Json("hashed")
}

#[cached_etag(etag = "timestamp")]
async fn timestamp(State(runs): State<Runs>) -> Json<Item> {
    runs.bump();
    Json(item(1))
}

#[cached_etag(etag = "composite", tags("items", "item:{id}"))]
async fn composite(State(runs): State<Runs>, Path(id): Path<u32>) -> Json<Item> {
    runs.bump();
    Json(item(id))
}

#[cached_etag(etag = "collection")]
async fn collection(State(runs): State<Runs>) -> Json<Vec<Item>> {
    runs.bump();
    Json(vec![item(1), item(2)])
}

fn version(value: &&'static str) -> ETag {
    ETag::from_string(value)
}

#[cached_etag(etag = version, strong)]
async fn custom(State(runs): State<Runs>) -> Json<&'static str> {
    runs.bump();
    Json("v7")
}

#[cached_etag(vary("accept-language"))]
async fn varied(State(runs): State<Runs>, headers: HeaderMap) -> String {
    runs.bump();
    let language = headers
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    format!("language {language}")
}

#[cached_etag]
async fn per_user(State(runs): State<Runs>, headers: HeaderMap) -> String {
    runs.bump();
    let who = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("anonymous")
        .to_owned();
    format!("hello {who}")
}

#[cached_etag]
async fn cookie(State(runs): State<Runs>) -> impl IntoResponse {
    runs.bump();
    ([("set-cookie", "session=1")], "with a cookie")
}

#[cached_etag]
async fn fails(State(runs): State<Runs>) -> Result<Json<u32>, StatusCode> {
    runs.bump();
    Err(StatusCode::SERVICE_UNAVAILABLE)
}

#[cached_etag(check = current_version(&runs))]
async fn checked(State(runs): State<Runs>) -> String {
    runs.bump();
    "expensive".to_owned()
}

async fn current_version(_runs: &Runs) -> ETag {
    ETag::from_string("v1")
}

#[cached_etag(public, max_age = "1h", immutable, surrogate_keys, tags("static"))]
async fn headers_set(State(runs): State<Runs>) -> &'static str {
    runs.bump();
    "immutable"
}

/// An extractor that rejects requests without `x-user`.
struct User;

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        if parts.headers.contains_key("x-user") {
            Ok(User)
        } else {
            Err(StatusCode::UNAUTHORIZED)
        }
    }
}

#[cached_etag(shared)]
async fn guarded(State(runs): State<Runs>, _user: User) -> &'static str {
    runs.bump();
    "secret"
}

/// A path parameter that counts how often a tag template formats it.
#[derive(serde::Deserialize)]
#[serde(transparent)]
struct Counted(u32);

static FORMATTED: AtomicU64 = AtomicU64::new(0);

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        FORMATTED.fetch_add(1, Ordering::SeqCst);
        write!(f, "{}", self.0)
    }
}

#[cached_etag(tags("counted:{id}"))]
async fn formatted(Path(id): Path<Counted>) -> String {
    format!("item {}", id.0)
}

struct App {
    base: String,
    cache: Cache,
    runs: Runs,
    client: Client,
}

impl App {
    async fn start() -> App {
        let cache = Cache::new();
        let runs = Runs::default();
        let router = Router::new()
            .route("/hash", get(hash))
            .route("/timestamp", get(timestamp))
            .route("/composite/{id}", get(composite))
            .route("/collection", get(collection))
            .route("/custom", get(custom))
            .route("/varied", get(varied))
            .route("/per-user", get(per_user))
            .route("/cookie", get(cookie))
            .route("/fails", get(fails))
            .route("/checked", get(checked))
            .route("/headers", get(headers_set))
            .route("/guarded", get(guarded))
            .route("/formatted/{id}", get(formatted))
            .with_state(runs.clone())
            .layer(Extension(cache.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        App {
            base,
            cache,
            runs,
            client: Client::new(),
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The first answer is a 200 with validators; the same ETag back is a 304
/// with the same validators, and the handler ran once.
async fn revalidates(app: &App, path: &str) -> (String, String) {
    let before = app.runs.get();
    let first = app.get(path, &[]).await;
    assert_eq!(first.status(), 200, "{path}");
    let etag = header(&first, "etag");
    let last_modified = header(&first, "last-modified");
    assert!(!etag.is_empty(), "{path} has an ETag");
    let second = app.get(path, &[("if-none-match", &etag)]).await;
    assert_eq!(second.status(), 304, "{path}");
    assert_eq!(header(&second, "etag"), etag);
    assert_eq!(
        header(&second, "cache-control"),
        header(&first, "cache-control")
    );
    assert_eq!(header(&second, "last-modified"), last_modified);
    assert!(second.bytes().await.unwrap().is_empty());
    assert_eq!(
        app.runs.get() - before,
        1,
        "{path}: the 304 did not run the handler"
    );
    (etag, last_modified)
}

#[tokio::test]
async fn every_style_sends_its_validators_and_revalidates() {
    let app = App::start().await;
    let (etag, last_modified) = revalidates(&app, "/hash").await;
    assert!(etag.starts_with("W/\"") && etag.len() == 26, "{etag}");
    assert!(last_modified.is_empty(), "hash knows no time");

    let (etag, last_modified) = revalidates(&app, "/timestamp").await;
    assert_eq!(etag, "W/\"1732442400.25\"");
    assert_eq!(last_modified, "Sun, 24 Nov 2024 10:00:00 GMT");

    let (etag, _) = revalidates(&app, "/composite/42").await;
    assert_eq!(etag, "W/\"42-1732442400.25\"");

    let (etag, _) = revalidates(&app, "/collection").await;
    assert_eq!(etag, "W/\"2-1732442400.25\"");

    let (etag, _) = revalidates(&app, "/custom").await;
    assert_eq!(etag, "\"v7\"", "custom function, strong");
}

#[tokio::test]
async fn tag_templates_invalidate_exactly_their_entries() {
    let app = App::start().await;
    app.get("/composite/1", &[]).await;
    app.get("/composite/2", &[]).await;
    assert_eq!(app.runs.get(), 2);
    assert_eq!(app.cache.invalidate_tag("item:1").await.removed, 1);
    app.get("/composite/1", &[]).await;
    app.get("/composite/2", &[]).await;
    assert_eq!(app.runs.get(), 3, "only item 1 ran again");
    assert_eq!(app.cache.invalidate_tag("items").await.removed, 2);
}

#[tokio::test]
async fn a_hit_formats_no_tag_template() {
    let app = App::start().await;
    assert_eq!(
        app.get("/formatted/5", &[]).await.text().await.unwrap(),
        "item 5"
    );
    assert_eq!(
        app.get("/formatted/5", &[]).await.text().await.unwrap(),
        "item 5"
    );
    assert_eq!(app.cache.stats().hits, 1);
    assert_eq!(
        FORMATTED.load(Ordering::SeqCst),
        1,
        "formatted on the miss only"
    );
    assert_eq!(app.cache.invalidate_tag("counted:5").await.removed, 1);
}

#[tokio::test]
async fn vary_keys_on_the_header_and_says_so() {
    let app = App::start().await;
    let en = app.get("/varied", &[("accept-language", "en")]).await;
    assert_eq!(header(&en, "vary"), "accept-language");
    assert_eq!(en.text().await.unwrap(), "language en");
    let fr = app.get("/varied", &[("accept-language", "fr")]).await;
    assert_eq!(fr.text().await.unwrap(), "language fr");
    let en = app.get("/varied", &[("accept-language", "en")]).await;
    assert_eq!(en.text().await.unwrap(), "language en");
    assert_eq!(app.runs.get(), 2);
}

#[tokio::test]
async fn credentialed_requests_never_share_entries() {
    let app = App::start().await;
    let anonymous = app.get("/per-user", &[]).await;
    assert_eq!(anonymous.text().await.unwrap(), "hello anonymous");
    let alice = app.get("/per-user", &[("authorization", "alice")]).await;
    assert_eq!(header(&alice, "cache-control"), "private, max-age=60");
    let etag = header(&alice, "etag");
    assert_eq!(alice.text().await.unwrap(), "hello alice");
    let again = app
        .get(
            "/per-user",
            &[("authorization", "alice"), ("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status(), 304, "per-user responses still revalidate");
    assert_eq!(
        app.cache.stats().stores,
        1,
        "only the anonymous response was stored"
    );
}

#[tokio::test]
async fn set_cookie_and_errors_are_never_stored() {
    let app = App::start().await;
    for _ in 0..2 {
        let r = app.get("/cookie", &[]).await;
        assert_eq!(header(&r, "set-cookie"), "session=1");
        let r = app.get("/fails", &[]).await;
        assert_eq!(r.status(), 503);
        assert!(r.headers().get("etag").is_none());
    }
    assert_eq!(app.runs.get(), 4, "every request ran its handler");
    assert_eq!(app.cache.stats().stores, 0);
}

#[tokio::test]
async fn check_answers_304_without_running_the_body() {
    let app = App::start().await;
    let r = app.get("/checked", &[("if-none-match", "W/\"v1\"")]).await;
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "etag"), "W/\"v1\"");
    assert_eq!(app.runs.get(), 0);
    let r = app.get("/checked", &[]).await;
    assert_eq!(header(&r, "etag"), "W/\"v1\"");
    assert_eq!(app.runs.get(), 1);
}

#[tokio::test]
async fn head_is_answered_from_the_get_entry() {
    let app = App::start().await;
    app.get("/hash", &[]).await;
    let head = app
        .client
        .head(format!("{}/hash", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().contains_key("etag"));
    assert!(head.bytes().await.unwrap().is_empty());
    assert_eq!(app.runs.get(), 1);
}

#[tokio::test]
async fn malformed_validators_never_give_500() {
    let app = App::start().await;
    for bad in ["\"unterminated", "W/", "*, \"x\"", "W/\"a\" trailing"] {
        // An If-None-Match or a date that does not parse is no reason to
        // answer anything but the 200.
        let r = app
            .get(
                "/timestamp",
                &[("if-none-match", bad), ("if-modified-since", "not a date")],
            )
            .await;
        assert_eq!(r.status(), 200, "{bad:?}");
        // An If-Match that lists no valid tag lists none that matches
        // (RFC 9110 §13.1.1): 412, never the 200 a write would act on.
        let r = app.get("/timestamp", &[("if-match", bad)]).await;
        assert_eq!(r.status(), 412, "{bad:?}");
    }
    // A field of only commas is no condition at all.
    let r = app
        .get(
            "/timestamp",
            &[("if-none-match", ",,,"), ("if-match", ",,,")],
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn cache_control_options_and_surrogate_keys() {
    let app = App::start().await;
    let r = app.get("/headers", &[]).await;
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=3600, immutable"
    );
    assert_eq!(header(&r, "surrogate-key"), "static", "each tag once");
    assert_eq!(header(&r, "cache-tag"), "static");
}

#[tokio::test]
async fn an_extractor_rejection_beats_a_matching_if_none_match() {
    // RFC 9110 §13.2.1: preconditions are evaluated only once the request
    // is otherwise acceptable, so a 304 never replaces a 401.
    let app = App::start().await;
    let ok = app.get("/guarded", &[("x-user", "alice")]).await;
    assert_eq!(ok.status(), 200);
    let etag = header(&ok, "etag");
    let r = app.get("/guarded", &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), 401);
    let r = app
        .get("/guarded", &[("if-none-match", &etag), ("x-user", "bob")])
        .await;
    assert_eq!(r.status(), 304);
}
