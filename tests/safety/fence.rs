//! Every fill, from any path, goes through the invalidation fence.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::{Cache, cached_etag};
use http::header::SET_COOKIE;
use tokio::sync::Notify;

use crate::support::{Runs, eventually, get as request, send};

#[derive(Clone, Default)]
struct Doc {
    runs: Runs,
    version: Arc<AtomicU64>,
    leader_go: Arc<Notify>,
    waiter_started: Arc<Notify>,
    waiter_go: Arc<Notify>,
}

#[cached_etag(tags("doc"))]
async fn doc(State(doc): State<Doc>) -> Response {
    let run = doc.runs.bump();
    let version = doc.version.load(Ordering::SeqCst);
    if run == 1 {
        // The leader's response sets a cookie: not for sharing.
        doc.leader_go.notified().await;
        return ([(SET_COOKIE, "s=1")], format!("v{version}")).into_response();
    }
    if run == 2 {
        doc.waiter_started.notify_one();
        doc.waiter_go.notified().await;
    }
    format!("v{version}").into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiters_own_fill_is_fenced_against_invalidation() {
    let cache = Cache::new();
    let state = Doc {
        version: Arc::new(AtomicU64::new(1)),
        ..Doc::default()
    };
    let app = Router::new()
        .route("/doc", get(doc))
        .with_state(state.clone())
        .layer(Extension(cache.clone()));
    let leader = tokio::spawn({
        let app = app.clone();
        async move { send(&app, request("/doc", &[])).await }
    });
    assert!(eventually(|| state.runs.get() == 1).await);
    let waiter = tokio::spawn({
        let app = app.clone();
        async move { send(&app, request("/doc", &[])).await }
    });
    assert!(eventually(|| cache.stats().coalesced == 1).await);
    state.leader_go.notify_one();
    assert_eq!(leader.await.unwrap().body, "v1");
    // The waiter now makes its own response from version 1 ...
    state.waiter_started.notified().await;
    // ... while the data changes and the change is announced.
    state.version.store(2, Ordering::SeqCst);
    cache.invalidate_tag("doc").await;
    state.waiter_go.notify_one();
    assert_eq!(waiter.await.unwrap().body, "v1");
    // What it made began before the invalidation: never served afterwards.
    let after = send(&app, request("/doc", &[])).await;
    assert_eq!(after.body, "v2", "an invalidation was undone");
}
