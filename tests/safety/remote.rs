//! A remote store's failures and its data never make this instance serve
//! what it must not: invalidations that did not reach it, entries that
//! could not have been stored here, lifetimes longer than the policy's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use cached_etag::{Cache, CacheRequest, ETag, Entry, Key, Policy};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::support::{FakeStore, Runs, eventually, get as request, send};

static DOC: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("safety::remote_doc")
        .tags(&["doc"])
        .ttl(Duration::from_millis(300))
        .build()
});

#[derive(Clone, Default)]
struct App {
    runs: Runs,
    version: Arc<AtomicU64>,
}

async fn doc(request: CacheRequest, State(app): State<App>) -> Response {
    request
        .respond(&DOC, Vec::new(), None, async move {
            app.runs.bump();
            let version = app.version.load(Ordering::SeqCst);
            cached_etag::hash(format!("v{version}"))
        })
        .await
}

fn setup() -> (Router, Cache, FakeStore, App) {
    setup_with(FakeStore::default(), Duration::from_millis(100))
}

/// The doc route over `store`, with this store timeout.
fn setup_with(store: FakeStore, store_timeout: Duration) -> (Router, Cache, FakeStore, App) {
    let cache = Cache::builder()
        .store(store.clone())
        .store_timeout(store_timeout)
        .build();
    let app = App {
        version: Arc::new(AtomicU64::new(1)),
        ..App::default()
    };
    let router = Router::new()
        .route("/doc", get(doc))
        .with_state(app.clone())
        .layer(Extension(cache.clone()));
    (router, cache, store, app)
}

fn key() -> Key {
    Key::for_get("safety::remote_doc", "test", "/doc")
}

