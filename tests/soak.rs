//! A bounded chaos soak over loopback HTTP: 64 clients read a few thousand
//! documents with a Zipf distribution, sending `If-None-Match` half the
//! time; writers change documents and invalidate them by tag, by key and by
//! event; the remote store under the cache fails, stalls past the timeout
//! and drops calls at random. Every response is checked:
//!
//! - never a 5xx;
//! - never a body older than the last invalidation of its document that
//!   completed before the request began (read-your-writes on this
//!   instance, whatever the store did);
//! - a 304 only for a tag at least that new;
//! - the counters add up (every GET a hit or a miss).
//!
//! It runs for `SOAK_SECS` seconds (default 60) and prints what it did.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use cached_etag::store::{BoxFuture, MemoryStore};
use cached_etag::{
    Cache, CacheRequest, ETag, Entry, Event, Key, Policy, Removed, Store, StoreError,
};
use std::sync::LazyLock;

const DOCS: usize = 3_000;
const CLIENTS: usize = 64;
const WRITERS: usize = 2;

static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("soak::doc")
        .ttl(Duration::from_secs(30))
        .tags(&["docs"])
        .build()
});

/// The "database": each document's version, and the version as of the
/// last invalidation that completed (the floor a response must reach).
struct Db {
    versions: Vec<AtomicU64>,
    floors: Vec<AtomicU64>,
}

async fn doc(request: CacheRequest, State(db): State<Arc<Db>>, Path(id): Path<usize>) -> Response {
    let tags = vec![format!("doc:{id}"), format!("group:{}", id % 32)];
    request
        .respond(&POLICY, tags, None, async move {
            let version = db.versions[id].load(Ordering::SeqCst);
            cached_etag::hash(format!("{id}:{version}"))
        })
        .await
}

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Zipf(1.1) over the documents, by inverse CDF.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cdf = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(1.1);
                total
            })
            .collect::<Vec<_>>();
        Zipf(cdf.into_iter().map(|c| c / total).collect())
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

/// A remote store that keeps entries in memory and, at random, fails a
/// call, stalls it past the cache's store timeout, or drops it (answers
/// "unavailable" without doing it).
#[derive(Clone)]
struct Faulty {
    inner: Arc<MemoryStore>,
    seed: Arc<AtomicU64>,
    faults: Arc<[AtomicU64; 3]>,
}

impl Faulty {
    async fn fault(&self) -> Result<(), StoreError> {
        let mut rng = Rng(self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            | 1);
        match rng.below(100) {
            0..=5 => {
                self.faults[0].fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Backend("injected failure".into()))
            }
            6..=8 => {
                self.faults[1].fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(60)).await;
                Ok(())
            }
            9..=11 => {
                self.faults[2].fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Unavailable)
            }
            _ => Ok(()),
        }
    }
}

impl Store for Faulty {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            self.fault().await?;
            Ok(MemoryStore::get(&self.inner, key).map(|e| Entry::clone(&e)))
        })
    }
    fn put<'a>(&'a self, key: &'a [u8], entry: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.fault().await?;
            MemoryStore::insert(&self.inner, key, entry.clone());
            Ok(())
        })
    }
    fn remove<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            self.fault().await?;
            Ok(MemoryStore::remove(&self.inner, key, keep))
        })
    }
    fn remove_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            self.fault().await?;
            Ok(MemoryStore::remove_tags(&self.inner, tags, keep))
        })
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.fault().await?;
            MemoryStore::clear(&self.inner);
            Ok(())
        })
    }
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    gets: AtomicU64,
    not_modified: AtomicU64,
    stale: AtomicU64,
    wrong_304: AtomicU64,
    server_errors: AtomicU64,
    writes: AtomicU64,
    max_latency_us: AtomicU64,
}

