//! A bounded chaos soak over loopback HTTP: 64 clients read a few thousand
//! documents with a Zipf distribution, sending `If-None-Match` half the
//! time; writers change documents and invalidate them by tag, by key and by
//! event, hard or soft; the remote store under the cache misbehaves. Three
//! soaks, one harness:
//!
//! - `chaos_soak`: a store wrapper that fails, stalls past the timeout and
//!   drops calls at random;
//! - `stale_chaos_soak`: the same store wrapper under a policy whose
//!   entries live one second and then answer stale for 30 s while one
//!   refresh runs behind them (hard invalidations only);
//! - `redis_chaos_soak` (feature `redis`): a real `RedisStore` on a
//!   `redis-server` the test starts on a free port, then freezes (`SIGSTOP`
//!   for a while, then `SIGCONT`), kills (`SIGKILL`: it loses everything)
//!   and restarts, in a cycle, while the load runs. It fails without
//!   `redis-server` on `PATH`.
//!
//! Every response is checked:
//!
//! - never a 5xx;
//! - never a body older than the last invalidation of its document that
//!   completed before the request began (read-your-writes on this
//!   instance, whatever the store did);
//! - a 304 only for a tag at least that new;
//! - the counters add up (every GET a hit or a miss).
//!
//! `chaos_soak` runs beside busy threads (`SOAK_HOGS`, default one per CPU)
//! that load the machine, for `SOAK_SECS` seconds (default 60),
//! `stale_chaos_soak` and `redis_chaos_soak` for `SOAK_SECS` too (default
//! 30); each prints what it did (`--nocapture`).

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

/// A one-second ttl and a 30 s stale-while-revalidate window: most reads
/// find their entry stale, are answered from it at once, and start a
/// refresh behind it.
static STALE_POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("soak::stale")
        .ttl(Duration::from_secs(1))
        .stale_while_revalidate(Duration::from_secs(30))
        .tags(&["docs"])
        .build()
});

/// What a soak reads, and how its writers may invalidate it.
#[derive(Clone, Copy)]
struct Route {
    /// The path's first segment.
    path: &'static str,
    /// The policy's name, for invalidations by key.
    policy: &'static str,
    /// Whether writers also invalidate softly. Under a policy without a
    /// stale window an entry marked stale is refreshed before it answers,
    /// so the floor holds for soft invalidations too; within a window a
    /// stale answer after one is allowed by design.
    soft: bool,
}

const DOCS_ROUTE: Route = Route {
    path: "doc",
    policy: "soak::doc",
    soft: true,
};

const STALE_ROUTE: Route = Route {
    path: "stale",
    policy: "soak::stale",
    soft: false,
};

/// The "database": each document's version, and the version as of the
/// last invalidation that completed (the floor a response must reach).
struct Db {
    versions: Vec<AtomicU64>,
    floors: Vec<AtomicU64>,
}

async fn doc(request: CacheRequest, State(db): State<Arc<Db>>, Path(id): Path<usize>) -> Response {
    read(request, &POLICY, db, id).await
}

async fn stale_doc(
    request: CacheRequest,
    State(db): State<Arc<Db>>,
    Path(id): Path<usize>,
) -> Response {
    read(request, &STALE_POLICY, db, id).await
}

