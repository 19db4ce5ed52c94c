//! The Redis store against a real Redis: two instances sharing entries and
//! invalidations, an outage under load, a large tag invalidated atomically
//! under readers, late fills, read-your-writes under racing readers, lost
//! bookkeeping (evicted keys), and a lost subscription (killed or frozen
//! Redis).
//!
//! Tests that need Redis read `CACHED_ETAG_REDIS_URL`; without it they
//! fail. Each uses a prefix of its own, so they run in
//! parallel on one Redis. The outage and subscription tests start their own
//! `redis-server`.
#![cfg(feature = "redis")]

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use cached_etag_runtime::{
    Cache, ETag, Entry, Event, Fresh, Key, Policy, RedisStore, RequestHead, Store, StoreError,
};
use futures_util::StreamExt;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;

static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| Policy::builder("redis::h").build());

/// The Redis the tests use. Without one they fail: a test that cannot run
/// has not passed.
fn redis_url() -> String {
    std::env::var("CACHED_ETAG_REDIS_URL")
        .expect("these tests need Redis: set CACHED_ETAG_REDIS_URL (scripts/test.sh does)")
}

/// A prefix no other test or run shares.
fn prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("cached-etag-test:{test}:{}:{nanos}:", std::process::id())
}

fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        // Tests share two cores with a build; a busy machine must not turn
        // into spurious timeouts outside the outage test.
        .command_timeout(Duration::from_secs(2))
        .build()
        .expect("valid url")
}

/// A plain connection, to look at and damage what the store keeps.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn query<T: redis::FromRedisValue>(
    raw: &mut redis::aio::MultiplexedConnection,
    cmd: &redis::Cmd,
) -> T {
    cmd.query_async(raw).await.unwrap()
}

/// The store's current generation (`P gen`).
async fn generation(raw: &mut redis::aio::MultiplexedConnection, prefix: &str) -> String {
    query(raw, redis::cmd("GET").arg(format!("{prefix}gen"))).await
}

fn key(path: &str) -> Key {
    Key::for_get("redis::h", "test", path)
}

async fn respond(
    cache: &Cache,
    path: &str,
    tags: &[&str],
    runs: &Arc<AtomicUsize>,
    body: &'static str,
) -> Response<Body> {
    let request = Request::get(path).header("host", "test").body(()).unwrap();
    let (parts, ()) = request.into_parts();
    let runs = runs.clone();
    let tags = tags.iter().map(|t| (*t).to_owned()).collect();
    cache
        .respond(RequestHead::from(&parts), &POLICY, tags, None, async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Fresh::new(Response::new(Body::from(body)))
        })
        .await
}

