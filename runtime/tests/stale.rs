//! Serving stale: the stale-while-revalidate and stale-if-error windows,
//! soft purges, and refreshes that keep an unchanged body. On tokio's
//! paused clock, so that every boundary is exact.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use cached_etag_runtime::{Cache, ETag, Event, Fresh, Key, Policy, RequestHead, Stats};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

/// Fresh for 60 s, then served while refreshed for 30 s; no error window.
static SWR: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("stale::swr")
        .ttl(Duration::from_secs(60))
        .stale_while_revalidate(Duration::from_secs(30))
        .tags(&["doc"])
        .build()
});

/// Fresh for 10 s, served while refreshed for 5 s more, and instead of an
/// error for 60 s.
static SIE: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("stale::sie")
        .ttl(Duration::from_secs(10))
        .stale_while_revalidate(Duration::from_secs(5))
        .stale_if_error(Duration::from_secs(60))
        .tags(&["doc"])
        .build()
});

/// No stale window at all.
static PLAIN: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("stale::plain")
        .ttl(Duration::from_secs(60))
        .tags(&["doc"])
        .build()
});

/// What the test's "handler" answers, and how often it ran.
#[derive(Clone, Default)]
struct Origin {
    runs: Arc<AtomicUsize>,
    answer: Arc<Mutex<Answer>>,
    gate: Arc<Mutex<Option<Arc<tokio::sync::Notify>>>>,
}