fn parse(body: &str) -> Option<(usize, u64)> {
    let (id, version) = body.split_once(':')?;
    Some((id.parse().ok()?, version.parse().ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let store = Faulty {
        inner: Arc::new(MemoryStore::new(100_000, 256 << 20)),
        seed: Arc::new(AtomicU64::new(0x5EED)),
        faults: Arc::new(Default::default()),
    };
    let cache = Cache::builder()
        .store(store.clone())
        .store_timeout(Duration::from_millis(40))
        .coalesce_timeout(Duration::from_millis(500))
        .build();
    let db = Arc::new(Db {
        versions: (0..DOCS).map(|_| AtomicU64::new(1)).collect(),
        floors: (0..DOCS).map(|_| AtomicU64::new(1)).collect(),
    });
    let app = Router::new()
        .route("/doc/{id}", get(doc))
        .with_state(db.clone())
        .layer(Extension(cache.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let zipf = Arc::new(Zipf::new(DOCS));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (tally, stop, zipf, db) = (tally.clone(), stop.clone(), zipf.clone(), db.clone());
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xC0FFEE + c as u64);
            let mut held: Vec<Option<(String, u64)>> = vec![None; DOCS];
            while !stop.load(Ordering::Relaxed) {
                let id = zipf.sample(&mut rng);
                let floor = db.floors[id].load(Ordering::SeqCst);
                let mut request = client.get(format!("{base}/doc/{id}"));
                let revalidate = rng.below(2) == 0;
                if revalidate && let Some((etag, _)) = &held[id] {
                    request = request.header("if-none-match", etag);
                }
                let started = Instant::now();
                let Ok(response) = request.send().await else {
                    tally.server_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let status = response.status();
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = response.text().await.unwrap_or_default();
                let took = started.elapsed().as_micros() as u64;
                tally.max_latency_us.fetch_max(took, Ordering::Relaxed);
                tally.requests.fetch_add(1, Ordering::Relaxed);
                tally.gets.fetch_add(1, Ordering::Relaxed);
                if status.is_server_error() {
                    tally.server_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if status == reqwest::StatusCode::NOT_MODIFIED {
                    tally.not_modified.fetch_add(1, Ordering::Relaxed);
                    let held_version = held[id].as_ref().map_or(0, |(_, v)| *v);
                    if held_version < floor {
                        tally.wrong_304.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                match parse(&body) {
                    Some((got, version)) if got == id => {
                        if version < floor {
                            tally.stale.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(etag) = etag {
                            held[id] = Some((etag, version));
                        }
                    }
                    _ => {
                        tally.stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let host = base.trim_start_matches("http://").to_owned();
    for w in 0..WRITERS {
        let host = host.clone();
        let (tally, stop, zipf, db, cache) = (
            tally.clone(),
            stop.clone(),
            zipf.clone(),
            db.clone(),
            cache.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xBEEF + w as u64);
            while !stop.load(Ordering::Relaxed) {
                let id = zipf.sample(&mut rng);
                let version = db.versions[id].fetch_add(1, Ordering::SeqCst) + 1;
                let removed = match rng.below(4) {
                    0 => cache.invalidate_tag(&format!("doc:{id}")).await,
                    1 => {
                        let group = Event::tags([format!("group:{}", id % 32)]);
                        cache.apply(&group).await
                    }
                    2 => {
                        let key = Key::for_get("soak::doc", &host, &format!("/doc/{id}"));
                        cache.invalidate(&key).await
                    }
                    _ => cache.apply(&Event::tags([format!("doc:{id}")])).await,
                };
                // Whether or not the store took it (`removed.remote_errors`),
                // the invalidation completed here.
                let _: Removed = removed;
                // From now on nothing older may be served here.
                db.floors[id].fetch_max(version, Ordering::SeqCst);
                tally.writes.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let stats = cache.stats();
    let faults: Vec<u64> = store
        .faults
        .iter()
        .map(|f| f.load(Ordering::Relaxed))
        .collect();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    eprintln!(
        "soak {secs} s: {} requests ({} 304), {} writes; stale {}, wrong 304 {}, 5xx {}; \
         max latency {} ms; store faults: {} errors, {} stalls, {} drops; \
         hits {} misses {} coalesced {} store errors {} invalidations pending {}",
        load(&tally.requests),
        load(&tally.not_modified),
        load(&tally.writes),
        load(&tally.stale),
        load(&tally.wrong_304),
        load(&tally.server_errors),
        load(&tally.max_latency_us) / 1000,
        faults[0],
        faults[1],
        faults[2],
        stats.hits,
        stats.misses,
        stats.coalesced,
        stats.store_errors,
        stats.invalidations_pending,
    );
    assert!(
        load(&tally.requests) > 1_000,
        "the soak did too little to mean anything"
    );
    assert_eq!(load(&tally.server_errors), 0, "a 5xx");
    assert_eq!(
        load(&tally.stale),
        0,
        "a body older than a completed invalidation"
    );
    assert_eq!(load(&tally.wrong_304), 0, "a 304 for an old tag");
    assert_eq!(
        stats.hits + stats.misses,
        load(&tally.gets),
        "every GET a hit or a miss"
    );
}
