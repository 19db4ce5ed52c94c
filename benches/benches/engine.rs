//! The engine beside the raw cache crates it could be built on, in one run.
//!
//! `cargo bench -p cached-etag-benches --bench engine`
//!
//! - get-hit and insert at 10k and 100k resident entries: `MemoryStore`
//!   (quick_cache + expiry + tag index) vs raw quick_cache, moka, and a
//!   `parking_lot::Mutex<HashMap>`;
//! - the same hit through `Arc<dyn Store>` (a boxed future): the price of
//!   dynamic dispatch, which is why the engine calls its memory layer directly;
//! - a whole `Cache::respond` hit, and `invalidate_tag` over 1k tags.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use cached_etag_runtime::{Cache, ETag, Entry, Fresh, MemoryStore, Policy, RequestHead, Store};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::{HeaderMap, StatusCode};

fn entry(i: usize, tags: Vec<Arc<str>>) -> Entry {
    let body = Bytes::from(format!("{{\"id\":{i},\"name\":\"entry\"}}"));
    Entry {
        status: StatusCode::OK,
        headers: HeaderMap::new().into(),
        etag: ETag::from_content(&body),
        body,
        last_modified: None,
        tags,
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(3600),
        stale_for: Duration::ZERO,
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("handler::get\0GET\0localhost\0/api/items/{i}").into_bytes()
}

/// A multi-threaded runtime's context, as a server's: the memory store then
/// reads the coarse clock (see `store/memory/clock.rs`).
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap()
}

fn get_hit(c: &mut Criterion) {
    let rt = server_runtime();
    let _guard = rt.enter();
    let mut group = c.benchmark_group("get_hit");
    for n in [10_000usize, 100_000] {
        let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
        let memory = MemoryStore::new(n * 2, 1 << 34);
        let quick = quick_cache::sync::Cache::<Arc<[u8]>, Arc<Entry>>::new(n * 2);
        let moka = moka::sync::Cache::<Arc<[u8]>, Arc<Entry>>::new(n as u64 * 2);
        let map = parking_lot::Mutex::new(HashMap::<Arc<[u8]>, Arc<Entry>>::new());
        for (i, k) in keys.iter().enumerate() {
            let e = entry(i, vec![Arc::from(format!("item:{i}"))]);
            memory.insert(k, e.clone());
            let e = Arc::new(e);
            quick.insert(Arc::from(&k[..]), e.clone());
            moka.insert(Arc::from(&k[..]), e.clone());
            map.lock().insert(Arc::from(&k[..]), e);
        }
        let dynamic: Arc<dyn Store> = Arc::new(memory);
        let mut i = 0usize;
        let mut next = || {
            i = (i + 7919) % n;
            &keys[i]
        };
        let memory = MemoryStore::new(n * 2, 1 << 34);
        for (i, k) in keys.iter().enumerate() {
            memory.insert(k, entry(i, vec![Arc::from(format!("item:{i}"))]));
        }
        group.bench_with_input(BenchmarkId::new("memory_store", n), &n, |b, _| {
            b.iter(|| black_box(memory.get(next())))
        });
        group.bench_with_input(BenchmarkId::new("quick_cache", n), &n, |b, _| {
            b.iter(|| black_box(quick.get(&next()[..])))
        });
        group.bench_with_input(BenchmarkId::new("moka", n), &n, |b, _| {
            b.iter(|| black_box(moka.get(&next()[..])))
        });
        group.bench_with_input(BenchmarkId::new("mutex_hashmap", n), &n, |b, _| {
            b.iter(|| black_box(map.lock().get(&next()[..]).cloned()))
        });
        group.bench_with_input(BenchmarkId::new("dyn_store", n), &n, |b, _| {
            b.iter(|| black_box(dynamic.get(next()).now_or_never()))
        });
    }
    group.finish();
}

