//! The engine: a [`Cache`], how it is configured, and how it forgets.
//!
//! This file holds the cache itself (its builder and bounds, its stats) and
//! invalidation: every invalidation stamps the names it removes in the
//! generation fence, removes them from memory, removes them from the remote
//! store, and removes them from memory once more, so that no read that
//! raced it can bring the old entry back. An invalidation the remote store
//! refused is kept in the [`outbox`] and replayed until it lands. The
//! request path is [`respond`], how changes reach a cache is [`bus`], and
//! remote store calls fail open in [`remote`]; [`flight`] (single flight),
//! [`generation`] (the fence), [`puts`] and [`outbox`] are the state
//! machines they share, made of the primitives in [`sync`] so that loom can
//! check them.

mod bus;
#[cfg(feature = "compression-core")]
mod compressed;
mod detach;
mod flight;
mod generation;
mod outbox;
mod puts;
mod remote;
mod respond;
mod sync;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use http::header::{self, HeaderName};

use crate::stats::Counters;
use crate::stats::route::{RouteRef, Routes};
use crate::store::{EntryRef, MemoryStore, Removed, Store};
use crate::{ETag, Event, Key, Policy, RouteStats, Stats};

use flight::Flights;
use generation::Generations;
use outbox::{Invalidation, Outbox};

/// Default wait for another request's fill of the same key (as nginx's
/// `proxy_cache_lock_timeout`).
pub const DEFAULT_COALESCE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of one remote store call.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(100);
/// Default largest key stored; longer keys (huge query strings) bypass.
pub const DEFAULT_MAX_KEY_BYTES: usize = 4 << 10;
/// Default largest body stored; larger ones are served and not stored.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Request headers that identify the user by default: a request carrying
/// one is not served from or stored into the shared cache unless the policy
/// is `shared` or varies on that header.
pub const DEFAULT_CREDENTIAL_HEADERS: [HeaderName; 2] = [header::AUTHORIZATION, header::COOKIE];

/// Shortest and longest waits between replays of an invalidation the remote
/// store refused.
const REPLAY_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));

/// A server-side response cache. Cheap to clone: clones share one cache.
///
/// ```
/// use cached_etag_runtime::Cache;
///
/// let cache = Cache::builder().max_entries(1_000).max_bytes(16 << 20).build();
/// assert_eq!(cache.stats().entries, 0);
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    memory: MemoryStore,
    remote: Option<Arc<dyn Store>>,
    store_timeout: Duration,
    coalesce_timeout: Duration,
    max_key_bytes: usize,
    max_body_bytes: usize,
    credentials: Box<[HeaderName]>,
    require_preconditions: bool,
    #[cfg(feature = "compression-core")]
    compression: crate::compression::Compression,
    applied: tokio::sync::broadcast::Sender<Event>,
    flights: Arc<Flights>,
    generations: Generations,
    outbox: Outbox,
    puts: puts::Puts,
    counters: Counters,
    routes: Routes,
    #[cfg(feature = "metrics")]
    series: crate::metrics::CacheSeries,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("memory", &self.inner.memory)
            .field("remote", &self.inner.remote.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::builder().build()
    }
}

/// Configures a [`Cache`]; see [`Cache::builder`].
#[derive(Clone)]
#[must_use]
pub struct CacheBuilder {
    max_entries: usize,
    max_bytes: u64,
    remote: Option<Arc<dyn Store>>,
    store_timeout: Duration,
    coalesce_timeout: Duration,
    max_key_bytes: usize,
    max_body_bytes: usize,
    credentials: Vec<HeaderName>,
    require_preconditions: bool,
    name: &'static str,
    #[cfg(feature = "compression-core")]
    compression: crate::compression::Compression,
}

impl std::fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("remote", &self.remote.is_some())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl CacheBuilder {
    /// Bound on entries held in memory (default 10 000).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Bound on bytes held in memory, keys, headers and bodies (default 64 MiB).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// A remote store behind the memory layer, shared by many instances.
    pub fn store(mut self, store: impl Store) -> Self {
        self.remote = Some(Arc::new(store));
        self
    }

    /// Timeout of each remote store call (default 100 ms); past it the
    /// request runs its handler.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// How long a miss waits for a concurrent fill of the same key before
    /// running its own handler (default 5 s).
    pub fn coalesce_timeout(mut self, timeout: Duration) -> Self {
        self.coalesce_timeout = timeout;
        self
    }