async fn text(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

fn entry(body: &'static str, tags: &[&str]) -> Entry {
    Entry {
        status: StatusCode::OK,
        headers: HeaderMap::new().into(),
        body: Bytes::from_static(body.as_bytes()),
        etag: ETag::from_content(body.as_bytes()),
        last_modified: None,
        tags: tags.iter().map(|t| Arc::from(*t)).collect(),
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(60),
        stale_for: Duration::ZERO,
    }
}

/// The fence window of [`aged_stores`].
const SHORT_WINDOW: Duration = Duration::from_millis(300);

/// Two stores with a short fence window, on a prefix whose first
/// generation has aged past it: a put without a miss (taken to have begun a
/// window ago) is refused only by fences newer than the window, not by the
/// generation that began with the prefix.
async fn aged_stores(url: &str, prefix: &str) -> (RedisStore, RedisStore) {
    let build = || {
        RedisStore::builder(url)
            .prefix(prefix)
            .command_timeout(Duration::from_secs(2))
            .fence_window(SHORT_WINDOW)
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    assert!(a.get(b"warm").await.unwrap().is_none());
    tokio::time::sleep(SHORT_WINDOW + Duration::from_millis(100)).await;
    (a, b)
}

/// Stores `entry` as the engine does: after the miss that began its fill.
async fn fill(redis: &RedisStore, key: &[u8], entry: &Entry) {
    let _ = redis.get(key).await;
    redis.put(key, entry).await.unwrap();
}

/// Polls `condition` every millisecond until it holds; returns how long
/// that took, or `None` past `limit`.
async fn within(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// Listens for other instances' invalidations and waits until subscribed,
/// so that nothing announced from here on is missed.
async fn listen(cache: &Cache, store: &RedisStore) {
    let before = store.stats().subscriptions;
    cache.follow(store.announcements());
    within(Duration::from_secs(5), || {
        store.stats().subscriptions > before
    })
    .await
    .expect("subscribed");
    // The subscription's opening clear is applied just after the count.
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_entries_and_invalidations() {
    let url = redis_url();
    let prefix = prefix("two");
    let (redis_a, redis_b) = (store(&url, &prefix), store(&url, &prefix));
    let a = Cache::builder().store(redis_a.clone()).build();
    let b = Cache::builder().store(redis_b.clone()).build();
    listen(&a, &redis_a).await;
    listen(&b, &redis_b).await;
    let (runs_a, runs_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

    // A fills; B is served from Redis without running its handler.
    let filled = respond(&a, "/img/1", &["img:1"], &runs_a, "one").await;
    let etag = filled.headers()["etag"].clone();
    assert_eq!(text(filled).await, "one");
    let served = respond(&b, "/img/1", &["img:1"], &runs_b, "B's own").await;
    assert_eq!(served.headers()["etag"], etag);
    assert_eq!(text(served).await, "one");
    assert_eq!(runs_a.load(Ordering::SeqCst), 1);
    assert_eq!(runs_b.load(Ordering::SeqCst), 0, "B's handler did not run");
    assert_eq!(b.stats().hits, 1);

    // B invalidates the tag: A's memory copy goes within 100 ms, and so
    // does Redis's.
    let k = key("/img/1");
    assert!(a.peek(&k).is_some());
    let removed = b.invalidate_tag("img:1").await;
    assert_eq!(removed.removed, 1);
    let took = within(Duration::from_millis(100), || a.peek(&k).is_none())
        .await
        .expect("the invalidation reached A's memory layer within 100 ms");
    eprintln!("tag invalidation reached the other instance in {took:?}");
    assert!(redis_a.get(k.as_bytes()).await.unwrap().is_none());
    respond(&a, "/img/1", &["img:1"], &runs_a, "one").await;
    assert_eq!(runs_a.load(Ordering::SeqCst), 2, "A refilled");

    // A write that did not change the representation keeps the entry on
    // both instances and in Redis.
    respond(&b, "/img/1", &["img:1"], &runs_b, "B's own").await;
    assert!(b.peek(&k).is_some());
    let same = ETag::try_from(&etag).unwrap();
    let kept = b.invalidate_tags_if_changed(&["img:1"], &same).await;
    assert_eq!((kept.removed, kept.skipped), (0, 1), "{kept:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(a.peek(&k).is_some(), "kept on A");
    assert!(b.peek(&k).is_some(), "kept on B");
    assert!(
        redis_a.get(k.as_bytes()).await.unwrap().is_some(),
        "kept in Redis"
    );
    assert!(a.stats().invalidations_skipped >= 1, "{:?}", a.stats());
    respond(&a, "/img/1", &["img:1"], &runs_a, "one").await;
    respond(&b, "/img/1", &["img:1"], &runs_b, "B's own").await;
    assert_eq!(runs_a.load(Ordering::SeqCst), 2);
    assert_eq!(runs_b.load(Ordering::SeqCst), 0);

    // The same for one key: unchanged is kept, changed goes everywhere.
    let kept = b.invalidate_if_changed(&k, &same).await;
    assert_eq!(kept.skipped, 1);
    assert!(a.peek(&k).is_some());
    let removed = b.invalidate_if_changed(&k, &ETag::from_string("v2")).await;
    assert_eq!(removed.removed, 1);
    within(Duration::from_millis(100), || a.peek(&k).is_none())
        .await
        .expect("the key invalidation reached A within 100 ms");
    assert!(redis_b.get(k.as_bytes()).await.unwrap().is_none());

    // Clear on B clears A's memory and Redis.
    respond(&a, "/img/2", &[], &runs_a, "two").await;
    let k2 = key("/img/2");
    assert!(a.peek(&k2).is_some());
    b.clear().await;
    within(Duration::from_millis(100), || a.peek(&k2).is_none())
        .await
        .expect("the clear reached A within 100 ms");
    assert!(redis_a.get(k2.as_bytes()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_invalidates_redis_and_every_instance() {
    let url = redis_url();
    let prefix = prefix("apply");
    let redis = store(&url, &prefix);
    let cache = Cache::builder().store(redis.clone()).build();
    let mut events = Box::pin(redis.announcements());
    let opening = tokio::time::timeout(Duration::from_secs(5), events.next()).await;
    assert_eq!(
        opening.ok().flatten(),
        Some(Event::clear()),
        "opening clear"
    );
    let runs = Arc::new(AtomicUsize::new(0));
    respond(&cache, "/cam/2", &["camera:2"], &runs, "cam").await;

    // A worker with no cache of its own announces a write.
    let worker = store(&url, &prefix);
    let removed = worker.apply(&Event::tags(["camera:2"])).await.unwrap();
    assert_eq!(removed.removed, 1);
    let k = key("/cam/2");
    assert!(redis.get(k.as_bytes()).await.unwrap().is_none());
    let event = tokio::time::timeout(Duration::from_secs(1), events.next())
        .await
        .expect("announced")
        .unwrap();
    assert_eq!(event.tags, ["camera:2"]);

    // Applied by this very store: its own announcements include it.
    redis.apply(&Event::key(k.clone())).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(1), events.next())
        .await
        .expect("announced")
        .unwrap();
    assert_eq!(event.key, Some(k));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_compares_the_etag_stored_in_redis() {
    let url = redis_url();
    let redis = store(&url, &prefix("keep"));
    let e = entry("v1", &["t", "u"]);
    fill(&redis, b"k", &e).await;
    let r = redis.remove(b"k", Some(&e.etag)).await.unwrap();
    assert_eq!((r.removed, r.skipped), (0, 1));
    let r = redis.remove_tags(&["t", "u"], Some(&e.etag)).await.unwrap();
    assert_eq!(
        (r.removed, r.skipped),
        (0, 1),
        "counted once across two tags"
    );
    assert!(redis.get(b"k").await.unwrap().is_some());
    let other = ETag::from_string("v2");
    let r = redis.remove_tags(&["u"], Some(&other)).await.unwrap();
    assert_eq!((r.removed, r.skipped), (1, 0));
    assert!(redis.get(b"k").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_an_entry_unlinks_it_from_tags_it_lost() {
    let url = redis_url();
    let (redis, _) = aged_stores(&url, &prefix("retag")).await;
    fill(&redis, b"k", &entry("v1", &["old"])).await;
    // No miss: a refill after a hit whose ETag was stale.
    redis.put(b"k", &entry("v2", &["new"])).await.unwrap();
    assert_eq!(redis.remove_tags(&["old"], None).await.unwrap().removed, 0);
    assert!(redis.get(b"k").await.unwrap().is_some());
    assert_eq!(redis.remove_tags(&["new"], None).await.unwrap().removed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_and_tag_sets_expire_in_redis() {
    let url = redis_url();
    let prefix = prefix("expiry");
    let redis = store(&url, &prefix);
    let mut short = entry("short", &["t"]);
    short.ttl = Duration::from_millis(300);
    fill(&redis, b"k", &short).await;
    let got = redis.get(b"k").await.unwrap().expect("stored");
    assert!(
        got.ttl <= Duration::from_millis(300),
        "remaining TTL: {:?}",
        got.ttl
    );
    let mut raw = raw(&url).await;
    let g = generation(&mut raw, &prefix).await;
    let bookkeeping = [format!("{prefix}t:{g}:t"), format!("{prefix}s:t")];
    for key in &bookkeeping {
        let pttl: i64 = query(&mut raw, redis::cmd("PTTL").arg(key)).await;
        assert!(
            (1..=300).contains(&pttl),
            "{key} expires with its entry: {pttl}"
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(redis.get(b"k").await.unwrap().is_none());
    for key in &bookkeeping {
        let exists: i64 = query(&mut raw, redis::cmd("EXISTS").arg(key)).await;
        assert_eq!(exists, 0, "no bookkeeping left behind: {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_value_is_a_decode_error() {
    let url = redis_url();
    let prefix = prefix("garbage");
    let redis = store(&url, &prefix);
    let mut raw = raw(&url).await;
    assert!(
        redis.get(b"k").await.unwrap().is_none(),
        "starts the generation"
    );
    let g = generation(&mut raw, &prefix).await;
    // An entry hash as the put script writes one, with no tags to guard it.
    let _: () = query(
        &mut raw,
        redis::cmd("HSET")
            .arg(format!("{prefix}e:{g}:k"))
            .arg("v")
            .arg(&b"\x07not an entry"[..])
            .arg("s")
            .arg(&b"\x90"[..]),
    )
    .await;
    assert!(matches!(redis.get(b"k").await, Err(StoreError::Decode(_))));
    assert_eq!(redis.stats().decode_errors, 1);
    // A fill overwrites it.
    fill(&redis, b"k", &entry("fresh", &[])).await;
    assert_eq!(redis.get(b"k").await.unwrap().unwrap().body, "fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_of_10k_entries_goes_atomically_under_readers() {
    let url = redis_url();
    const N: usize = 10_000;
    let redis = store(&url, &prefix("big"));
    let puts = futures_util::stream::iter(0..N)
        .map(|i| {
            let redis = redis.clone();
            async move {
                let e = entry("member", &["big", if i % 2 == 0 { "even" } else { "odd" }]);
                let key = format!("k{i}");
                let _ = redis.get(key.as_bytes()).await;
                redis.put(key.as_bytes(), &e).await
            }
        })
        .buffer_unordered(64);
    let results: Vec<_> = puts.collect().await;
    assert!(results.iter().all(Result::is_ok));
    fill(&redis, b"untagged", &entry("other", &["other"])).await;

    // Every read: when it was sent, when it came back, what it found.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (redis, stop) = (redis.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = Vec::new();
                let mut i = r * 2_503;
                while !stop.load(Ordering::SeqCst) {
                    i = (i + 7_919) % N;
                    let sent = Instant::now();
                    let found = redis.get(format!("k{i}").as_bytes()).await.unwrap();
                    reads.push((sent, Instant::now(), found.is_some()));
                }
                reads
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let removed = redis.remove_tags(&["big"], None).await.unwrap();
    let done = Instant::now();
    eprintln!("10k-entry tag invalidated in {:?}", done - start);
    assert_eq!(removed.removed, N as u64);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let mut reads = Vec::new();
    for reader in readers {
        reads.extend(reader.await.unwrap());
    }
    let before = reads
        .iter()
        .filter(|(_, got, found)| *found && *got < start)
        .count();
    assert!(before > 0, "readers saw the entries before");
    // All or nothing: once any reader has seen one entry gone, no read sent
    // later finds one, and none sent after the call returned does.
    let first_gone = reads
        .iter()
        .filter(|(_, _, found)| !found)
        .map(|(_, got, _)| *got)
        .min()
        .expect("readers saw the invalidation");
    let stale = reads
        .iter()
        .filter(|(sent, _, found)| *found && (*sent > first_gone || *sent > done))
        .count();
    assert!(
        reads.iter().any(|(sent, _, _)| *sent > done),
        "readers ran after"
    );
    assert_eq!(stale, 0, "a reader saw an entry of the tag after it went");
    assert!(
        redis.get(b"untagged").await.unwrap().is_some(),
        "other tags untouched"
    );
    assert_eq!(
        redis
            .remove_tags(&["even", "odd"], None)
            .await
            .unwrap()
            .removed,
        0,
        "the entries' other tags hold nothing alive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_put_after_another_instance_invalidated_is_refused() {
    let url = redis_url();
    let prefix = prefix("late");
    let (a, b) = (store(&url, &prefix), store(&url, &prefix));
    let e = entry("late", &["t"]);

    // Tag, key and clear each overtake a fill that began with a miss.
    for invalidate in 0..3 {
        assert!(
            a.get(b"k").await.unwrap().is_none(),
            "the miss that begins a fill"
        );
        match invalidate {
            0 => drop(b.remove_tags(&["t"], None).await.unwrap()),
            1 => drop(b.remove(b"k", None).await.unwrap()),
            _ => b.clear().await.unwrap(),
        }
        a.put(b"k", &e).await.unwrap();
        assert!(
            a.get(b"k").await.unwrap().is_none(),
            "late put {invalidate} stored"
        );
    }
    assert_eq!(a.stats().fenced_puts, 3);

    // A fill that began after the invalidation is stored.
    assert!(a.get(b"k").await.unwrap().is_none());
    a.put(b"k", &e).await.unwrap();
    assert!(
        b.get(b"k").await.unwrap().is_some(),
        "a fresh fill is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_without_a_miss_is_refused_while_a_fence_is_live() {
    let url = redis_url();
    let prefix = prefix("no-miss");
    let (a, b) = aged_stores(&url, &prefix).await;
    // No miss began these fills (a hit with a stale ETag, say): they are
    // taken to have begun a fence window ago, so a fence on any of their
    // names newer than that refuses them.
    b.remove_tags(&["t"], None).await.unwrap();
    a.put(b"k", &entry("v", &["t"])).await.unwrap();
    assert!(b.get(b"k").await.unwrap().is_none());
    a.put(b"k2", &entry("untouched", &["u"])).await.unwrap();
    assert!(
        b.get(b"k2").await.unwrap().is_some(),
        "unfenced names are stored"
    );
    b.clear().await.unwrap();
    a.put(b"k3", &entry("after a clear", &[])).await.unwrap();
    assert!(
        b.get(b"k3").await.unwrap().is_none(),
        "a clear fences every name"
    );
    assert_eq!(a.stats().fenced_puts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_fill_through_the_engine_is_not_stored() {
    let url = redis_url();
    let prefix = prefix("late-engine");
    // A hears nothing from B (its pub/sub is as late as can be): only Redis
    // can refuse its fill.
    let a = Cache::builder().store(store(&url, &prefix)).build();
    let b = Cache::builder().store(store(&url, &prefix)).build();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let slow = {
        let a = a.clone();
        tokio::spawn(async move {
            let request = Request::get("/slow")
                .header("host", "test")
                .body(())
                .unwrap();
            let (parts, ()) = request.into_parts();
            let tags = vec!["item:1".to_owned()];
            let response: Response<Body> = a
                .respond(RequestHead::from(&parts), &POLICY, tags, None, async move {
                    let _ = released.await;
                    Fresh::new(Response::new(Body::from("stale")))
                })
                .await;
            text(response).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.invalidate_tag("item:1").await;
    release.send(()).unwrap();
    assert_eq!(
        slow.await.unwrap(),
        "stale",
        "A's own client gets its answer"
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let response = respond(&b, "/slow", &["item:1"], &runs, "fresh").await;
    assert_eq!(text(response).await, "fresh");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "B did not get the late fill"
    );
}

/// One request for `/doc` (tag `doc`) whose handler answers the
/// "database's" current version; the version it was served.
async fn read_doc(cache: &Cache, version: &Arc<AtomicU64>) -> (StatusCode, u64) {
    let request = Request::get("/doc")
        .header("host", "test")
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    let version = version.clone();
    let response: Response<Body> = cache
        .respond(
            RequestHead::from(&parts),
            &POLICY,
            vec!["doc".to_owned()],
            None,
            async move {
                let v = version.load(Ordering::SeqCst);
                Fresh::new(Response::new(Body::from(v.to_string())))
            },
        )
        .await;
    let status = response.status();
    let body = text(response).await;
    (
        status,
        std::str::from_utf8(&body).unwrap().parse().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_while_readers_race_the_invalidation() {
    const ROUNDS: u64 = 300;
    let url = redis_url();
    let prefix = prefix("ryw");
    let cache = Cache::builder().store(store(&url, &prefix)).build();
    // To tell, on a failure, where the stale copy was.
    let probe = store(&url, &prefix);
    let k = key("/doc");
    let version_of = |body: Option<&Bytes>| body.map(|b| String::from_utf8_lossy(b).into_owned());
    let version = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Readers keep one key hot, so that some read falls between the
    // invalidation of memory and that of Redis, and copies the old entry
    // back into memory unless the engine prevents it.
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (cache, version, stop) = (cache.clone(), version.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut reads, mut not_ok) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let (status, _) = read_doc(&cache, &version).await;
                    reads += 1;
                    not_ok += usize::from(status != StatusCode::OK);
                    tokio::task::yield_now().await;
                }
                (reads, not_ok)
            })
        })
        .collect();
    let mut stale = Vec::new();
    for _ in 0..ROUNDS {
        let written = version.fetch_add(1, Ordering::SeqCst) + 1;
        cache.invalidate_tag("doc").await;
        let (status, seen) = read_doc(&cache, &version).await;
        assert_eq!(status, StatusCode::OK);
        if seen < written {
            let memory = version_of(cache.peek(&k).as_ref().map(|e| &e.body));
            let redis = version_of(
                probe
                    .get(k.as_bytes())
                    .await
                    .unwrap()
                    .as_ref()
                    .map(|e| &e.body),
            );
            stale.push((written, seen, memory, redis));
        }
        // Let the readers refill Redis and memory before the next write.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (mut reads, mut not_ok) = (0, 0);
    for reader in readers {
        let (r, n) = reader.await.unwrap();
        reads += r;
        not_ok += n;
    }
    eprintln!(
        "{ROUNDS} writes, {reads} concurrent reads, {} stale reads after the write; {:?}",
        stale.len(),
        cache.stats()
    );
    assert!(reads > ROUNDS as usize, "the readers ran");
    assert_eq!(not_ok, 0, "every read answered 200");
    let held = version_of(cache.peek(&k).as_ref().map(|e| &e.body));
    assert!(
        stale.is_empty(),
        "in memory at the end: {held:?}; \
         {} of {ROUNDS} reads right after the writer's invalidation returned served an \
         older version (written, served, then in memory, then in Redis): {:?}",
        stale.len(),
        &stale[..stale.len().min(10)]
    );
}

// ---------------------------------------------------------------------------
// Lost bookkeeping: under an `allkeys-*` maxmemory policy Redis may evict
// any key, and a Redis without persistence loses all of them on a restart.

/// Deletes the store's keys matching `pattern` (under its prefix), as an
/// eviction would; returns how many there were.
async fn evict(raw: &mut redis::aio::MultiplexedConnection, prefix: &str, pattern: &str) -> usize {
    let keys: Vec<Vec<u8>> = query(raw, redis::cmd("KEYS").arg(format!("{prefix}{pattern}"))).await;
    if !keys.is_empty() {
        let _: i64 = query(raw, redis::cmd("DEL").arg(&keys)).await;
    }
    keys.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_generation_never_revives_entries_from_before_a_clear() {
    let url = redis_url();
    let prefix = prefix("lost-gen");
    let (a, b) = (store(&url, &prefix), store(&url, &prefix));
    let mut raw = raw(&url).await;
    fill(&a, b"k", &entry("from before the clear", &["t"])).await;
    assert!(b.get(b"k").await.unwrap().is_some());
    b.clear().await.unwrap();
    assert!(b.get(b"k").await.unwrap().is_none(), "cleared");

    assert_eq!(
        evict(&mut raw, &prefix, "gen").await,
        1,
        "the generation evicted"
    );
    assert!(
        b.get(b"k").await.unwrap().is_none(),
        "an entry from before the clear is readable again"
    );
    // The loss costs misses, nothing more: the next fill is stored.
    fill(&a, b"k", &entry("after", &["t"])).await;
    assert_eq!(b.get(b"k").await.unwrap().expect("stored").body, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_tag_bookkeeping_never_revives_an_invalidated_entry() {
    let url = redis_url();
    let mut raw = raw(&url).await;
    // The tag sets, the tags' stamps, or both.
    for lost in ["t:*", "s:*", "[ts]:*"] {
        let prefix = prefix("lost-tags");
        let (a, b) = (store(&url, &prefix), store(&url, &prefix));
        fill(&a, b"k", &entry("old", &["t", "u"])).await;
        assert!(b.get(b"k").await.unwrap().is_some());
        assert!(evict(&mut raw, &prefix, lost).await > 0, "{lost}: evicted");
        b.remove_tags(&["t"], None).await.unwrap();
        assert!(
            b.get(b"k").await.unwrap().is_none(),
            "{lost} lost: an entry of an invalidated tag is readable"
        );
        assert!(a.get(b"k").await.unwrap().is_none());
        a.put(b"k", &entry("new", &["t", "u"])).await.unwrap();
        assert_eq!(
            b.get(b"k")
                .await
                .unwrap()
                .expect("{lost}: a fresh fill is stored")
                .body,
            "new"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_fences_still_refuse_late_fills() {
    let url = redis_url();
    let mut raw = raw(&url).await;
    // Fences (whatever their names), the epoch, the generation, all of it.
    for lost in ["f*", "epoch", "gen", "*"] {
        for invalidate in 0..3 {
            let prefix = prefix("lost-fences");
            let (a, b) = (store(&url, &prefix), store(&url, &prefix));
            assert!(
                a.get(b"k").await.unwrap().is_none(),
                "the miss that begins a fill"
            );
            match invalidate {
                0 => drop(b.remove_tags(&["t"], None).await.unwrap()),
                1 => drop(b.remove(b"k", None).await.unwrap()),
                _ => b.clear().await.unwrap(),
            }
            evict(&mut raw, &prefix, lost).await;
            a.put(b"k", &entry("late", &["t"])).await.unwrap();
            assert!(
                b.get(b"k").await.unwrap().is_none(),
                "{lost:?} lost after invalidation {invalidate}: the late fill was stored"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Outage

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::Server;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the load saw while a phase lasted.
#[derive(Debug, Default)]
struct Phase {
    requests: usize,
    not_ok: usize,
    max_latency: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_load_fails_open_and_recovers() {
    redis_url();
    const TIMEOUT: Duration = Duration::from_millis(80);
    // Scheduling on two busy cores, on top of the command timeout.
    const SLACK: Duration = Duration::from_millis(70);
    let port = free_port();
    let mut server = Server::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = prefix("outage");
    let build = || {
        RedisStore::builder(url.as_str())
            .prefix(&prefix)
            .command_timeout(TIMEOUT)
            .connect_timeout(Duration::from_millis(100))
            .circuit_breaker(3, Duration::from_millis(200))
            // Above the 32 workers' one call each: no rejections while healthy.
            .max_in_flight(64)
            .build()
            .unwrap()
    };
    let (redis_a, redis_b, redis_c) = (build(), build(), build());
    let a = Cache::builder().store(redis_a.clone()).build();
    let b = Cache::builder().store(redis_b.clone()).build();
    listen(&a, &redis_a).await;
    let runs = Arc::new(AtomicUsize::new(0));
    // An idle instance whose memory holds an entry through the outage: the
    // resubscription must clear it, since announcements were lost.
    let c = Cache::builder().store(redis_c.clone()).build();
    listen(&c, &redis_c).await;
    respond(&c, "/marker", &[], &runs, "marker").await;
    let marker = key("/marker");
    assert!(c.peek(&marker).is_some());

    // Phase: 0 healthy, 1 killed, 2 restarted, 3 frozen (SIGSTOP), 4 thawed.
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..32)
        .map(|w| {
            let (a, runs, phase, stop) = (a.clone(), runs.clone(), phase.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen: Vec<Phase> = (0..5).map(|_| Phase::default()).collect();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    // Every request misses memory, so every one calls Redis
                    // (a get, then a put).
                    let path = format!("/load/{w}/{n}");
                    let p = phase.load(Ordering::SeqCst);
                    let start = Instant::now();
                    let response = respond(&a, &path, &[], &runs, "ok").await;
                    let latency = start.elapsed();
                    let seen = &mut seen[p];
                    seen.requests += 1;
                    seen.not_ok += usize::from(response.status() != StatusCode::OK);
                    seen.max_latency = seen.max_latency.max(latency);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let healthy_errors = a.stats().store_errors;
    phase.store(1, Ordering::SeqCst);
    server.kill();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let killed = a.stats();
    server = Server::start(port);
    phase.store(2, Ordering::SeqCst);
    let cleared = within(Duration::from_secs(3), || c.peek(&marker).is_none()).await;
    assert!(
        cleared.is_some(),
        "resubscribing cleared the idle instance's memory"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    phase.store(3, Ordering::SeqCst);
    assert!(server.signal("-STOP"));
    // A hung Redis: past the in-flight bound, calls fail at once.
    let narrow = RedisStore::builder(url.as_str())
        .prefix(&prefix)
        .command_timeout(TIMEOUT)
        .max_in_flight(2)
        .build()
        .unwrap();
    let started = Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let narrow = narrow.clone();
            tokio::spawn(async move {
                let result = narrow.get(format!("n{i}").as_bytes()).await;
                (result.map(drop), started.elapsed())
            })
        })
        .collect();
    let mut refused_at_once = 0;
    for call in calls {
        let (result, elapsed) = call.await.unwrap();
        match result {
            Err(StoreError::Unavailable) if elapsed < TIMEOUT / 2 => refused_at_once += 1,
            Err(StoreError::Timeout(_) | StoreError::Backend(_)) => {}
            other => panic!("unexpected {other:?} after {elapsed:?}"),
        }
    }
    assert_eq!(refused_at_once, 8, "{:?}", narrow.stats());
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(server.signal("-CONT"));
    phase.store(4, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop.store(true, Ordering::SeqCst);
    let mut phases: Vec<Phase> = (0..5).map(|_| Phase::default()).collect();
    for worker in workers {
        for (total, seen) in phases.iter_mut().zip(worker.await.unwrap()) {
            total.requests += seen.requests;
            total.not_ok += seen.not_ok;
            total.max_latency = total.max_latency.max(seen.max_latency);
        }
    }
    let names = ["healthy", "killed", "restarted", "frozen", "thawed"];
    for (name, seen) in names.iter().zip(&phases) {
        eprintln!("{name}: {seen:?}");
    }
    eprintln!("cache: {:?}", a.stats());
    eprintln!("store: {:?}", redis_a.stats());

    for (name, seen) in names.iter().zip(&phases) {
        assert!(seen.requests > 0, "{name}: load ran");
        assert_eq!(seen.not_ok, 0, "{name}: every request answered 200");
    }
    // Killed: the connection is refused at once, so requests barely slow.
    assert!(
        phases[1].max_latency < TIMEOUT + SLACK,
        "killed: {:?}",
        phases[1].max_latency
    );
    // Frozen: a miss makes two calls (get, then put), each cut at the
    // command timeout, until the circuit opens.
    for (name, seen) in names.iter().zip(&phases) {
        assert!(
            seen.max_latency < 2 * TIMEOUT + SLACK,
            "{name}: {:?}",
            seen.max_latency
        );
    }
    assert_eq!(healthy_errors, 0, "no store errors while Redis was healthy");
    assert!(killed.store_errors > 0, "errors counted: {killed:?}");
    let store = redis_a.stats();
    assert!(store.circuit_opened >= 2, "{store:?}");
    assert!(store.short_circuited > 0, "{store:?}");
    assert!(
        store.subscriptions >= 2,
        "resubscribed after the restart: {store:?}"
    );

    // Redis is back, same caches: a fill on A is a hit on B again.
    let before = b.stats().hits;
    let mut hit = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    while !hit && Instant::now() < deadline {
        n += 1;
        let path = format!("/after/{n}");
        respond(&a, &path, &[], &runs, "ok").await;
        let runs_b = Arc::new(AtomicUsize::new(0));
        respond(&b, &path, &[], &runs_b, "B's own").await;
        hit = runs_b.load(Ordering::SeqCst) == 0;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        hit,
        "hits through Redis resumed without restarting the caches"
    );
    assert!(b.stats().hits > before);
}

/// More invalidations than the outbox keeps, made while Redis is frozen:
/// they collapse into one clear, which reaches Redis once it is back, and
/// until then this instance reads nothing they name back from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_past_its_bound_drains_as_a_clear_once_redis_is_back() {
    redis_url();
    const DOCS: usize = 20;
    /// The most invalidations the outbox keeps before they collapse into
    /// one clear.
    const OUTBOX_BOUND: usize = 1_024;
    // One past the bound: the last names a single document, so only the
    // clear it collapses into can reach the others.
    const INVALIDATIONS: usize = OUTBOX_BOUND + 1;
    let port = free_port();
    let server = Server::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = prefix("drain");
    let build = || {
        RedisStore::builder(url.as_str())
            .prefix(&prefix)
            .command_timeout(Duration::from_millis(80))
            .connect_timeout(Duration::from_millis(100))
            .circuit_breaker(3, Duration::from_millis(200))
            .build()
            .unwrap()
    };
    let (redis_a, redis_b) = (build(), build());
    let a = Cache::builder().store(redis_a.clone()).build();
    let runs = Arc::new(AtomicUsize::new(0));
    for i in 0..DOCS {
        respond(
            &a,
            &format!("/doc/{i}"),
            &[&format!("doc:{i}")],
            &runs,
            "v1",
        )
        .await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), DOCS);
    // Stored in Redis: another instance hits them.
    let b = Cache::builder().store(redis_b.clone()).build();
    let runs_b = Arc::new(AtomicUsize::new(0));
    respond(&b, "/doc/0", &["doc:0"], &runs_b, "B's own").await;
    assert_eq!(runs_b.load(Ordering::SeqCst), 0, "stored in Redis");

    assert!(server.signal("-STOP"));
    for n in 0..INVALIDATIONS {
        let removed = a.invalidate_tag(&format!("doc:{}", n % DOCS)).await;
        assert!(removed.remote_errors > 0, "Redis is frozen");
    }
    assert_eq!(
        a.stats().invalidations_pending,
        1,
        "collapsed into one clear"
    );
    // Meanwhile this instance serves its own writes: every read runs the
    // handler (Redis is frozen, and nothing old is read back from it).
    let before = runs.load(Ordering::SeqCst);
    respond(&a, "/doc/1", &["doc:1"], &runs, "v2").await;
    assert_eq!(runs.load(Ordering::SeqCst), before + 1);

    assert!(server.signal("-CONT"));
    let drained = within(Duration::from_secs(10), || {
        a.stats().invalidations_pending == 0
    })
    .await;
    assert!(drained.is_some(), "the outbox drained: {:?}", a.stats());
    // The clear reached Redis: a fresh instance finds none of the old
    // entries there.
    let c = Cache::builder().store(build()).build();
    let runs_c = Arc::new(AtomicUsize::new(0));
    for i in 0..DOCS {
        let response = respond(
            &c,
            &format!("/doc/{i}"),
            &[&format!("doc:{i}")],
            &runs_c,
            "v3",
        )
        .await;
        assert_eq!(text(response).await, "v3", "/doc/{i} was cleared in Redis");
    }
    assert_eq!(runs_c.load(Ordering::SeqCst), DOCS);
}

// ---------------------------------------------------------------------------
// Subscription loss

/// The next event within `limit`, `None` past it.
async fn next_event(
    events: &mut (impl futures_util::Stream<Item = Event> + Unpin),
    limit: Duration,
) -> Option<Event> {
    tokio::time::timeout(limit, events.next())
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_clears_at_once_and_until_it_returns() {
    redis_url();
    let port = free_port();
    let mut server = Server::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = prefix("killed");
    let redis = RedisStore::builder(url.as_str())
        .prefix(&prefix)
        .connect_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut events = Box::pin(redis.announcements());
    // The opening clear. A first attempt that failed (a server still
    // starting on a loaded machine, past the 100 ms connect timeout) also
    // clears, and is retried.
    let opened = Instant::now();
    while redis.stats().subscriptions < 1 {
        assert!(opened.elapsed() < Duration::from_secs(5), "subscribed");
        assert_eq!(
            next_event(&mut events, Duration::from_secs(5)).await,
            Some(Event::clear()),
            "opening clear"
        );
    }

    server.kill();
    let killed = Instant::now();
    let event = next_event(&mut events, Duration::from_secs(2)).await;
    let took = killed.elapsed();
    assert_eq!(event, Some(Event::clear()), "a clear while Redis is down");
    eprintln!("a killed Redis noticed in {took:?}");
    assert!(took < Duration::from_millis(500), "noticed in {took:?}");
    // Every failed attempt to resubscribe clears again: what the memory
    // layer fills meanwhile may be invalidated elsewhere, unheard.
    let until = tokio::time::Instant::now() + Duration::from_millis(1_500);
    let mut clears = 0;
    while let Ok(Some(event)) = tokio::time::timeout_at(until, events.next()).await {
        assert_eq!(event, Event::clear());
        clears += 1;
    }
    assert!(clears >= 2, "{clears} clears in 1.5 s without Redis");
    assert_eq!(redis.stats().subscriptions, 1, "not subscribed meanwhile");

    // Back: resubscribed (with a clear), and announcements are heard.
    server = Server::start(port);
    let back = Instant::now();
    while redis.stats().subscriptions < 2 {
        assert!(back.elapsed() < Duration::from_secs(3), "resubscribed");
        let _ = next_event(&mut events, Duration::from_millis(100)).await;
    }
    let other = store(&url, &prefix);
    other.apply(&Event::tags(["heard"])).await.unwrap();
    let mut heard = None;
    while heard.is_none() && back.elapsed() < Duration::from_secs(5) {
        heard = next_event(&mut events, Duration::from_secs(1))
            .await
            .filter(|event| !event.clear);
    }
    assert_eq!(heard.expect("heard after the restart").tags, ["heard"]);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_is_noticed_by_the_heartbeat() {
    redis_url();
    const INTERVAL: Duration = Duration::from_millis(200);
    const TIMEOUT: Duration = Duration::from_millis(300);
    // Scheduling on two busy cores.
    const SLACK: Duration = Duration::from_millis(500);
    let port = free_port();
    let server = Server::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let redis = RedisStore::builder(url.as_str())
        .prefix(prefix("frozen"))
        .connect_timeout(Duration::from_millis(100))
        .heartbeat(INTERVAL, TIMEOUT)
        .build()
        .unwrap();
    let mut events = Box::pin(redis.announcements());
    assert_eq!(
        next_event(&mut events, Duration::from_secs(5)).await,
        Some(Event::clear()),
        "opening clear"
    );
    // A Redis that answers its heartbeats is left alone.
    assert_eq!(next_event(&mut events, 4 * INTERVAL).await, None);

    // SIGSTOP: the connection stays open, and silent.
    assert!(server.signal("-STOP"));
    let frozen = Instant::now();
    let event = next_event(&mut events, Duration::from_secs(3)).await;
    let took = frozen.elapsed();
    assert_eq!(event, Some(Event::clear()), "a clear while Redis is frozen");
    eprintln!("a frozen Redis noticed in {took:?}");
    assert!(took < INTERVAL + TIMEOUT + SLACK, "noticed in {took:?}");
    assert_eq!(redis.stats().subscriptions_lost, 1);

    assert!(server.signal("-CONT"));
    let thawed = Instant::now();
    while redis.stats().subscriptions < 2 {
        assert!(thawed.elapsed() < Duration::from_secs(3), "resubscribed");
        let _ = next_event(&mut events, Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_window_is_part_of_the_entrys_life_in_redis() {
    let url = redis_url();
    let prefix = prefix("stale-life");
    let redis = store(&url, &prefix);
    let mut stale = entry("stale", &["t"]);
    stale.ttl = Duration::from_millis(200);
    stale.stale_for = Duration::from_secs(60);
    fill(&redis, b"k", &stale).await;
    let mut raw = raw(&url).await;
    let g = generation(&mut raw, &prefix).await;
    let pttl: i64 = query(&mut raw, redis::cmd("PTTL").arg(format!("{prefix}e:{g}:k"))).await;
    assert!(pttl > 60_000, "kept for ttl and stale window: {pttl} ms");
    let fresh = redis.get(b"k").await.unwrap().expect("stored");
    assert!(fresh.stale_age(SystemTime::now()).is_none());
    assert!(fresh.ttl <= Duration::from_millis(200));
    assert_eq!(fresh.stale_for, Duration::from_secs(60));

    // Past the ttl it is read back stale, as stale as it is there.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let read = redis.get(b"k").await.unwrap().expect("kept while stale");
    assert!(read.ttl.is_zero());
    let age = read.stale_age(SystemTime::now()).expect("stale");
    assert!(
        (Duration::from_millis(150)..Duration::from_secs(30)).contains(&age),
        "stale for {age:?}"
    );
}

static STALE: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("redis::stale")
        .ttl(Duration::from_secs(60))
        .stale_while_revalidate(Duration::from_secs(30))
        .build()
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_purge_marks_the_other_instances_copies_stale() {
    let url = redis_url();
    let prefix = prefix("soft");
    let (redis_a, redis_b) = (store(&url, &prefix), store(&url, &prefix));
    let a = Cache::builder().store(redis_a.clone()).build();
    let b = Cache::builder().store(redis_b.clone()).build();
    listen(&a, &redis_a).await;
    listen(&b, &redis_b).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let get = |cache: &Cache, body: &'static str| {
        let (cache, runs) = (cache.clone(), runs.clone());
        async move {
            let request = Request::get("/count")
                .header("host", "test")
                .body(())
                .unwrap();
            let (parts, ()) = request.into_parts();
            let response = cache
                .respond(
                    RequestHead::from(&parts),
                    &STALE,
                    vec!["count".to_owned()],
                    None,
                    async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Fresh::new(Response::new(Body::from(body)))
                    },
                )
                .await;
            text(response).await
        }
    };
    assert_eq!(get(&a, "one").await, "one");
    assert_eq!(get(&b, "B's own").await, "one", "from Redis");
    let (parts, ()) = Request::get("/count")
        .header("host", "test")
        .body(())
        .unwrap()
        .into_parts();
    let k = Key::for_request(&STALE, &RequestHead::from(&parts));
    assert!(a.peek(&k).is_some() && b.peek(&k).is_some());

    // B purges softly: Redis lets the entry go, and A's copy turns stale
    // (not gone) within 100 ms.
    let marked = b.apply(&Event::tags(["count"]).soft()).await;
    assert_eq!(marked.removed, 1);
    assert!(redis_a.get(k.as_bytes()).await.unwrap().is_none());
    within(Duration::from_millis(100), || a.peek(&k).is_none())
        .await
        .expect("the soft purge reached A within 100 ms");
    // A answers from its stale copy at once and refreshes behind it.
    assert_eq!(get(&a, "two").await, "one");
    within(Duration::from_secs(2), || {
        a.peek(&k).is_some_and(|entry| entry.body == "two")
    })
    .await
    .expect("A's refresh landed");
    let stats = a.stats();
    assert_eq!((stats.stale_served, stats.refreshes), (1, 1), "{stats:?}");
}
