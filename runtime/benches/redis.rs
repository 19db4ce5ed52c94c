//! What a hit costs with the Redis store, beside the memory layer alone.
//!
//! - `redis/store_get`: `RedisStore::get` as a [`Store`], one round trip
//!   (a Lua script: `GET` the epoch and generation, `HGET` the entry,
//!   `PTTL`) and the decoding of a 1 KiB entry.
//! - `redis/client_get_baseline`: a plain `GET` of a 1 KiB string through
//!   the same client (redis-rs `ConnectionManager`): the round trip the
//!   store cannot avoid.
//! - `redis/cache_hit_from_redis`: a whole `Cache::respond` on a cache
//!   whose memory layer is too small to hold the entry, so every request
//!   is served from Redis (and offered to memory, which refuses it).
//! - `redis/cache_hit_memory_over_redis`: a whole `Cache::respond` answered
//!   by the memory layer in front of Redis: what most hits cost.
//! - `redis/memory_store_get`: `MemoryStore::get` alone, the floor.
//!
//! Needs `CACHED_ETAG_REDIS_URL`; compare with `redis-benchmark -t get -n
//! 100000 -q` against the same server (one client, one request at a time
//! with `-c 1` for a like-for-like round trip).

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use cached_etag_runtime::{
    Cache, ETag, Entry, Fresh, Key, MemoryStore, Policy, RedisStore, RequestHead, Store,
};
use criterion::Criterion;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};

static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| Policy::builder("bench::h").build());

fn entry() -> Entry {
    let body = Bytes::from(vec![b'x'; 1024]);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    // The policy's own Cache-Control, as the engine stores it: a remote
    // entry with another `private` one is not storable, and is refused.
    headers.insert("cache-control", POLICY.cache_control().clone());
    Entry {
        status: StatusCode::OK,
        headers: headers.into(),
        etag: ETag::from_content(&body),
        body,
        last_modified: None,
        tags: vec![Arc::from("images"), Arc::from("image:42")],
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(300),
        stale_for: Duration::ZERO,
    }
}

fn main() {
    let Ok(url) = std::env::var("CACHED_ETAG_REDIS_URL") else {
        eprintln!("SKIPPED: the redis bench needs Redis; set CACHED_ETAG_REDIS_URL");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let prefix = format!("cached-etag-bench:{}:", std::process::id());
    let redis = runtime.block_on(async {
        RedisStore::builder(url.as_str())
            .prefix(&prefix)
            .command_timeout(Duration::from_secs(1))
            .build()
            .expect("valid url")
    });
    let key = Key::for_get("bench::h", "bench", "/image/42");
    // Stored as the engine stores a fill: after the miss that began it (a
    // put with no miss is taken to have begun a fence window ago, and on a
    // fresh prefix that is before the first generation: refused).
    runtime
        .block_on(async {
            let _ = redis.get(key.as_bytes()).await;
            redis.put(key.as_bytes(), &entry()).await
        })
        .expect("Redis reachable");
    let baseline_key = format!("{prefix}baseline");
    let mut client = runtime.block_on(async {
        let client = redis::Client::open(url.as_str()).expect("valid url");
        let mut connection = redis::aio::ConnectionManager::new(client)
            .await
            .expect("Redis reachable");
        let () = redis::cmd("SET")
            .arg(&baseline_key)
            .arg(vec![b'x'; 1024])
            .query_async(&mut connection)
            .await
            .expect("SET");
        connection
    });
    let cache = Cache::builder().store(redis.clone()).build();
    // One byte of memory: no entry fits, so every hit comes from Redis.
    let from_redis = Cache::builder().store(redis.clone()).max_bytes(1).build();
    let request = Request::get("/image/42")
        .header("host", "bench")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let respond = async |cached: &Cache| {
        let response: Response<Body> = cached
            .respond(
                RequestHead::from(&request),
                &POLICY,
                Vec::new(),
                None,
                async { Fresh::new(Response::new(Body::from("the handler ran"))) },
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response
    };
    let memory = MemoryStore::default();
    memory.insert(key.as_bytes(), entry());

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let mut group = c.benchmark_group("redis");
    group.bench_function("store_get", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let hit = redis.get(key.as_bytes()).await.expect("get");
                    assert!(hit.is_some());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("client_get_baseline", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let value: Vec<u8> = redis::cmd("GET")
                        .arg(&baseline_key)
                        .query_async(&mut client)
                        .await
                        .expect("GET");
                    std::hint::black_box(value);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("cache_hit_from_redis", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(respond(&from_redis).await);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("cache_hit_memory_over_redis", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                respond(&cache).await;
                let start = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(respond(&cache).await);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("memory_store_get", |b| {
        b.iter(|| std::hint::black_box(memory.get(std::hint::black_box(key.as_bytes()))))
    });
    group.finish();
    c.final_summary();
    for (name, cache) in [("memory over redis", &cache), ("from redis", &from_redis)] {
        let stats = cache.stats();
        assert_eq!(
            stats.stores, 0,
            "{name}: every request was a hit: {stats:?}"
        );
        eprintln!(
            "{name}: {} hits, {} store errors",
            stats.hits, stats.store_errors
        );
    }
    let held = from_redis.stats().entries;
    assert_eq!(held, 0, "from redis: memory held nothing");
    runtime.block_on(async {
        let _ = redis.clear().await;
        let _: Result<(), _> = redis::cmd("DEL")
            .arg(&baseline_key)
            .query_async(&mut client)
            .await;
    });
}
