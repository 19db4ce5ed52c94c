//! What the cache logs: one `debug` event per request with its outcome and
//! the route, and never a credential. A test binary of its own: the
//! subscriber is process-wide, and tracing caches which callsites are on.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::{Cache, ETag, cached_etag};
use http::HeaderMap;

#[allow(dead_code)]
#[path = "safety/support.rs"]
mod support;

use support::{get as request, send};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn version(_: &()) -> ETag {
    ETag::from_string("v1")
}

#[cached_etag(vary("authorization"), check = version(&state))]
async fn private_doc(State(state): State<()>, headers: HeaderMap) -> String {
    format!("{} bytes of headers", headers.len())
}

#[tokio::test(flavor = "current_thread")]
async fn one_event_per_outcome_and_never_a_credential() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let app = Router::new()
        .route("/doc", get(private_doc).post(private_doc))
        .with_state(())
        .layer(Extension(Cache::new()));
    let token = ("authorization", "Bearer SECRET-TOKEN");
    send(&app, request("/doc?api_key=SECRET-QUERY", &[token])).await;
    send(&app, request("/doc?api_key=SECRET-QUERY", &[token])).await;
    send(
        &app,
        request("/doc", &[("cookie", "session=SECRET-COOKIE")]),
    )
    .await;
    send(
        &app,
        request("/doc", &[token, ("if-none-match", "W/\"v1\"")]),
    )
    .await;
    let post = http::Request::post("/doc")
        .header("host", "test")
        .header("authorization", "Bearer SECRET-TOKEN")
        .body(axum::body::Body::empty())
        .unwrap();
    send(&app, post).await;
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "outcome=\"miss\"",
        "outcome=\"hit\"",
        "reason=\"credentials\"",
        "reason=\"method\"",
        "status=304",
        "route=\"logs::private_doc\"",
        "path=\"/doc\"",
    ] {
        assert!(text.contains(expected), "no {expected} in:\n{text}");
    }
    assert!(
        !text.contains("SECRET"),
        "a credential reached the log:\n{text}"
    );
}