#[derive(Clone)]
enum Answer {
    Body(&'static str),
    Status(StatusCode),
    Panic,
}

impl Default for Answer {
    fn default() -> Self {
        Answer::Body("v1")
    }
}

impl Origin {
    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Holds every fill from now on until the returned gate is opened.
    fn hold(&self) -> Arc<tokio::sync::Notify> {
        let gate = Arc::new(tokio::sync::Notify::new());
        *self.gate.lock().unwrap() = Some(gate.clone());
        gate
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn fill(&self) -> impl Future<Output = Fresh<Body>> + Send + 'static {
        let origin = self.clone();
        async move {
            origin.runs.fetch_add(1, Ordering::SeqCst);
            let gate = origin.gate.lock().unwrap().clone();
            if let Some(gate) = gate {
                gate.notified().await;
            }
            let answer = origin.answer.lock().unwrap().clone();
            match answer {
                Answer::Body(body) => Fresh::new(Response::new(Body::from(body))),
                Answer::Status(status) => {
                    let mut response = Response::new(Body::from("failed"));
                    *response.status_mut() = status;
                    Fresh::new(response)
                }
                Answer::Panic => panic!("the handler panicked"),
            }
        }
    }
}

async fn get(
    cache: &Cache,
    policy: &Arc<Policy>,
    origin: &Origin,
    headers: &[(&str, &str)],
) -> (StatusCode, Bytes, Option<String>) {
    let mut request = Request::get("/doc").header("host", "test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let response = cache
        .respond(
            RequestHead::from(&parts),
            policy,
            Vec::new(),
            None,
            origin.fill(),
        )
        .await;
    read(response).await
}

async fn read(response: Response<Body>) -> (StatusCode, Bytes, Option<String>) {
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body, etag)
}

/// Lets spawned refreshes run to completion without moving the clock.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

async fn advance(d: Duration) {
    tokio::time::advance(d).await;
}

fn key(policy: &Policy) -> Key {
    let (parts, ()) = Request::get("/doc")
        .header("host", "test")
        .body(())
        .unwrap()
        .into_parts();
    Key::for_request(policy, &RequestHead::from(&parts))
}

#[tokio::test(start_paused = true)]
async fn fresh_then_stale_then_gone_at_the_exact_boundaries() {
    let cache = Cache::new();
    let origin = Origin::default();
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    origin.set(Answer::Body("v2"));

    // Fresh until the ttl's last nanosecond.
    advance(Duration::from_secs(60) - Duration::from_nanos(1)).await;
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    assert_eq!((origin.runs(), cache.stats().stale_served), (1, 0));

    // Stale from the ttl on: answered at once, refreshed behind.
    let gate = origin.hold();
    advance(Duration::from_nanos(1)).await;
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    settle().await;
    let stats = cache.stats();
    assert_eq!(
        (stats.stale_served, stats.refreshes, origin.runs()),
        (1, 1, 2)
    );
    // While the refresh runs, the window's last nanosecond is still stale,
    // and no second refresh starts.
    advance(Duration::from_secs(30) - Duration::from_nanos(1)).await;
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    assert_eq!((cache.stats().refreshes, origin.runs()), (1, 2));
    // At the window's end the entry is gone: a miss, which waits for the
    // fill already under way.
    advance(Duration::from_nanos(1)).await;
    *origin.gate.lock().unwrap() = None;
    let miss = tokio::spawn({
        let (cache, origin) = (cache.clone(), origin.clone());
        async move { get(&cache, &SWR, &origin, &[]).await }
    });
    settle().await;
    gate.notify_waiters();
    assert_eq!(miss.await.unwrap().1, "v2");
    let stats = cache.stats();
    assert_eq!((stats.stale_served, stats.hits), (2, 3));
    assert_eq!(stats.expirations, 1);
}

#[tokio::test(start_paused = true)]
async fn a_refreshed_entry_replaces_the_stale_one() {
    let cache = Cache::new();
    let origin = Origin::default();
    get(&cache, &SWR, &origin, &[]).await;
    origin.set(Answer::Body("v2"));
    advance(Duration::from_secs(61)).await;
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    settle().await;
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v2");
    assert_eq!(origin.runs(), 2);
    let stats = cache.stats();
    assert_eq!(
        (stats.stale_served, stats.refreshes, stats.stores),
        (1, 1, 2)
    );
    assert_eq!(stats.revalidated_unchanged, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stale_entry_answers_a_matching_if_none_match_with_a_304() {
    let cache = Cache::new();
    let origin = Origin::default();
    let (_, _, etag) = get(&cache, &SWR, &origin, &[]).await;
    let etag = etag.unwrap();
    advance(Duration::from_secs(61)).await;
    let (status, body, sent) = get(&cache, &SWR, &origin, &[("if-none-match", &etag)]).await;
    assert_eq!(
        (status, body.len(), sent.as_deref()),
        (StatusCode::NOT_MODIFIED, 0, Some(&*etag))
    );
    assert_eq!(cache.stats().stale_served, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_stale_requests_start_one_refresh() {
    let cache = Cache::new();
    let origin = Origin::default();
    get(&cache, &SWR, &origin, &[]).await;
    advance(Duration::from_secs(61)).await;
    let gate = origin.hold();
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let (cache, origin) = (cache.clone(), origin.clone());
            tokio::spawn(async move { get(&cache, &SWR, &origin, &[]).await })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().1, "v1", "answered at once, stale");
    }
    settle().await;
    gate.notify_waiters();
    settle().await;
    let stats = cache.stats();
    assert_eq!((stats.refreshes, stats.stale_served), (1, 100));
    assert_eq!(origin.runs(), 2, "one fill, then one refresh");
}

#[tokio::test(start_paused = true)]
async fn a_failing_refresh_serves_stale_within_stale_if_error_then_surfaces_the_error() {
    let cache = Cache::new();
    let origin = Origin::default();
    get(&cache, &SIE, &origin, &[]).await;
    origin.set(Answer::Status(StatusCode::SERVICE_UNAVAILABLE));

    // Within stale-while-revalidate: stale at once; the refresh fails
    // behind it and is not stored.
    advance(Duration::from_secs(11)).await;
    assert_eq!(get(&cache, &SIE, &origin, &[]).await.1, "v1");
    settle().await;
    assert_eq!(origin.runs(), 2);

    // Past it, within stale-if-error: the fill runs first, and its failure
    // is answered with the stale entry.
    advance(Duration::from_secs(10)).await;
    let (status, body, _) = get(&cache, &SIE, &origin, &[]).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"v1"[..]));
    assert_eq!(cache.stats().errors_masked, 1);

    // A panicking handler too.
    origin.set(Answer::Panic);
    let (status, body, _) = get(&cache, &SIE, &origin, &[]).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"v1"[..]));
    assert_eq!(cache.stats().errors_masked, 2);

    // A 4xx is an answer, not an error: it is passed on.
    origin.set(Answer::Status(StatusCode::NOT_FOUND));
    assert_eq!(
        get(&cache, &SIE, &origin, &[]).await.0,
        StatusCode::NOT_FOUND
    );

    // Past stale-if-error, the error is the answer.
    origin.set(Answer::Status(StatusCode::SERVICE_UNAVAILABLE));
    advance(Duration::from_secs(50)).await;
    assert_eq!(
        get(&cache, &SIE, &origin, &[]).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let stats = cache.stats();
    assert_eq!(
        (stats.errors_masked, stats.stores),
        (2, 1),
        "no error stored"
    );
    // The route counts each stale answer: one while refreshing, two for
    // errors.
    let route = cache.route_stats()["stale::sie"];
    assert_eq!((route.stale_served, route.stores), (3, 1));
}

