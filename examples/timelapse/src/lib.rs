//! The timelapse camera service: settings, cameras and their images over a
//! JSON API, every read path cached with `#[cached_etag]`, every write
//! guarded by a `WriteGuard` (412 on a stale `If-Match`) and declaring with
//! `#[invalidates]` the tags it touched.
//!
//! After a successful write, its tags are invalidated with the response's
//! new ETag ([`Cache::apply`]), so a change to camera 2 leaves camera 1's
//! entries alone, and a write that changed nothing keeps entries already at
//! its ETag. Every applied event is relayed to the browsers on
//! `/api/events` ([`Cache::subscribe`]). With `--redis`, the Redis store
//! announces each applied event to the other instances, which follow it
//! ([`Cache::follow`]).
//!
//! Writes from other processes (the [`capture`] worker, someone in
//! `sqlite3`) send no event. With [`Config::watch`], a poller reads
//! SQLite's `PRAGMA data_version` on a connection of its own and, when
//! another connection committed, marks the entries that summarise a
//! camera's images (tag [`IMAGE_SUMMARIES`]) stale, so counts and latest
//! images are refreshed without a short TTL and without a waiting request.
//!
//! [`build`] opens the database and wires the cache and the channel;
//! [`app`] is the router; [`serve`] runs it until a shutdown signal. The
//! binary is a thin `main` around the three; the tests use them in-process.
#![forbid(unsafe_code)]

pub mod capture;
pub mod db;
mod error;
mod live;
pub mod metrics;
pub mod openapi;
mod page;
mod read;
pub mod svg;
pub mod time;
mod write;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Extension, Router};
use cached_etag::{Cache, Event, RedisStore, source};
use sqlx::SqlitePool;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};

pub use error::ApiError;

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite file lives; created if missing.
    pub data_dir: PathBuf,
    /// How often `/api/events` sends a `stats` event.
    pub stats_interval: Duration,
    /// A Redis shared by several instances (`redis://127.0.0.1:6379`): entries
    /// are shared and each instance's invalidations reach the others.
    pub redis: Option<String>,
    /// How often to check whether another process wrote to the database
    /// (`PRAGMA data_version`, about 60 µs a check in a debug build); `None` trusts
    /// this process's own events alone.
    pub watch: Option<Duration>,
}

/// The tag of the entries that summarise a camera's images (its count, its
/// latest image): what a write from another process may change.
pub const IMAGE_SUMMARIES: &str = "images:by-camera";

impl Config {
    /// A service keeping its data in `data_dir`, sending stats every 2 s.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            stats_interval: Duration::from_secs(2),
            redis: None,
            watch: None,
        }
    }

    /// A directory under the OS temp dir that no earlier run used.
    pub fn fresh_data_dir() -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let nanos = time::to_nanos(std::time::SystemTime::now());
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("timelapse-{}-{nanos}-{run}", std::process::id()))
    }
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: SqlitePool,
    /// The response cache the read paths use.
    pub cache: Cache,
    /// Serialises writes, so that an `If-Match` check and the update it
    /// guards see the same row.
    write_lock: Arc<Mutex<()>>,
    shutdown: Shutdown,
    stats_interval: Duration,
}

impl AppState {
    /// Announces a change made outside the HTTP writes (which declare
    /// theirs) to the cache, and through it to every `/api/events` client.
    /// The cache applies it before this returns, so the next read never
    /// sees what the change replaced.
    pub async fn publish(&self, event: Event) {
        tracing::debug!(?event, "publishing");
        self.cache.apply(&event).await;
    }

    /// Ends the live streams, so that a graceful shutdown does not wait on
    /// them forever.
    pub fn shutdown(&self) {
        self.shutdown.trigger();
    }
}

/// A one-way switch that long-lived responses (the event stream) watch.
#[derive(Clone)]
struct Shutdown(Arc<watch::Sender<bool>>);

impl Shutdown {
    fn new() -> Self {
        Shutdown(Arc::new(watch::Sender::new(false)))
    }

    fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Completes once [`trigger`](Self::trigger) was called.
    fn triggered(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut receiver = self.0.subscribe();
        async move {
            // An error means the sender is gone: nothing can trigger any more,
            // and nothing is left to serve either.
            let _ = receiver.wait_for(|done| *done).await;
        }
    }
}

/// Opens and migrates the database in `config.data_dir`, and makes the cache
/// and the event channel it listens to.
pub async fn build(config: &Config) -> sqlx::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir).map_err(sqlx::Error::Io)?;
    let db = db::open(&config.data_dir).await?;
    tracing::info!(data_dir = %config.data_dir.display(), "database ready");
    // Before the cache: it registers its series with the recorder.
    metrics::install();
    let mut cache = Cache::builder()
        .name("timelapse")
        .max_entries(10_000)
        .max_bytes(32 << 20);
    let mut redis = None;
    if let Some(url) = &config.redis {
        let store = RedisStore::new(url.as_str())
            .map_err(|error| sqlx::Error::Configuration(Box::new(error)))?;
        tracing::info!(%url, "entries shared through Redis");
        cache = cache.store(store.clone());
        redis = Some(store);
    }
    let cache = cache.build();
    if let Some(redis) = redis {
        // Other instances' invalidations drop this instance's memory copies.
        cache.follow(redis.announcements());
    }
    if let Some(interval) = config.watch {
        watch_database(&cache, &config.data_dir, interval).await?;
    }
    Ok(AppState {
        db,
        cache,
        write_lock: Arc::new(Mutex::new(())),
        shutdown: Shutdown::new(),
        stats_interval: config.stats_interval,
    })
}

/// Marks [`IMAGE_SUMMARIES`] stale (a soft purge) whenever another
/// connection committed to the database, checking every `interval`: the
/// next read is answered at once from the stale entry while one refresh
/// replaces it, and a refresh that finds the same ETag (a commit that did
/// not touch images) keeps the stored body. This process's own writes
/// count too (they use other connections): a few spare invalidations,
/// against the cost of missing a write. With `--redis`, each instance
/// polls the one file, and each applies its invalidations to Redis too.
pub async fn watch_database(
    cache: &Cache,
    data_dir: &Path,
    interval: Duration,
) -> sqlx::Result<()> {
    let reader = Arc::new(Mutex::new(db::version_reader(data_dir).await?));
    let changes = source::poll(
        interval,
        move || {
            let reader = reader.clone();
            async move { db::data_version(&mut *reader.lock().await).await }
        },
        Event::tags([IMAGE_SUMMARIES]).soft(),
    );
    cache.listen(changes);
    Ok(())
}

/// The service's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::index).layer(page::cache()))
        .route("/api/settings", get(read::settings).put(write::settings))
        .route("/api/cameras", get(read::cameras))
        .route("/api/cameras/{id}", get(read::camera).put(write::camera))
        .route("/api/cameras/{id}/images/count", get(read::image_count))
        .route("/api/cameras/{id}/images/latest", get(read::latest_image))
        .route("/api/cameras/{id}/images/recent", get(read::recent_images))
        .route("/api/cameras/{id}/capture", post(write::capture))
        .route("/api/images/{id}", get(read::image))
        .route("/api/images/{id}/file", get(read::image_file))
        .route("/api/events", get(live::events))
        .route("/api/stats", get(live::stats))
        .route("/api/routes", get(live::routes))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::serve))
        // The cached handlers find their cache here.
        .layer(Extension(state.cache.clone()))
        .layer(axum::middleware::from_fn(log))
        .with_state(state)
}

/// One log line per request, so that a demo shows its 200s and 304s.
async fn log(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = next.run(request).await;
    tracing::info!(%method, %uri, status = response.status().as_u16());
    response
}

/// Serves [`app`] on `listener` until `signal` completes, then ends the live
/// streams and lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            signal.await;
            tracing::info!("shutting down");
            shutdown.trigger();
        })
        .await
}