    /// Largest key stored (default 4 KiB); requests with longer keys bypass.
    pub fn max_key_bytes(mut self, n: usize) -> Self {
        self.max_key_bytes = n;
        self
    }

    /// Largest body buffered and stored (default 1 MiB); larger or streaming
    /// bodies pass through untouched and are not stored.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// The request headers that identify a user, replacing the default
    /// [`DEFAULT_CREDENTIAL_HEADERS`] (`Authorization`, `Cookie`). A request
    /// that carries one of them is answered by its handler, never from or
    /// into the shared cache, unless the policy is `shared` or varies on
    /// that very header (then each value gets its own entries). Add the
    /// headers your service authenticates by:
    ///
    /// ```
    /// use cached_etag_runtime::{Cache, DEFAULT_CREDENTIAL_HEADERS};
    /// use http::HeaderName;
    ///
    /// let cache = Cache::builder()
    ///     .credential_headers(
    ///         DEFAULT_CREDENTIAL_HEADERS
    ///             .into_iter()
    ///             .chain([HeaderName::from_static("x-api-key")]),
    ///     )
    ///     .build();
    /// # drop(cache);
    /// ```
    pub fn credential_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.credentials = names.into_iter().collect();
        self
    }

    /// Makes every [`WriteGuard`](crate::WriteGuard) extracted for a request
    /// to this cache answer `428 Precondition Required` (RFC 6585 §3) to a
    /// write that sends no precondition (default off).
    pub fn require_preconditions(mut self, required: bool) -> Self {
        self.require_preconditions = required;
        self
    }

    /// The cache's name in its `metrics` series (the `cache` label;
    /// default `"default"`): name each cache of a process that has several.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Which compressed variants of stored entries this cache serves
    /// (feature `compression`, or one coding's `compression-gzip`,
    /// `compression-br`, `compression-zstd`; default
    /// [`Compression::default`]: `br`,
    /// `zstd` and `gzip` for bodies of 1 KiB or more), or
    /// [`Compression::off`]. Each variant is made once, on the first
    /// request that prefers its coding, and kept with the entry; see
    /// [`compression`](crate::compression).
    ///
    /// [`Compression::default`]: crate::compression::Compression::default
    /// [`Compression::off`]: crate::compression::Compression::off
    ///
    /// ```
    /// use cached_etag_runtime::Cache;
    /// use cached_etag_runtime::compression::{Coding, Compression};
    ///
    /// let cache = Cache::builder()
    ///     .compression(Compression::default().codings(&[Coding::Gzip]))
    ///     .build();
    /// # drop(cache);
    /// ```
    #[cfg(feature = "compression-core")]
    pub fn compression(mut self, compression: crate::compression::Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Builds the cache.
    pub fn build(self) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                memory: MemoryStore::new(self.max_entries, self.max_bytes),
                remote: self.remote,
                store_timeout: self.store_timeout,
                coalesce_timeout: self.coalesce_timeout,
                max_key_bytes: self.max_key_bytes,
                max_body_bytes: self.max_body_bytes,
                credentials: self.credentials.into(),
                require_preconditions: self.require_preconditions,
                #[cfg(feature = "compression-core")]
                compression: self.compression,
                applied: tokio::sync::broadcast::Sender::new(APPLIED_CAPACITY),
                flights: Arc::default(),
                generations: Generations::default(),
                outbox: Outbox::default(),
                puts: puts::Puts::default(),
                counters: Counters::default(),
                routes: Routes::new(self.name),
                #[cfg(feature = "metrics")]
                series: crate::metrics::CacheSeries::register(self.name),
            }),
        }
    }
}

impl Cache {
    /// A cache with the default bounds (10 000 entries, 64 MiB).
    pub fn new() -> Self {
        Self::default()
    }