#[tokio::test]
async fn a_failed_remote_invalidation_is_reported_and_never_undone() {
    let (app, cache, store, state) = setup();
    assert_eq!(send(&app, request("/doc", &[])).await.body, "v1");
    assert_eq!(store.len(), 1);
    state.version.store(2, Ordering::SeqCst);
    store.fail(true);
    let removed = cache.invalidate_tag("doc").await;
    assert_eq!(removed.remote_errors, 1, "the caller must learn of it");
    assert!(!removed.is_complete());
    // The store is back, still holding version 1: this instance must not
    // read it back.
    store.fail(false);
    assert_eq!(
        send(&app, request("/doc", &[])).await.body,
        "v2",
        "the old entry came back from the store"
    );
    // And the invalidation reaches the store once it answers again.
    assert!(
        eventually(|| store
            .entries
            .lock()
            .unwrap()
            .values()
            .all(|e| e.body == "v2"))
        .await,
        "the invalidation never reached the store"
    );
    assert!(eventually(|| cache.stats().invalidations_pending == 0).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_racing_an_invalidation_cannot_copy_the_old_entry_back() {
    let (app, cache, store, state) = setup();
    assert_eq!(send(&app, request("/doc", &[])).await.body, "v1");
    state.version.store(2, Ordering::SeqCst);
    store.hold_removes.store(true, Ordering::SeqCst);
    let invalidation = tokio::spawn({
        let cache = cache.clone();
        async move { cache.invalidate_tag("doc").await }
    });
    // Memory is cleared and the store's removal is in flight: a read now
    // finds version 1 in the store.
    store.removes_held.notified().await;
    let racing = send(&app, request("/doc", &[])).await;
    assert_eq!(racing.body, "v1");
    store.release_removes.notify_one();
    invalidation.await.unwrap();
    store.hold_removes.store(false, Ordering::SeqCst);
    // Once the invalidation returned, the writer's own instance serves the write.
    assert_eq!(
        send(&app, request("/doc", &[])).await.body,
        "v2",
        "read-your-writes broken on the writer's instance"
    );
}

/// Puts `entry` in the remote store under the test document's key.
fn seed(store: &FakeStore, entry: Entry) {
    let key = key().as_bytes().to_vec();
    store.entries.lock().unwrap().insert(key, entry);
}

fn poisoned(status: StatusCode, headers: &[(&'static str, &'static str)], ttl: Duration) -> Entry {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(*name, HeaderValue::from_static(value));
    }
    Entry {
        status,
        headers: map.into(),
        body: Bytes::from_static(b"from the store"),
        etag: ETag::from_string("remote"),
        last_modified: None,
        tags: vec!["doc".into()],
        stored_at: SystemTime::now(),
        ttl,
        stale_for: Duration::ZERO,
    }
}

#[tokio::test]
async fn remote_entries_are_filtered_like_fresh_ones() {
    for (what, entry) in [
        (
            "a Set-Cookie",
            poisoned(
                StatusCode::OK,
                &[("set-cookie", "session=victim")],
                Duration::from_secs(60),
            ),
        ),
        (
            "a 500",
            poisoned(
                StatusCode::INTERNAL_SERVER_ERROR,
                &[],
                Duration::from_secs(60),
            ),
        ),
        (
            "Cache-Control: private",
            poisoned(
                StatusCode::OK,
                &[("cache-control", "private")],
                Duration::from_secs(60),
            ),
        ),
        (
            "Vary: *",
            poisoned(StatusCode::OK, &[("vary", "*")], Duration::from_secs(60)),
        ),
    ] {
        let (app, cache, store, state) = setup();
        seed(&store, entry);
        let reply = send(&app, request("/doc", &[])).await;
        assert_eq!(reply.body, "v1", "an entry with {what} was served");
        assert!(reply.header("set-cookie").is_none());
        assert_eq!(state.runs.get(), 1);
        assert_eq!(cache.stats().remote_refused, 1);
    }
}

#[tokio::test]
async fn per_message_headers_of_remote_entries_are_dropped() {
    let (app, _cache, store, state) = setup();
    let entry = poisoned(
        StatusCode::OK,
        &[
            ("content-length", "999"),
            ("connection", "close"),
            ("x-kept", "1"),
        ],
        Duration::from_secs(60),
    );
    seed(&store, entry);
    let reply = send(&app, request("/doc", &[])).await;
    assert_eq!(reply.body, "from the store");
    assert_eq!(state.runs.get(), 0);
    assert_eq!(reply.header("x-kept"), Some("1"));
    assert!(reply.header("connection").is_none());
    assert_ne!(reply.header("content-length"), Some("999"));
}

/// Entries written by the previous release carry their validators among
/// their headers as well; they are sent once, from the entry's values.
#[tokio::test]
async fn validators_among_a_remote_entrys_headers_are_sent_once() {
    let (app, _cache, store, state) = setup();
    let entry = poisoned(
        StatusCode::OK,
        &[("etag", "W/\"remote\""), ("x-kept", "1")],
        Duration::from_secs(60),
    );
    seed(&store, entry);
    let reply = send(&app, request("/doc", &[])).await;
    assert_eq!(reply.body, "from the store");
    assert_eq!(state.runs.get(), 0);
    assert_eq!(reply.headers.get_all("etag").iter().count(), 1);
    assert_eq!(reply.header("etag"), Some("W/\"remote\""));
    assert_eq!(reply.header("x-kept"), Some("1"));
}

#[tokio::test]
async fn remote_lifetimes_are_clamped_to_the_policy() {
    let (app, _cache, store, state) = setup();
    let entry = poisoned(StatusCode::OK, &[], Duration::from_secs(365 * 24 * 3600));
    seed(&store, entry);
    assert_eq!(
        send(&app, request("/doc", &[])).await.body,
        "from the store"
    );
    store.entries.lock().unwrap().clear();
    // The policy keeps a response 300 ms; the memory copy may not outlive it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(send(&app, request("/doc", &[])).await.body, "v1");
    assert_eq!(state.runs.get(), 1);
}

#[tokio::test]
async fn a_remote_stale_window_is_held_to_the_policys() {
    // The policy serves nothing stale; an entry from the store that
    // claims a stale window of a year and expired a second ago is a miss.
    let (app, _cache, store, state) = setup();
    let mut entry = poisoned(StatusCode::OK, &[], Duration::ZERO);
    entry.stored_at = SystemTime::now() - Duration::from_secs(1);
    entry.stale_for = Duration::from_secs(365 * 24 * 3600);
    seed(&store, entry);
    assert_eq!(send(&app, request("/doc", &[])).await.body, "v1");
    assert_eq!(state.runs.get(), 1);
}

static STALE_DOC: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("safety::remote_stale_doc")
        .tags(&["doc"])
        .stale_while_revalidate(Duration::from_secs(30))
        .build()
});

