//! The engine under real concurrency: single-flight, cancellation, panics,
//! invalidation races, bounds, expiry, events, and failing stores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use cached_etag_runtime::store::BoxFuture;
use cached_etag_runtime::{
    Cache, ETag, Entry, Event, Fresh, Key, Policy, Removed, RequestHead, Store, StoreError,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;

static POLICY: LazyLock<Arc<Policy>> =
    LazyLock::new(|| Policy::builder("engine::h").tags(&["all"]).build());

struct Req(http::request::Parts);

fn get(uri: &str) -> Req {
    req(Method::GET, uri, &[])
}

fn req(method: Method, uri: &str, headers: &[(&'static str, &str)]) -> Req {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "test");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    Req(builder.body(()).unwrap().into_parts().0)
}

fn ok(body: &'static str) -> Fresh<Body> {
    Fresh::new(Response::new(Body::from(body)))
}

async fn body(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

async fn respond<F>(cache: &Cache, r: &Req, tags: &[&str], fill: F) -> Response<Body>
where
    F: Future<Output = Fresh<Body>> + Send + 'static,
{
    let tags = tags.iter().map(|t| t.to_string()).collect();
    cache
        .respond(RequestHead::from(&r.0), &POLICY, tags, None, fill)
        .await
}

/// A fill that counts its runs.
fn counted(
    runs: &Arc<AtomicUsize>,
    body: &'static str,
    delay: Duration,
) -> impl Future<Output = Fresh<Body>> + Send + 'static {
    let runs = runs.clone();
    async move {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        ok(body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_run_the_fill_once() {
    let cache = Cache::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            let runs = runs.clone();
            tokio::spawn(async move {
                let r = get("/one");
                let response = respond(
                    &cache,
                    &r,
                    &[],
                    counted(&runs, "shared", Duration::from_millis(50)),
                )
                .await;
                assert_eq!(response.status(), StatusCode::OK);
                body(response).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "shared");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(stats.stores, 1);
    assert!(stats.coalesced >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_still_fills_for_its_waiters() {
    let cache = Cache::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let leader = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            respond(
                &cache,
                &get("/c"),
                &[],
                counted(&runs, "done", Duration::from_millis(100)),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let waiter = {
        let (cache, runs) = (cache.clone(), runs.clone());
        tokio::spawn(async move {
            body(
                respond(
                    &cache,
                    &get("/c"),
                    &[],
                    counted(&runs, "waiter's own", Duration::ZERO),
                )
                .await,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    leader.abort(); // the client went away mid-fill
    assert_eq!(waiter.await.unwrap(), "done");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the waiter did not run its own fill"
    );
    assert_eq!(cache.stats().stores, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_fill_leaves_no_stuck_state() {
    let cache = Cache::new();
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            respond(&cache, &get("/p"), &[], async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!("handler bug")
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            body(respond(&cache, &get("/p"), &[], async { ok("recovered") }).await).await
        })
    };
    assert!(
        leader.await.unwrap_err().is_panic(),
        "the panic reaches the framework"
    );
    assert_eq!(waiter.await.unwrap(), "recovered");
    // And the key is usable again.
    let again = respond(&cache, &get("/p"), &[], async { ok("never") }).await;
    assert_eq!(body(again).await, "recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_never_receive_an_unstorable_response() {
    let cache = Cache::new();
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            respond(&cache, &get("/u"), &[], async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut r = Response::new(Body::from("alice's session"));
                r.headers_mut()
                    .insert("set-cookie", HeaderValue::from_static("session=alice"));
                Fresh::new(r)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(
            async move { respond(&cache, &get("/u"), &[], async { ok("bob's own") }).await },
        )
    };
    let leader = leader.await.unwrap();
    assert_eq!(leader.headers()["set-cookie"], "session=alice");
    let waiter = waiter.await.unwrap();
    assert!(waiter.headers().get("set-cookie").is_none());
    assert_eq!(body(waiter).await, "bob's own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_racing_a_slow_fill_leaves_no_stale_entry() {
    let cache = Cache::new();
    let slow = {
        let cache = cache.clone();
        tokio::spawn(async move {
            respond(&cache, &get("/img/1"), &["image:1"], async {
                tokio::time::sleep(Duration::from_millis(80)).await;
                ok("old state")
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    cache.invalidate_tag("image:1").await; // the write lands while the read is in flight
    assert_eq!(body(slow.await.unwrap()).await, "old state");
    let next = respond(&cache, &get("/img/1"), &["image:1"], async {
        ok("new state")
    })
    .await;
    assert_eq!(
        body(next).await,
        "new state",
        "the overtaken fill was not stored"
    );
    assert_eq!(cache.stats().not_stored, 1);
}

#[tokio::test]
async fn a_flood_of_distinct_keys_stays_within_bounds() {
    let cache = Cache::builder()
        .max_entries(500)
        .max_bytes(256 << 10)
        .build();
    for i in 0..100_000u32 {
        let r = get(&format!("/flood?i={i}"));
        let response = respond(&cache, &r, &["flood"], async {
            ok("0123456789abcdef0123456789abcdef")
        })
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let stats = cache.stats();
    assert!(stats.entries <= 500, "{stats:?}");
    assert!(stats.bytes_held <= 256 << 10, "{stats:?}");
    assert!(stats.evictions >= 99_000, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_their_ttl() {
    static SHORT: LazyLock<Arc<Policy>> = LazyLock::new(|| {
        Policy::builder("engine::short")
            .ttl(Duration::from_secs(30))
            .build()
    });
    let cache = Cache::new();
    let runs = Arc::new(AtomicUsize::new(0));
    for (advance, expected_runs) in [(0, 1), (29, 1), (2, 2)] {
        tokio::time::advance(Duration::from_secs(advance)).await;
        let r = get("/ttl");
        cache
            .respond(
                RequestHead::from(&r.0),
                &SHORT,
                Vec::new(),
                None,
                counted(&runs, "x", Duration::ZERO),
            )
            .await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            expected_runs,
            "after +{advance}s"
        );
    }
    assert_eq!(cache.stats().expirations, 1);
}

#[tokio::test]
async fn a_304_is_answered_from_the_entry_without_running_the_handler() {
    let cache = Cache::new();
    let first = respond(&cache, &get("/e"), &[], async { ok("body") }).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "weak by default: {etag}");
    assert_eq!(first.headers()["cache-control"], "private, max-age=60");
    let r = req(
        Method::GET,
        "/e",
        &[("if-none-match", &format!("\"zzz\", {etag}"))],
    );
    let second = respond(&cache, &r, &[], async { panic!("must not run") }).await;
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(second.headers()["etag"], etag.as_str());
    assert_eq!(second.headers()["cache-control"], "private, max-age=60");
    assert!(body(second).await.is_empty());
    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.not_modified, stats.bytes_saved),
        (1, 1, 4)
    );
}

#[tokio::test]
async fn a_miss_whose_client_has_the_new_version_is_still_a_304() {
    let cache = Cache::new();
    let etag = ETag::from_content(b"body").to_string();
    let r = req(Method::GET, "/m", &[("if-none-match", &etag)]);
    let response = respond(&cache, &r, &[], async { ok("body") }).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        cache.stats().stores,
        1,
        "and the entry is stored for the next client"
    );
}

#[tokio::test]
async fn malformed_validators_are_ignored_never_an_error() {
    let cache = Cache::new();
    respond(&cache, &get("/x"), &[], async { ok("x") }).await;
    for bad in [
        "W/",
        "\"unterminated",
        "*, \"a\"",
        "\"caf\u{e9}\"",
        "W/\"a\" junk",
        ",",
    ] {
        let r = req(
            Method::GET,
            "/x",
            &[("if-none-match", bad), ("if-modified-since", "yesterday")],
        );
        let response = respond(&cache, &r, &[], async { ok("never") }).await;
        assert_eq!(response.status(), StatusCode::OK, "{bad:?}");
    }
}

#[tokio::test]
async fn only_ok_responses_are_stored() {
    let cache = Cache::new();
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::CREATED,
    ] {
        let response = respond(&cache, &get("/s"), &[], async move {
            let mut r = Response::new(Body::from("error page"));
            *r.status_mut() = status;
            Fresh::new(r)
        })
        .await;
        assert_eq!(response.status(), status);
        assert!(response.headers().get("etag").is_none());
    }
    assert_eq!(cache.stats().stores, 0);
}

#[tokio::test]
async fn credentials_bypass_the_shared_store_but_still_get_304s() {
    let cache = Cache::new();
    respond(&cache, &get("/me"), &[], async { ok("anonymous view") }).await;
    let r = req(Method::GET, "/me", &[("authorization", "Bearer alice")]);
    let alice = respond(&cache, &r, &[], async { ok("alice's view") }).await;
    assert_eq!(alice.headers()["cache-control"], "private, max-age=60");
    let etag = alice.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(body(alice).await, "alice's view", "never the shared entry");
    let r = req(Method::GET, "/me", &[("cookie", "s=bob")]);
    assert_eq!(
        body(respond(&cache, &r, &[], async { ok("bob's view") }).await).await,
        "bob's view"
    );
    let r = req(
        Method::GET,
        "/me",
        &[("authorization", "Bearer alice"), ("if-none-match", &etag)],
    );
    let again = respond(&cache, &r, &[], async { ok("alice's view") }).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let stats = cache.stats();
    assert_eq!((stats.stores, stats.bypassed), (1, 3));
}

#[tokio::test]
async fn shared_and_varying_policies_store_credentialed_requests() {
    static SHARED: LazyLock<Arc<Policy>> =
        LazyLock::new(|| Policy::builder("engine::shared").shared().build());
    static PER_USER: LazyLock<Arc<Policy>> = LazyLock::new(|| {
        Policy::builder("engine::per_user")
            .vary(&["authorization"])
            .build()
    });
    let cache = Cache::new();
    let alice = req(Method::GET, "/doc", &[("authorization", "Bearer alice")]);
    let bob = req(Method::GET, "/doc", &[("authorization", "Bearer bob")]);
    async fn go(cache: &Cache, policy: &Arc<Policy>, r: &Req, text: &'static str) -> Bytes {
        let response = cache
            .respond(
                RequestHead::from(&r.0),
                policy,
                Vec::new(),
                None,
                async move { ok(text) },
            )
            .await;
        body(response).await
    }
    assert_eq!(
        go(&cache, &SHARED, &alice, "same for all").await,
        "same for all"
    );
    assert_eq!(
        go(&cache, &SHARED, &bob, "second run").await,
        "same for all"
    );
    assert_eq!(go(&cache, &PER_USER, &alice, "alice").await, "alice");
    assert_eq!(go(&cache, &PER_USER, &bob, "bob").await, "bob");
    assert_eq!(go(&cache, &PER_USER, &alice, "again").await, "alice");
    assert_eq!(go(&cache, &PER_USER, &bob, "again").await, "bob");
}

#[tokio::test]
async fn check_answers_304_without_running_and_marks_stale_entries() {
    let cache = Cache::new();
    let v1 = ETag::from_string("v1");
    let run = |check: ETag, inm: Option<String>, text: &'static str| {
        let cache = cache.clone();
        async move {
            let r = match &inm {
                Some(tag) => req(Method::GET, "/chk", &[("if-none-match", tag)]),
                None => get("/chk"),
            };
            cache
                .respond(
                    RequestHead::from(&r.0),
                    &POLICY,
                    Vec::new(),
                    Some(check),
                    async move { ok(text) },
                )
                .await
        }
    };
    let first = run(v1.clone(), None, "one").await;
    assert_eq!(first.headers()["etag"], "W/\"v1\"");
    let not_modified = run(v1.clone(), Some("W/\"v1\"".into()), "unused").await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    // RFC 9110 §15.4.5: the 304 is the stored entry's, with the headers its
    // 200 carried.
    assert_eq!(cache.stats().hits, 1, "answered from the stored entry");
    assert_eq!(not_modified.headers()["etag"], "W/\"v1\"");
    // The data changed: the cheap validator disagrees with the entry.
    let changed = run(ETag::from_string("v2"), None, "two").await;
    assert_eq!(changed.headers()["etag"], "W/\"v2\"");
    assert_eq!(body(changed).await, "two");
}

#[tokio::test]
async fn head_shares_the_get_entry() {
    let cache = Cache::new();
    respond(&cache, &get("/h"), &[], async { ok("payload") }).await;
    let r = req(Method::HEAD, "/h", &[]);
    let head = respond(&cache, &r, &[], async { panic!("must not run") }).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(cache.stats().hits, 1);
}

#[tokio::test]
async fn other_methods_bypass_the_cache() {
    let cache = Cache::new();
    let r = req(Method::POST, "/h", &[]);
    let response = respond(&cache, &r, &[], async { ok("created") }).await;
    assert!(response.headers().get("etag").is_none());
    assert_eq!(cache.stats().misses, 0);
}

#[tokio::test]
async fn oversized_keys_and_bodies_are_served_not_stored() {
    let cache = Cache::builder().max_key_bytes(64).max_body_bytes(8).build();
    let long = format!("/k?{}", "q".repeat(100));
    assert_eq!(
        body(respond(&cache, &get(&long), &[], async { ok("a") }).await).await,
        "a"
    );
    let big = respond(&cache, &get("/big"), &[], async {
        ok("more than eight bytes")
    })
    .await;
    assert!(
        big.headers().get("etag").is_none(),
        "hash style cannot tag an unbuffered body"
    );
    assert_eq!(body(big).await, "more than eight bytes", "never truncated");
    assert_eq!(cache.stats().stores, 0);
}

#[tokio::test]
async fn events_invalidate_by_tag_and_skip_unchanged_etags() {
    let cache = Cache::new();
    for (path, tag, text) in [("/cam/1", "camera:1", "one"), ("/cam/2", "camera:2", "two")] {
        respond(&cache, &get(path), &[tag], async move { ok(text) }).await;
    }
    let unchanged = ETag::from_content(b"two");
    let removed = cache
        .apply(&Event::tags(["camera:2"]).with_etag(unchanged))
        .await;
    assert_eq!(
        removed,
        Removed {
            removed: 0,
            skipped: 1,
            remote_errors: 0
        }
    );
    let removed = cache.apply(&Event::tags(["camera:2"])).await;
    assert_eq!(
        removed,
        Removed {
            removed: 1,
            skipped: 0,
            remote_errors: 0
        }
    );
    assert_eq!(cache.stats().entries, 1, "camera 1 untouched");
    let stats = cache.stats();
    assert_eq!((stats.invalidations, stats.invalidations_skipped), (1, 1));
}

#[tokio::test]
async fn listen_applies_a_stream_of_changes() {
    let cache = Cache::new();
    respond(&cache, &get("/l"), &["listened"], async { ok("x") }).await;
    let stream = futures_util::stream::iter([Event::tags(["listened"])]);
    cache.listen(stream).await.unwrap();
    assert_eq!(cache.stats().entries, 0);
}

#[tokio::test]
async fn apply_applies_before_returning_and_follow_mirrors_into_memory() {
    let writer = Cache::new();
    let other = Cache::new();
    for cache in [&writer, &other] {
        respond(cache, &get("/pub"), &["published"], async { ok("same") }).await;
    }
    let unchanged = ETag::from_content(b"same");
    let kept = Event::tags(["published"]).with_etag(unchanged);
    let removed = writer.apply(&kept).await;
    assert_eq!(
        removed,
        Removed {
            removed: 0,
            skipped: 1,
            remote_errors: 0
        }
    );
    let changed = Event::tags(["published"]);
    let removed = writer.apply(&changed).await;
    assert_eq!(removed.removed, 1);
    assert_eq!(writer.stats().entries, 0, "applied before apply returned");
    // Another instance mirrors the announcements of what the writer applied.
    let announcements = futures_util::stream::iter([kept, changed]);
    other.follow(announcements).await.unwrap();
    assert_eq!(other.stats().entries, 0, "the follower mirrored it");
    let stats = other.stats();
    assert_eq!((stats.invalidations, stats.invalidations_skipped), (1, 1));
}

#[tokio::test]
async fn invalidate_if_changed_keeps_an_unchanged_entry() {
    let cache = Cache::new();
    respond(&cache, &get("/k"), &[], async { ok("same") }).await;
    let key = Key::for_get("engine::h", "test", "/k");
    let kept = cache
        .invalidate_if_changed(&key, &ETag::from_content(b"same"))
        .await;
    assert_eq!(
        kept,
        Removed {
            removed: 0,
            skipped: 1,
            remote_errors: 0
        }
    );
    let gone = cache
        .invalidate_if_changed(&key, &ETag::from_content(b"new"))
        .await;
    assert_eq!(
        gone,
        Removed {
            removed: 1,
            skipped: 0,
            remote_errors: 0
        }
    );
    assert_eq!(cache.invalidate(&key).await, Removed::default());
}

/// A remote store that always fails, or never answers.
struct BrokenStore {
    hang: bool,
}

impl BrokenStore {
    fn fail<'a, T: Send + 'a>(&self) -> BoxFuture<'a, Result<T, StoreError>> {
        if self.hang {
            Box::pin(std::future::pending())
        } else {
            Box::pin(async { Err(StoreError::Backend("connection refused".into())) })
        }
    }
}

impl Store for BrokenStore {
    fn get<'a>(&'a self, _: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        self.fail()
    }
    fn put<'a>(&'a self, _: &'a [u8], _: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>> {
        self.fail()
    }
    fn remove<'a>(
        &'a self,
        _: &'a [u8],
        _: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        self.fail()
    }
    fn remove_tags<'a>(
        &'a self,
        _: &'a [&'a str],
        _: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        self.fail()
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.fail()
    }
}

/// A remote store holding one entry whose `get` waits for a signal.
struct GatedStore {
    entry: Entry,
    gate: tokio::sync::Semaphore,
}

impl Store for GatedStore {
    fn get<'a>(&'a self, _: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            let _permit = self.gate.acquire().await;
            Ok(Some(self.entry.clone()))
        })
    }
    fn put<'a>(&'a self, _: &'a [u8], _: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn remove<'a>(
        &'a self,
        _: &'a [u8],
        _: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async { Ok(Removed::default()) })
    }
    fn remove_tags<'a>(
        &'a self,
        _: &'a [&'a str],
        _: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async { Ok(Removed::default()) })
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_answer_overtaken_by_an_invalidation_is_not_kept() {
    let stale = Entry {
        status: StatusCode::OK,
        headers: HeaderMap::new().into(),
        body: Bytes::from_static(b"stale"),
        etag: ETag::from_content(b"stale"),
        last_modified: None,
        tags: vec![Arc::from("all"), Arc::from("remote:1")],
        stored_at: std::time::SystemTime::now(),
        ttl: Duration::from_secs(60),
        stale_for: Duration::ZERO,
    };
    let store = Arc::new(GatedStore {
        entry: stale,
        gate: tokio::sync::Semaphore::new(0),
    });
    let cache = Cache::builder()
        .store(store.clone())
        .store_timeout(Duration::from_secs(5))
        .build();
    let reader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            body(respond(&cache, &get("/remote"), &[], async { ok("fresh") }).await).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await; // the remote get is in flight
    cache.invalidate_tag("remote:1").await;
    store.gate.add_permits(1);
    assert_eq!(
        reader.await.unwrap(),
        "fresh",
        "the overtaken answer was not served"
    );
    assert_eq!(
        body(respond(&cache, &get("/remote"), &[], async { ok("never") }).await).await,
        "fresh"
    );
}

async fn fails_open(hang: bool) {
    let cache = Cache::builder()
        .store(BrokenStore { hang })
        .store_timeout(Duration::from_millis(20))
        .build();
    for i in 0..3 {
        let r = get(&format!("/broken/{i}"));
        let response = respond(&cache, &r, &["b"], async { ok("served anyway") }).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "served anyway");
    }
    cache.invalidate_tag("b").await;
    let stats = cache.stats();
    // Each request: a failed get and a failed put; then the invalidation.
    assert_eq!(stats.store_errors, 7, "{stats:?}");
}

#[tokio::test]
async fn a_failing_store_makes_the_handler_run() {
    fails_open(false).await;
}

#[tokio::test]
async fn a_hanging_store_times_out_and_the_handler_runs() {
    let started = std::time::Instant::now();
    fails_open(true).await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn headers_are_plain_http_types() {
    // The engine speaks `http`: a HeaderMap from anywhere works.
    let mut headers = HeaderMap::new();
    headers.insert("if-none-match", HeaderValue::from_static("*"));
    let uri: http::Uri = "/".parse().unwrap();
    let head = RequestHead {
        method: &Method::GET,
        uri: &uri,
        headers: &headers,
    };
    assert_eq!(head.headers.len(), 1);
}

/// The headers a hit sends, as (name, every value) pairs in name order.
fn sent(response: &Response<Body>) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<_> = response.headers().keys().map(|n| n.to_string()).collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let values = response.headers().get_all(&name);
            let values = values.iter().map(|v| v.to_str().unwrap().to_owned());
            (name, values.collect())
        })
        .collect()
}

#[tokio::test]
async fn entries_of_one_handler_share_their_replayed_headers() {
    // A policy of its own: the tests beside this one store under POLICY.
    static SHARING: LazyLock<Arc<Policy>> =
        LazyLock::new(|| Policy::builder("engine::sharing").build());
    async fn respond<F>(cache: &Cache, r: &Req, _: &[&str], fill: F) -> Response<Body>
    where
        F: Future<Output = Fresh<Body>> + Send + 'static,
    {
        let head = RequestHead::from(&r.0);
        cache.respond(head, &SHARING, Vec::new(), None, fill).await
    }
    let cache = Cache::new();
    let with_type = |body: &'static str| async move {
        let mut response = Response::new(Body::from(body));
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("text/plain"));
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_732_442_400);
        Fresh::new(response).with_last_modified(t)
    };
    let (a, b) = (get("/a"), get("/b"));
    let miss_a = respond(&cache, &a, &[], with_type("a")).await;
    let miss_b = respond(&cache, &b, &[], with_type("b")).await;
    let key = |r: &Req| Key::for_request(&SHARING, &RequestHead::from(&r.0));
    let (stored_a, stored_b) = (cache.peek(&key(&a)).unwrap(), cache.peek(&key(&b)).unwrap());
    assert!(
        Arc::ptr_eq(&stored_a.headers, &stored_b.headers),
        "one copy of the headers the two entries have in common"
    );
    // The validators are kept as values, not among the shared headers...
    assert!(!stored_a.headers.contains_key("etag"));
    assert!(!stored_a.headers.contains_key("last-modified"));
    // ...and every answer sends them exactly as the miss did, once each.
    let hit_a = respond(&cache, &a, &[], with_type("changed")).await;
    let hit_b = respond(&cache, &b, &[], with_type("changed")).await;
    assert_eq!(cache.stats().hits, 2);
    assert_eq!(sent(&hit_a), sent(&miss_a));
    assert_eq!(sent(&hit_b), sent(&miss_b));
    assert_ne!(hit_a.headers()["etag"], hit_b.headers()["etag"]);
    assert_eq!(hit_a.headers().get_all("etag").iter().count(), 1);
    assert_eq!(
        hit_a.headers()["last-modified"],
        "Sun, 24 Nov 2024 10:00:00 GMT"
    );
    let not_modified = respond(
        &cache,
        &req(
            Method::GET,
            "/a",
            &[("if-none-match", hit_a.headers()["etag"].to_str().unwrap())],
        ),
        &[],
        with_type("changed"),
    )
    .await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers()["etag"], hit_a.headers()["etag"]);
    assert_eq!(
        not_modified.headers()["last-modified"],
        hit_a.headers()["last-modified"]
    );
    assert!(!not_modified.headers().contains_key("content-type"));
}

/// The future of a request holds the handler's state only on the heap, for
/// the requests that run it: a hit's future (which axum boxes, one
/// allocation a request) stays small enough for the allocator's fast path
/// (glibc serves up to 1,032 bytes from its per-thread cache). It was
/// 2,000 bytes with a 200-byte handler before the slow path was boxed.
#[test]
fn the_future_of_a_request_does_not_hold_the_handlers_state() {
    let cache = Cache::new();
    let (parts, ()) = Request::get("/x").body(()).unwrap().into_parts();
    let state = [0u8; 200];
    let future =
        cache.respond_with::<Body, _, _>(RequestHead::from(&parts), &POLICY, None, move || {
            (Vec::new(), async move {
                let _ = state;
                ok("x")
            })
        });
    let size = std::mem::size_of_val(&future);
    assert!(size < 200 + 512, "{size} bytes");
}