    /// Configures a cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder {
            max_entries: crate::store::memory::DEFAULT_MAX_ENTRIES,
            max_bytes: crate::store::memory::DEFAULT_MAX_BYTES,
            remote: None,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            coalesce_timeout: DEFAULT_COALESCE_TIMEOUT,
            max_key_bytes: DEFAULT_MAX_KEY_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            credentials: DEFAULT_CREDENTIAL_HEADERS.to_vec(),
            require_preconditions: false,
            name: "default",
            #[cfg(feature = "compression-core")]
            compression: crate::compression::Compression::default(),
        }
    }

    /// Whether write guards for this cache require a precondition; see
    /// [`CacheBuilder::require_preconditions`].
    pub fn requires_preconditions(&self) -> bool {
        self.inner.require_preconditions
    }

    /// The events [`apply`](Self::apply) applies from now on, in order, for
    /// relaying changes elsewhere (server-sent events to browsers, a log).
    /// A receiver that falls more than 1024 events behind gets
    /// [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged).
    ///
    /// ```
    /// use cached_etag_runtime::{Cache, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let mut applied = cache.subscribe();
    /// cache.apply(&Event::tags(["camera:2"])).await;
    /// assert_eq!(applied.recv().await.unwrap().tags, ["camera:2"]);
    /// # }
    /// ```
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.applied.subscribe()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let memory = &self.inner.memory;
        #[cfg(feature = "metrics")]
        self.inner.series.held(memory);
        Stats {
            evictions: memory.evictions(),
            expirations: memory.expirations(),
            entries: memory.len() as u64,
            bytes_held: memory.bytes(),
            invalidations_pending: self.inner.outbox.len() as u64,
            ..self.inner.counters.snapshot()
        }
    }

    /// What this cache did for each route it has served, by the policy's
    /// readable [`name`](Policy::name) (handlers and the layer's route
    /// policies alike; policies that share a name are added up). No
    /// recorder needed: the counters are the cache's own, kept apart from
    /// any other cache's even where two caches serve one policy.
    ///
    /// ```
    /// use std::sync::{Arc, LazyLock};
    /// use cached_etag_runtime::{Cache, Fresh, Policy, RequestHead};
    ///
    /// static POLICY: LazyLock<Arc<Policy>> = LazyLock::new(|| Policy::builder("docs::page").build());
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// type Body = http_body_util::Full<bytes::Bytes>;
    /// for _ in 0..2 {
    ///     let (parts, ()) = http::Request::get("/page").body(()).unwrap().into_parts();
    ///     let _: http::Response<Body> = cache
    ///         .respond(RequestHead::from(&parts), &POLICY, Vec::new(), None, async {
    ///             Fresh::new(http::Response::new(Body::from("a page")))
    ///         })
    ///         .await;
    /// }
    /// let page = cache.route_stats()["docs::page"];
    /// assert_eq!((page.misses, page.hits, page.stores), (1, 1, 1));
    /// # }
    /// ```
    pub fn route_stats(&self) -> BTreeMap<&'static str, RouteStats> {
        self.inner.routes.snapshot()
    }

    /// The counters of `policy`'s route in this cache.
    pub(crate) fn route<'p>(&self, policy: &'p Policy) -> RouteRef<'p> {
        self.inner.routes.of(policy)
    }

    /// The entry this cache holds in memory for `key`, if any: a read-only
    /// view, for tests and diagnostics. Entries enter memory only through
    /// the request path, behind the invalidation fence.
    pub fn peek(&self, key: &Key) -> Option<EntryRef> {
        self.inner.memory.get(key.as_bytes())
    }

    /// Removes the entry under `key`.
    ///
    /// With a remote store, the entry is removed there too. If that call
    /// fails, [`Removed::remote_errors`] says so; the invalidation is kept
    /// and replayed until the store accepts it, and until then this cache
    /// serves nothing it names from the store, so this instance's next read
    /// never brings the old entry back. Other instances learn of it when
    /// the replay reaches the store (and its announcement them).
    pub async fn invalidate(&self, key: &Key) -> Removed {
        self.invalidate_everywhere(Invalidation::Key {
            key: key.clone(),
            keep: None,
            soft: false,
        })
        .await
    }

    /// Removes the entry under `key` unless its ETag equals `etag`: a write
    /// that did not change the representation keeps the entry (counted as
    /// skipped).
    pub async fn invalidate_if_changed(&self, key: &Key, etag: &ETag) -> Removed {
        self.invalidate_everywhere(Invalidation::Key {
            key: key.clone(),
            keep: Some(etag.clone()),
            soft: false,
        })
        .await
    }

    /// Removes every entry tagged `tag` (see [`invalidate`](Self::invalidate)
    /// for what a failing remote store means).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = cached_etag_runtime::Cache::new();
    /// let removed = cache.invalidate_tag("image:42").await;
    /// assert_eq!(removed.removed, 0);
    /// assert!(removed.is_complete());
    /// # }
    /// ```
    pub async fn invalidate_tag(&self, tag: &str) -> Removed {
        self.invalidate_tags(&[tag]).await
    }

    /// Removes every entry tagged with any of `tags`.
    pub async fn invalidate_tags(&self, tags: &[&str]) -> Removed {
        self.invalidate_everywhere(Invalidation::Tags {
            tags: tags.iter().map(|&t| t.into()).collect(),
            keep: None,
            soft: false,
        })
        .await
    }

    /// Removes every entry tagged with any of `tags` whose ETag differs from `etag`.
    pub async fn invalidate_tags_if_changed(&self, tags: &[&str], etag: &ETag) -> Removed {
        self.invalidate_everywhere(Invalidation::Tags {
            tags: tags.iter().map(|&t| t.into()).collect(),
            keep: Some(etag.clone()),
            soft: false,
        })
        .await
    }

    /// Marks the entry under `key` stale instead of removing it (a soft
    /// purge): the next request is answered from it while one refresh
    /// replaces it, within the policy's
    /// [`stale_while_revalidate`](crate::PolicyBuilder::stale_while_revalidate)
    /// window (else it waits for the refresh, as on a miss), and a refresh
    /// that finds the same ETag keeps the stored body and only extends its
    /// life. Fills that began before it are discarded, as after any
    /// invalidation. A remote store that cannot mark entries removes them
    /// (Redis does, and tells the other instances to mark their copies).
    pub async fn invalidate_soft(&self, key: &Key) -> Removed {
        self.invalidate_everywhere(Invalidation::Key {
            key: key.clone(),
            keep: None,
            soft: true,
        })
        .await
    }

    /// Marks every entry tagged with any of `tags` stale instead of removing
    /// it (see [`invalidate_soft`](Self::invalidate_soft)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = cached_etag_runtime::Cache::new();
    /// let marked = cache.invalidate_tags_soft(&["image:42"]).await;
    /// assert_eq!(marked.removed, 0);
    /// # }
    /// ```
    pub async fn invalidate_tags_soft(&self, tags: &[&str]) -> Removed {
        self.invalidate_everywhere(Invalidation::Tags {
            tags: tags.iter().map(|&t| t.into()).collect(),
            keep: None,
            soft: true,
        })
        .await
    }

    /// Removes every entry.
    pub async fn clear(&self) -> Removed {
        self.invalidate_everywhere(Invalidation::Clear).await
    }

    /// Invalidates here, then in the remote store, then here again.
    ///
    /// The second local pass closes a race: a read that missed memory while
    /// the remote call was in flight may have found the old entry still in
    /// the store and copied it into memory (its fence started after the
    /// first pass). The second pass stamps the names again and removes such
    /// a copy; a read that starts after it finds the store already changed.
    async fn invalidate_everywhere(&self, invalidation: Invalidation) -> Removed {
        let mut removed = self.invalidate_locally(&invalidation);
        let Some(remote) = &self.inner.remote else {
            return self.count(removed);
        };
        match self.invalidate_remote(remote, &invalidation).await {
            // The memory layer and the remote store hold mostly the same
            // entries, so the larger count of each describes the change.
            Some(there) => {
                removed.removed = removed.removed.max(there.removed);
                removed.skipped = removed.skipped.max(there.skipped);
            }
            None => {
                removed.remote_errors += 1;
                self.defer(invalidation.clone());
            }
        }
        let again = self.invalidate_locally(&invalidation);
        removed.removed += again.removed;
        self.count(removed)
    }

    /// Stamps the names, removes their entries from memory, then dooms the
    /// remote puts they name: a fill that started earlier and commits later
    /// sees the stamp; one that committed earlier has its entry removed here
    /// and its put doomed (it registered the put under the fence, before the
    /// stamp). Dooming before stamping would miss a put committed between
    /// the two.
    fn invalidate_locally(&self, invalidation: &Invalidation) -> Removed {
        let generations = &self.inner.generations;
        let memory = &self.inner.memory;
        let routes = &self.inner.routes;
        let each = |key: &[u8], kept: bool| routes.invalidated(key, kept);
        let removed = match invalidation {
            Invalidation::Key { key, keep, soft } => {
                generations.bump([key.as_bytes()]);
                let (key, keep) = (key.as_bytes(), keep.as_ref());
                match soft {
                    true => memory.soften_each(key, keep, each),
                    false => memory.remove_each(key, keep, each),
                }
            }
            Invalidation::Tags { tags, keep, soft } => {
                generations.bump(tags.iter().map(|t| t.as_bytes()));
                let tags: Vec<&str> = tags.iter().map(|t| &**t).collect();
                match soft {
                    true => memory.soften_tags_each(&tags, keep.as_ref(), each),
                    false => memory.remove_tags_each(&tags, keep.as_ref(), each),
                }
            }
            Invalidation::Clear => {
                generations.bump_all();
                memory.clear();
                Removed::default()
            }
        };
        self.inner.puts.doom(invalidation);
        removed
    }

    /// One invalidation in the remote store; `None` if the call failed.
    async fn invalidate_remote(
        &self,
        remote: &Arc<dyn Store>,
        invalidation: &Invalidation,
    ) -> Option<Removed> {
        match invalidation {
            Invalidation::Key { key, keep, soft } => {
                let (key, keep) = (key.as_bytes(), keep.as_ref());
                let call = match soft {
                    true => remote.soften(key, keep),
                    false => remote.remove(key, keep),
                };
                self.remote_call("remove", call).await
            }
            Invalidation::Tags { tags, keep, soft } => {
                let tags: Vec<&str> = tags.iter().map(|t| &**t).collect();
                let call = match soft {
                    true => remote.soften_tags(&tags, keep.as_ref()),
                    false => remote.remove_tags(&tags, keep.as_ref()),
                };
                self.remote_call("remove_tags", call).await
            }
            Invalidation::Clear => {
                let call = remote.clear();
                self.remote_call("clear", call)
                    .await
                    .map(|()| Removed::default())
            }
        }
    }

    /// Keeps an invalidation the remote store refused, and starts replaying
    /// the queue unless a replay is running.
    fn defer(&self, invalidation: Invalidation) {
        if self.inner.outbox.push(invalidation) {
            tokio::spawn(replay(Arc::downgrade(&self.inner)));
        }
    }

    fn count(&self, removed: Removed) -> Removed {
        let counters = &self.inner.counters;
        Counters::add(&counters.invalidations, removed.removed);
        Counters::add(&counters.invalidations_skipped, removed.skipped);
        #[cfg(feature = "metrics")]
        self.inner.series.held(&self.inner.memory);
        removed
    }
}