#[tokio::test(start_paused = true)]
async fn a_soft_purge_and_an_unchanged_refresh_keep_the_stored_body() {
    let cache = Cache::new();
    let origin = Origin::default();
    get(&cache, &SWR, &origin, &[]).await;
    let before = cache.peek(&key(&SWR)).unwrap();

    let marked = cache.invalidate_tags_soft(&["doc"]).await;
    assert_eq!(marked.removed, 1);
    assert!(cache.peek(&key(&SWR)).is_none(), "no longer fresh");
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    settle().await;
    let after = cache.peek(&key(&SWR)).expect("fresh again");
    assert_eq!(after.etag, before.etag);
    assert_eq!(
        after.body.as_ptr(),
        before.body.as_ptr(),
        "the same stored bytes"
    );
    let stats = cache.stats();
    assert_eq!((stats.revalidated_unchanged, stats.refreshes), (1, 1));

    // A changed refresh replaces it.
    origin.set(Answer::Body("v2"));
    cache.apply(&Event::tags(["doc"]).soft()).await;
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    settle().await;
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v2");
    assert_eq!(cache.stats().revalidated_unchanged, 1);
}

#[tokio::test(start_paused = true)]
async fn without_a_window_a_soft_purge_refreshes_first_and_keeps_an_unchanged_body() {
    let cache = Cache::new();
    let origin = Origin::default();
    get(&cache, &PLAIN, &origin, &[]).await;
    let before = cache.peek(&key(&PLAIN)).unwrap();
    cache.invalidate_soft(&key(&PLAIN)).await;
    // The request waits for the fill: nothing stale is served.
    assert_eq!(get(&cache, &PLAIN, &origin, &[]).await.1, "v1");
    let stats = cache.stats();
    assert_eq!((stats.stale_served, stats.misses, origin.runs()), (0, 2, 2));
    assert_eq!(stats.revalidated_unchanged, 1);
    let after = cache.peek(&key(&PLAIN)).unwrap();
    assert_eq!(after.body.as_ptr(), before.body.as_ptr());
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_during_a_background_refresh_wins() {
    let cache = Cache::new();
    let origin = Origin::default();
    get(&cache, &SWR, &origin, &[]).await;
    advance(Duration::from_secs(61)).await;
    origin.set(Answer::Body("read before the write"));
    let gate = origin.hold();
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v1");
    settle().await;
    // The data changes while the refresh is reading the old state.
    cache.invalidate_tag("doc").await;
    gate.notify_waiters();
    settle().await;
    assert!(
        cache.peek(&key(&SWR)).is_none(),
        "the late refresh is discarded"
    );
    *origin.gate.lock().unwrap() = None;
    origin.set(Answer::Body("v2"));
    assert_eq!(get(&cache, &SWR, &origin, &[]).await.1, "v2");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_goes_away_does_not_cancel_the_refresh() {
    let cache = Cache::new();
    let origin = Origin::default();
    get(&cache, &SWR, &origin, &[]).await;
    advance(Duration::from_secs(61)).await;
    origin.set(Answer::Body("v2"));
    let gate = origin.hold();
    // The response is dropped unread, as when the client disconnects.
    let (parts, ()) = Request::get("/doc")
        .header("host", "test")
        .body(())
        .unwrap()
        .into_parts();
    drop(
        cache
            .respond::<Body, _>(
                RequestHead::from(&parts),
                &SWR,
                Vec::new(),
                None,
                origin.fill(),
            )
            .await,
    );
    drop(parts);
    settle().await;
    gate.notify_waiters();
    settle().await;
    assert_eq!(&cache.peek(&key(&SWR)).unwrap().body[..], b"v2");
}

#[tokio::test(start_paused = true)]
async fn a_check_that_agrees_with_a_stale_entry_renews_it_without_running_the_handler() {
    let cache = Cache::new();
    let origin = Origin::default();
    let respond = |check: Option<ETag>| {
        let (cache, origin) = (cache.clone(), origin.clone());
        async move {
            let (parts, ()) = Request::get("/doc")
                .header("host", "test")
                .body(())
                .unwrap()
                .into_parts();
            let response = cache
                .respond(
                    RequestHead::from(&parts),
                    &PLAIN,
                    Vec::new(),
                    check,
                    origin.fill(),
                )
                .await;
            read(response).await
        }
    };
    let etag = ETag::from_content(b"v1");
    respond(Some(etag.clone())).await;
    cache.invalidate_tags_soft(&["doc"]).await;
    assert_eq!(respond(Some(etag)).await.1, "v1");
    let stats: Stats = cache.stats();
    assert_eq!(
        (origin.runs(), stats.revalidated_unchanged, stats.hits),
        (1, 1, 1)
    );
    assert!(cache.peek(&key(&PLAIN)).is_some(), "fresh again");
}