#[tokio::test]
async fn a_remote_entry_within_the_policys_stale_window_is_served_stale_and_refreshed() {
    let store = FakeStore::default();
    let cache = Cache::builder().store(store.clone()).build();
    let runs = crate::support::Runs::default();
    let handler = {
        let runs = runs.clone();
        move |request: CacheRequest| async move {
            request
                .respond(&STALE_DOC, Vec::new(), None, async move {
                    runs.bump();
                    cached_etag::hash("refreshed")
                })
                .await
        }
    };
    let app = Router::new()
        .route("/doc", get(handler))
        .layer(Extension(cache.clone()));
    let mut entry = poisoned(StatusCode::OK, &[], Duration::ZERO);
    entry.stored_at = SystemTime::now() - Duration::from_secs(1);
    entry.stale_for = Duration::from_secs(30);
    let key = Key::for_get("safety::remote_stale_doc", "test", "/doc");
    store
        .entries
        .lock()
        .unwrap()
        .insert(key.as_bytes().to_vec(), entry);
    assert_eq!(
        send(&app, request("/doc", &[])).await.body,
        "from the store"
    );
    assert!(eventually(|| runs.get() == 1).await, "refreshed behind");
    assert!(eventually(|| cache.peek(&key).is_some_and(|e| e.body == "refreshed")).await);
    assert_eq!(cache.stats().stale_served, 1);
}

#[tokio::test]
async fn a_huge_remote_ttl_does_not_panic() {
    let (app, _cache, store, _state) = setup();
    let entry = poisoned(StatusCode::OK, &[], Duration::MAX);
    seed(&store, entry);
    let reply = send(&app, request("/doc", &[])).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[test]
fn entry_arithmetic_never_overflows() {
    let entry = poisoned(StatusCode::OK, &[], Duration::MAX);
    assert_eq!(entry.expires_at(), None);
    assert!(entry.remaining_ttl(SystemTime::now()) > Duration::from_secs(1 << 40));
}

#[tokio::test(start_paused = true)]
async fn a_frozen_store_costs_a_miss_one_store_timeout_not_two() {
    let store = FakeStore::default();
    *store.delay.lock().unwrap() = Duration::from_secs(10);
    let (app, cache, _store, _state) = setup_with(store, Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    let reply = send(&app, request("/doc", &[])).await;
    assert_eq!(reply.body, "v1");
    // The lookup waited out the timeout; the put had nothing left to wait.
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(cache.stats().store_errors, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_overtaken_by_an_invalidation_never_serves_the_old_state() {
    let (app, cache, store, state) = setup_with(FakeStore::default(), Duration::from_secs(5));
    // The fill of version 1 is in memory; its put to the store is held.
    store.hold_puts.store(true, Ordering::SeqCst);
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, request("/doc", &[])).await }
    });
    store.puts_held.notified().await;
    // The data changes and the change is invalidated while the put is out.
    state.version.store(2, Ordering::SeqCst);
    cache.invalidate_tag("doc").await;
    // Then the put lands, writing version 1 into the store.
    store.hold_puts.store(false, Ordering::SeqCst);
    store.release_puts.notify_one();
    assert_eq!(first.await.unwrap().body, "v1");
    // The invalidation completed before this read began: never version 1.
    assert_eq!(
        send(&app, request("/doc", &[])).await.body,
        "v2",
        "a late put brought the old state back"
    );
}