/// Replays deferred invalidations, oldest first, with a backoff while the
/// store keeps refusing, until none is left or the cache is dropped.
async fn replay(inner: Weak<Inner>) {
    let mut backoff = REPLAY_BACKOFF.0;
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let cache = Cache { inner };
        let (Some(next), Some(remote)) = (cache.inner.outbox.next(), &cache.inner.remote) else {
            return;
        };
        if cache.invalidate_remote(remote, &next).await.is_some() {
            // Stamp the names again before the outbox stops blocking them:
            // a remote read that began before the store changed may still
            // carry the old entry, and now its commit is refused.
            cache.invalidate_locally(&next);
            cache.inner.outbox.confirmed();
            tracing::info!(invalidation = ?next, "deferred invalidation reached the store");
            backoff = REPLAY_BACKOFF.0;
            continue;
        }
        drop(cache);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(REPLAY_BACKOFF.1);
    }
}

/// How many applied events a [`Cache::subscribe`] receiver may fall behind.
const APPLIED_CAPACITY: usize = 1024;

/// The cache used when neither `cache = …` nor an `Extension<Cache>` names
/// one: 10 000 entries, 64 MiB, per process.
pub fn default_cache() -> &'static Cache {
    static DEFAULT: LazyLock<Cache> = LazyLock::new(Cache::new);
    &DEFAULT
}

/// Something that names a [`Cache`]: the argument of `cache = …`.
pub trait AsCache {
    /// The cache (a cheap clone).
    fn as_cache(&self) -> Cache;
}

impl AsCache for Cache {
    fn as_cache(&self) -> Cache {
        self.clone()
    }
}

impl<T: AsCache + ?Sized> AsCache for &T {
    fn as_cache(&self) -> Cache {
        (**self).as_cache()
    }
}

impl<T: AsCache + ?Sized> AsCache for Arc<T> {
    fn as_cache(&self) -> Cache {
        (**self).as_cache()
    }
}