async fn read(request: CacheRequest, policy: &Arc<Policy>, db: Arc<Db>, id: usize) -> Response {
    let tags = vec![format!("doc:{id}"), format!("group:{}", id % 32)];
    request
        .respond(policy, tags, None, async move {
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
            Ok(MemoryStore::get(&self.inner, key).map(|e| e.to_entry()))
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
    /// Requests that got no HTTP answer at all.
    transport_errors: AtomicU64,
    writes: AtomicU64,
    /// The longest request, by the store's state when it ran (see
    /// [`Phase`]).
    max_latency_us: [AtomicU64; 3],
    /// The first few wrong answers, described, for the failure message.
    wrong: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    /// Keeps a description of a wrong answer (the first few only).
    fn wrong(&self, what: impl FnOnce() -> String) {
        let mut wrong = self.wrong.lock().unwrap();
        if wrong.len() < 8 {
            wrong.push(what());
        }
    }
}

/// What the store was going through while a request ran, for the latency
/// figures: up, frozen, or down. A request that saw two states counts in
/// the later of them in this order.
#[derive(Clone, Default)]
struct Phase(Arc<std::sync::atomic::AtomicUsize>);

// Only the Redis soak changes the phase.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl Phase {
    const UP: usize = 0;
    const FROZEN: usize = 1;
    const DOWN: usize = 2;
    const NAMES: [&str; 3] = ["up", "frozen", "down"];

    fn now(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, phase: usize) {
        self.0.store(phase, Ordering::SeqCst);
    }
}

fn parse(body: &str) -> Option<(usize, u64)> {
    let (id, version) = body.split_once(':')?;
    Some((id.parse().ok()?, version.parse().ok()?))
}

fn soak_secs(default: u64) -> u64 {
    std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// What one soak did, as the clients saw it.
struct Report {
    secs: u64,
    requests: u64,
    gets: u64,
    not_modified: u64,
    writes: u64,
    stale: u64,
    wrong_304: u64,
    server_errors: u64,
    transport_errors: u64,
    /// The longest request while the store was up, frozen, down.
    max_latency_ms: [u64; 3],
    /// The first few wrong answers, described.
    wrong: Vec<String>,
}

impl Report {
    fn line(&self) -> String {
        format!(
            "{} s: {} requests ({} 304), {} writes; stale {}, wrong 304 {}, 5xx {}, \
             no answer {}; max latency {} ms{}",
            self.secs,
            self.requests,
            self.not_modified,
            self.writes,
            self.stale,
            self.wrong_304,
            self.server_errors,
            self.transport_errors,
            self.max_latency_ms.iter().max().unwrap_or(&0),
            self.by_phase(),
        )
    }

    /// The longest request per store state, when the store had more than
    /// one.
    fn by_phase(&self) -> String {
        if self.max_latency_ms[1..].iter().all(|&ms| ms == 0) {
            return String::new();
        }
        let each: Vec<String> = Phase::NAMES
            .iter()
            .zip(self.max_latency_ms)
            .map(|(name, ms)| format!("{name} {ms} ms"))
            .collect();
        format!(" ({})", each.join(", "))
    }

    /// The soak's promises.
    fn check(&self, stats: &cached_etag::Stats) {
        assert!(
            self.requests > 1_000,
            "the soak did too little to mean anything"
        );
        assert_eq!(self.server_errors, 0, "a 5xx");
        assert_eq!(self.transport_errors, 0, "a request got no answer");
        let wrong = self.wrong.join("\n  ");
        assert_eq!(
            self.stale, 0,
            "a body older than a completed invalidation; the first:\n  {wrong}"
        );
        assert_eq!(
            self.wrong_304, 0,
            "a 304 for an old tag; the first:\n  {wrong}"
        );
        assert_eq!(
            stats.hits + stats.misses,
            self.gets,
            "every GET a hit or a miss"
        );
    }
}

/// Serves the documents through `cache` on a loopback port and runs the
/// clients and writers against it for `secs` seconds.
async fn soak(cache: &Cache, secs: u64, phase: Phase, route: Route) -> Report {
    let db = Arc::new(Db {
        versions: (0..DOCS).map(|_| AtomicU64::new(1)).collect(),
        floors: (0..DOCS).map(|_| AtomicU64::new(1)).collect(),
    });
    let app = Router::new()
        .route("/doc/{id}", get(doc))
        .route("/stale/{id}", get(stale_doc))
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
        let (client, base, phase) = (client.clone(), base.clone(), phase.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xC0FFEE + c as u64);
            let mut held: Vec<Option<(String, u64)>> = vec![None; DOCS];
            while !stop.load(Ordering::Relaxed) {
                let id = zipf.sample(&mut rng);
                let floor = db.floors[id].load(Ordering::SeqCst);
                let path = format!("/{}/{id}", route.path);
                let mut request = client.get(format!("{base}{path}"));
                let revalidate = rng.below(2) == 0;
                if revalidate && let Some((etag, _)) = &held[id] {
                    request = request.header("if-none-match", etag);
                }
                let started = Instant::now();
                let phase_then = phase.now();
                let Ok(response) = request.send().await else {
                    tally.transport_errors.fetch_add(1, Ordering::Relaxed);
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
                let seen = phase_then.max(phase.now());
                tally.max_latency_us[seen].fetch_max(took, Ordering::Relaxed);
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
                        tally.wrong(|| {
                            format!(
                                "304 for {path} to a client holding version {held_version}, \
                                 floor {floor} (now {}), after {took} µs",
                                db.floors[id].load(Ordering::SeqCst)
                            )
                        });
                    }
                    continue;
                }
                match parse(&body) {
                    Some((got, version)) if got == id => {
                        if version < floor {
                            tally.stale.fetch_add(1, Ordering::Relaxed);
                            tally.wrong(|| {
                                format!(
                                    "{status} for {path} with version {version}, floor \
                                     {floor} (now {}), etag {etag:?}, after {took} µs",
                                    db.floors[id].load(Ordering::SeqCst)
                                )
                            });
                        }
                        if let Some(etag) = etag {
                            held[id] = Some((etag, version));
                        }
                    }
                    _ => {
                        tally.stale.fetch_add(1, Ordering::Relaxed);
                        tally.wrong(|| format!("{status} for {path} with body {body:?}"));
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
                let path = format!("/{}/{id}", route.path);
                let key = || Key::for_get(route.policy, &host, &path);
                // Soft ones too where the route allows them (see `Route`).
                let removed = match rng.below(if route.soft { 6 } else { 4 }) {
                    0 => cache.invalidate_tag(&format!("doc:{id}")).await,
                    1 => {
                        let group = Event::tags([format!("group:{}", id % 32)]);
                        cache.apply(&group).await
                    }
                    2 => cache.invalidate(&key()).await,
                    3 => cache.apply(&Event::tags([format!("doc:{id}")])).await,
                    4 => cache.invalidate_soft(&key()).await,
                    _ => {
                        let soft = Event::tags([format!("doc:{id}")]).soft();
                        cache.apply(&soft).await
                    }
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
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Report {
        secs,
        requests: load(&tally.requests),
        gets: load(&tally.gets),
        not_modified: load(&tally.not_modified),
        writes: load(&tally.writes),
        stale: load(&tally.stale),
        wrong_304: load(&tally.wrong_304),
        server_errors: load(&tally.server_errors),
        transport_errors: load(&tally.transport_errors),
        max_latency_ms: [0, 1, 2].map(|p| load(&tally.max_latency_us[p]) / 1000),
        wrong: std::mem::take(&mut *tally.wrong.lock().unwrap()),
    }
}

/// Threads that spin while a soak runs, so that the scheduler preempts the
/// server at any point of a request, as on a loaded machine: the races this
/// soak has found showed up only under load. `SOAK_HOGS` of them (default:
/// one per CPU; 0 for none).
struct Hogs {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Hogs {
    fn start() -> Hogs {
        let n = std::env::var("SOAK_HOGS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Hogs { stop, threads }
    }

    /// Stops the threads; says how many there were.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut self.threads);
        let n = threads.len();
        for thread in threads {
            thread.join().unwrap();
        }
        n
    }
}

impl Drop for Hogs {
    /// A soak that panics stops its threads too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A cache over a [`Faulty`] store whose faults follow `seed`.
fn faulty_cache(seed: u64) -> (Cache, Faulty) {
    let store = Faulty {
        inner: Arc::new(MemoryStore::new(100_000, 256 << 20)),
        seed: Arc::new(AtomicU64::new(seed)),
        faults: Arc::new(Default::default()),
    };
    let cache = Cache::builder()
        .store(store.clone())
        .store_timeout(Duration::from_millis(40))
        .coalesce_timeout(Duration::from_millis(500))
        .build();
    (cache, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak() {
    let (cache, store) = faulty_cache(0x5EED);
    let hogs = Hogs::start();
    let report = soak(&cache, soak_secs(60), Phase::default(), DOCS_ROUTE).await;
    let hogs = hogs.stop();
    let stats = cache.stats();
    let faults: Vec<u64> = store
        .faults
        .iter()
        .map(|f| f.load(Ordering::Relaxed))
        .collect();
    eprintln!(
        "soak {} beside {hogs} busy threads; store faults: {} errors, {} stalls, {} drops; \
         hits {} misses {} coalesced {} store errors {} invalidations pending {}",
        report.line(),
        faults[0],
        faults[1],
        faults[2],
        stats.hits,
        stats.misses,
        stats.coalesced,
        stats.store_errors,
        stats.invalidations_pending,
    );
    report.check(&stats);
}

/// The chaos soak under stale-while-revalidate: entries live one second,
/// then answer stale while one refresh runs behind them, for 30 s. Hard
/// invalidations only, so the floor holds as before: a stale answer may be
/// old, never older than the last completed invalidation. For `SOAK_SECS`
/// (default 30), beside the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_chaos_soak() {
    let (cache, _) = faulty_cache(0x57A1E);
    let report = soak(&cache, soak_secs(30), Phase::default(), STALE_ROUTE).await;
    let stats = cache.stats();
    eprintln!(
        "stale soak {}; hits {} (stale {}) misses {} refreshes {} unchanged {}",
        report.line(),
        stats.hits,
        stats.stale_served,
        stats.misses,
        stats.refreshes,
        stats.revalidated_unchanged,
    );
    report.check(&stats);
    assert!(
        stats.stale_served > 100 && stats.refreshes > 10,
        "the stale window was hardly used: {stats:?}"
    );
}

#[cfg(feature = "redis")]
#[path = "../runtime/tests/support/redis_server.rs"]
mod redis_server;

/// The soak against a real Redis that is frozen, killed and restarted
/// while it runs.
#[cfg(feature = "redis")]
mod redis {
    use super::*;

    use std::net::TcpListener;
    use std::thread::JoinHandle;

    use cached_etag::RedisStore;

    use super::redis_server::Server;

    /// Up, frozen, up, killed: one turn of the faults, then again.
    const UP: Duration = Duration::from_secs(3);
    const FROZEN: Duration = Duration::from_millis(1_500);
    const DOWN: Duration = Duration::from_millis(1_500);

    /// What the fault thread did.
    #[derive(Debug, Default)]
    struct Faults {
        freezes: u64,
        kills: u64,
        restarts: u64,
    }

    /// The thread that freezes, kills and restarts the server; stopped
    /// and joined when dropped (a failing soak included), which kills the
    /// server.
    struct Chaos {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<Faults>>,
    }

    impl Chaos {
        fn start(mut server: Server, port: u16, phase: Phase) -> Chaos {
            let stop = Arc::new(AtomicBool::new(false));
            let stopped = stop.clone();
            let thread = std::thread::spawn(move || {
                // Sleeps `how_long` unless told to stop; says whether to go on.
                let wait = |how_long: Duration| {
                    let until = Instant::now() + how_long;
                    while Instant::now() < until {
                        if stopped.load(Ordering::SeqCst) {
                            return false;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    true
                };
                let mut faults = Faults::default();
                loop {
                    if !wait(UP) {
                        break;
                    }
                    assert!(server.signal("-STOP"), "SIGSTOP delivered");
                    phase.set(Phase::FROZEN);
                    faults.freezes += 1;
                    let go_on = wait(FROZEN);
                    assert!(server.signal("-CONT"), "SIGCONT delivered");
                    phase.set(Phase::UP);
                    if !go_on || !wait(UP) {
                        break;
                    }
                    server.kill();
                    phase.set(Phase::DOWN);
                    faults.kills += 1;
                    let go_on = wait(DOWN);
                    server = Server::start(port);
                    phase.set(Phase::UP);
                    faults.restarts += 1;
                    if !go_on {
                        break;
                    }
                }
                drop(server);
                faults
            });
            Chaos {
                stop,
                thread: Some(thread),
            }
        }

        fn finish(mut self) -> Faults {
            self.stop.store(true, Ordering::SeqCst);
            let thread = self.thread.take().expect("finished once");
            thread.join().expect("the fault thread")
        }
    }

    impl Drop for Chaos {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_chaos_soak() {
        let port = free_port();
        let server = Server::start(port);
        let redis = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
            .prefix(format!("cached-etag-soak:{}:", std::process::id()))
            .build()
            .expect("a Redis store");
        let cache = Cache::builder()
            .store(redis.clone())
            .coalesce_timeout(Duration::from_millis(500))
            .build();
        cache.follow(redis.announcements());
        let phase = Phase::default();
        let chaos = Chaos::start(server, port, phase.clone());
        let report = soak(&cache, soak_secs(30), phase.clone(), DOCS_ROUTE).await;
        let faults = chaos.finish();
        let stats = cache.stats();
        let r = redis.stats();
        eprintln!(
            "redis soak {}; redis frozen {}x, killed {}x, restarted {}x; \
             cache: hits {} misses {} coalesced {} coalesce timeouts {} store errors {} \
             remote refused {} invalidations pending {}; \
             redis calls {}: failed or timed out {}, short-circuited {}, rejected busy {}, \
             circuit opened {}x, fenced puts {}, decode errors {}, subscriptions {} (lost {})",
            report.line(),
            faults.freezes,
            faults.kills,
            faults.restarts,
            stats.hits,
            stats.misses,
            stats.coalesced,
            stats.coalesce_timeouts,
            stats.store_errors,
            stats.remote_refused,
            stats.invalidations_pending,
            r.calls,
            r.failures,
            r.short_circuited,
            r.rejected_busy,
            r.circuit_opened,
            r.fenced_puts,
            r.decode_errors,
            r.subscriptions,
            r.subscriptions_lost,
        );
        report.check(&stats);
        // Every value in this Redis was written by this cache.
        assert_eq!(r.decode_errors, 0, "a stored value did not decode");
        assert!(
            faults.freezes >= 1 && faults.kills >= 1 && faults.restarts >= 1,
            "the soak ran through a freeze, a kill and a restart: {faults:?}"
        );
    }
}