fn insert(c: &mut Criterion) {
    let rt = server_runtime();
    let _guard = rt.enter();
    let mut group = c.benchmark_group("insert");
    for n in [10_000usize, 100_000] {
        let keys: Vec<Vec<u8>> = (0..n * 2).map(key).collect();
        let entries: Vec<Arc<Entry>> = (0..n * 2)
            .map(|i| Arc::new(entry(i, vec![Arc::from("items")])))
            .collect();
        let memory = MemoryStore::new(n, 1 << 34);
        let quick = quick_cache::sync::Cache::<Arc<[u8]>, Arc<Entry>>::new(n);
        let moka = moka::sync::Cache::<Arc<[u8]>, Arc<Entry>>::new(n as u64);
        let map = parking_lot::Mutex::new(HashMap::<Arc<[u8]>, Arc<Entry>>::new());
        let mut i = 0usize;
        let mut next = || {
            i = (i + 1) % (n * 2);
            i
        };
        group.bench_with_input(BenchmarkId::new("memory_store", n), &n, |b, _| {
            b.iter(|| {
                let i = next();
                memory.insert(&keys[i], Entry::clone(&entries[i]))
            })
        });
        group.bench_with_input(BenchmarkId::new("quick_cache", n), &n, |b, _| {
            b.iter(|| {
                let i = next();
                quick.insert(Arc::from(&keys[i][..]), entries[i].clone())
            })
        });
        group.bench_with_input(BenchmarkId::new("moka", n), &n, |b, _| {
            b.iter(|| {
                let i = next();
                moka.insert(Arc::from(&keys[i][..]), entries[i].clone())
            })
        });
        group.bench_with_input(BenchmarkId::new("mutex_hashmap", n), &n, |b, _| {
            b.iter(|| {
                let i = next();
                map.lock()
                    .insert(Arc::from(&keys[i][..]), entries[i].clone())
            })
        });
    }
    group.finish();
}

fn invalidate_tag(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    // 10k entries over 1k tags (10 entries each); each iteration refills one
    // tag's entries and invalidates it.
    let memory = MemoryStore::new(20_000, 1 << 34);
    let tags: Vec<Arc<str>> = (0..1000).map(|t| Arc::from(format!("tag:{t}"))).collect();
    let entries: Vec<(Vec<u8>, Entry)> = (0..10_000)
        .map(|i| {
            (
                key(i),
                entry(i, vec![tags[i % 1000].clone(), Arc::from("all")]),
            )
        })
        .collect();
    for (k, e) in &entries {
        memory.insert(k, e.clone());
    }
    let mut t = 0usize;
    c.bench_function("invalidate_tag/10_of_10k_over_1k_tags", |b| {
        b.iter_batched(
            || {
                t = (t + 1) % 1000;
                for (k, e) in entries.iter().skip(t).step_by(1000) {
                    memory.insert(k, e.clone());
                }
                t
            },
            |t| black_box(memory.remove_tags(&[&tags[t]], None)),
            BatchSize::SmallInput,
        )
    });
}

fn respond_hit(c: &mut Criterion) {
    static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| Policy::builder("bench::h").build());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Cache::new();
    let request = http::Request::get("/item?id=1")
        .header("host", "localhost")
        .header("accept", "application/json")
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    let inm = http::Request::get("/item?id=1")
        .header("host", "localhost")
        .header("if-none-match", "W/\"zzzz\", W/\"yyyy\"")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let fill = || async { Fresh::new(http::Response::new(Body::from(vec![b'x'; 2048]))) };
    rt.block_on(cache.respond::<Body, _>(
        RequestHead::from(&parts),
        &POLICY,
        Vec::new(),
        None,
        fill(),
    ));
    let mut group = c.benchmark_group("respond");
    group.bench_function("hit_200", |b| {
        b.to_async(&rt).iter(|| {
            cache.respond::<Body, _>(RequestHead::from(&parts), &POLICY, Vec::new(), None, fill())
        })
    });
    group.bench_function("hit_with_if_none_match", |b| {
        b.to_async(&rt).iter(|| {
            cache.respond::<Body, _>(RequestHead::from(&inm), &POLICY, Vec::new(), None, fill())
        })
    });
    group.bench_function("baseline_build_response", |b| {
        let body = Bytes::from(vec![b'x'; 2048]);
        let mut headers = HeaderMap::new();
        headers.insert("etag", http::HeaderValue::from_static("W/\"abc\""));
        headers.insert(
            "cache-control",
            http::HeaderValue::from_static("private, max-age=60"),
        );
        b.iter(|| {
            let mut r = http::Response::new(Body::from(body.clone()));
            *r.headers_mut() = headers.clone();
            black_box(r)
        })
    });
    group.finish();
}

criterion_group!(benches, get_hit, insert, invalidate_tag, respond_hit);
criterion_main!(benches);
