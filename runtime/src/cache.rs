//! The engine: lookup, single-flight fill, preconditions, invalidation, stats.
//!
//! [`Cache::respond`] is the whole request path, written once and called by
//! the attribute's expansion and by hand-written handlers alike:
//!
//! 1. Methods other than GET and HEAD run the handler untouched.
//! 2. A `check` ETag that matches the client's `If-None-Match` answers 304
//!    before anything else runs.
//! 3. Requests carrying credentials the policy does not key on bypass the
//!    shared store, and still get an ETag and a 304.
//! 4. A stored entry answers 200 or 304; the ETag was computed when it was
//!    stored, never per hit.
//! 5. A miss joins or leads a single flight; the leader's handler runs in its
//!    own task so that a client hanging up does not waste the work.
//!
//! Store failures never fail a request: they are counted, logged, and the
//! handler runs (fail open).

mod flight;
mod generation;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Response, Uri};
use http_body::Body;
use tracing::Instrument;

use crate::conditional::{Current, Outcome, Preconditions};
use crate::response::{self, Finish, Finished, Fresh};
use crate::stats::Counters;
use crate::store::{Entry, EntryRef, MemoryStore, Removed, Store, StoreError};
use crate::{ETag, Event, Key, Policy, Stats};

use flight::{Flights, Role, State};
use generation::Generations;

/// Default wait for another request's fill of the same key (as nginx's
/// `proxy_cache_lock_timeout`).
pub const DEFAULT_COALESCE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of one remote store call.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(100);
/// Default largest key stored; longer keys (huge query strings) bypass.
pub const DEFAULT_MAX_KEY_BYTES: usize = 4 << 10;
/// Default largest body stored; larger ones are served and not stored.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// The request as the engine needs it: method, URI and headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        RequestHead {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
        }
    }
}

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
    id: u64,
    memory: MemoryStore,
    remote: Option<Arc<dyn Store>>,
    store_timeout: Duration,
    coalesce_timeout: Duration,
    max_key_bytes: usize,
    max_body_bytes: usize,
    flights: Arc<Flights>,
    generations: Generations,
    counters: Counters,
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
}

impl std::fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("remote", &self.remote.is_some())
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

    /// Builds the cache.
    pub fn build(self) -> Cache {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Cache {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                memory: MemoryStore::new(self.max_entries, self.max_bytes),
                remote: self.remote,
                store_timeout: self.store_timeout,
                coalesce_timeout: self.coalesce_timeout,
                max_key_bytes: self.max_key_bytes,
                max_body_bytes: self.max_body_bytes,
                flights: Arc::default(),
                generations: Generations::default(),
                counters: Counters::default(),
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
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let memory = &self.inner.memory;
        Stats {
            evictions: memory.evictions(),
            expirations: memory.expirations(),
            entries: memory.len() as u64,
            bytes_held: memory.bytes(),
            ..self.inner.counters.snapshot()
        }
    }

    /// The memory layer.
    pub fn memory(&self) -> &MemoryStore {
        &self.inner.memory
    }

    /// Answers a request under `policy`: from the store, with a 304, or by
    /// running `fill` (the handler) and storing what it made.
    ///
    /// `tags` are the request's own tags (the policy's literal tags are
    /// added); `check` is a cheap validator: when it matches the client's
    /// `If-None-Match` the answer is 304 without running anything, and a
    /// stored entry with another ETag is stale. `fill` runs in its own task
    /// on a miss, so that it completes even if the client goes away.
    ///
    /// ```
    /// use std::sync::{Arc, LazyLock};
    /// use cached_etag_runtime::{Cache, Fresh, Policy, RequestHead};
    ///
    /// static POLICY: LazyLock<Arc<Policy>> =
    ///     LazyLock::new(|| Policy::builder("docs::hello").tags(&["hello"]).build());
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let request = http::Request::get("/hello").body(()).unwrap();
    /// let (parts, ()) = request.into_parts();
    /// type Body = http_body_util::Full<bytes::Bytes>;
    /// let response: http::Response<Body> = cache
    ///     .respond(RequestHead::from(&parts), &POLICY, Vec::new(), None, async {
    ///         Fresh::new(http::Response::new(Body::from("hello")))
    ///     })
    ///     .await;
    /// assert!(response.headers().contains_key("etag"));
    /// assert_eq!(cache.stats().stores, 1);
    /// # }
    /// ```
    pub async fn respond<B, F>(
        &self,
        request: RequestHead<'_>,
        policy: &Arc<Policy>,
        tags: Vec<String>,
        check: Option<ETag>,
        fill: F,
    ) -> Response<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let method = request.method;
        if method != Method::GET && method != Method::HEAD {
            return fill.await.response;
        }
        let counters = &self.inner.counters;
        let headers = request.headers;
        let preconditions = Preconditions::new(headers);
        let check = check.map(|etag| etag.with_weak(!policy.is_strong()));
        let per_user = !policy.is_shared()
            && !policy.keys_on_user()
            && (headers.contains_key(header::AUTHORIZATION)
                || headers.contains_key(header::COOKIE));

        if let (Some(etag), false) = (&check, preconditions.is_empty()) {
            let current = Current {
                exists: true,
                etag: Some(etag),
                last_modified: None,
            };
            match preconditions.evaluate(method, current) {
                Outcome::NotModified => {
                    Counters::bump(&counters.not_modified);
                    return response::not_modified(&check_headers(policy, etag, per_user));
                }
                Outcome::PreconditionFailed => {
                    Counters::bump(&counters.precondition_failed);
                    return response::precondition_failed();
                }
                Outcome::Proceed => {}
            }
        }

        let key = (!per_user)
            .then(|| {
                let uri = request.uri;
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| uri.host())
                    .unwrap_or("");
                Key::for_request(policy, method, host, uri.path(), uri.query(), headers)
            })
            .filter(|key| key.len() <= self.inner.max_key_bytes);
        let Some(key) = key else {
            Counters::bump(&counters.bypassed);
            Counters::bump(&counters.misses);
            let tags = all_tags(policy, tags);
            let finish = self.finish(policy, &tags, check.as_ref(), per_user);
            let response = match finish.run(fill.await).await {
                Finished::Storable(entry) => response::from_entry(&entry),
                Finished::Unstorable(response) => response,
            };
            return self.answer_fresh(response, &preconditions, method);
        };

        if let Some(entry) = self.lookup(&key, check.as_ref()).await {
            Counters::bump(&counters.hits);
            return self.answer(&entry, &preconditions, method);
        }
        Counters::bump(&counters.misses);
        let tags = all_tags(policy, tags);

        match self.inner.flights.join(&key) {
            Role::Leader(landing) => {
                let task = self
                    .clone()
                    .fill(key, policy.clone(), tags, check, landing, fill);
                match tokio::spawn(task.in_current_span()).await {
                    Ok(Finished::Storable(entry)) => self.answer(&entry, &preconditions, method),
                    Ok(Finished::Unstorable(response)) => {
                        self.answer_fresh(response, &preconditions, method)
                    }
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => {
                        // Only a runtime shutting down cancels the task.
                        let mut response = Response::new(B::from(Bytes::new()));
                        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                        response
                    }
                }
            }
            Role::Waiter(mut receiver) => {
                Counters::bump(&counters.coalesced);
                let waited = tokio::time::timeout(self.inner.coalesce_timeout, async {
                    // Clone out of the channel's read guard: it must not be
                    // held across an await (it is not Send).
                    let state = receiver.wait_for(|s| !matches!(s, State::Pending)).await;
                    state.map(|state| state.clone())
                })
                .await;
                let stored = match waited {
                    Ok(Ok(State::Stored(entry))) => Some(entry),
                    Ok(_) => None,
                    Err(_) => {
                        Counters::bump(&counters.coalesce_timeouts);
                        tracing::debug!(?key, "coalesced wait timed out; running the handler");
                        None
                    }
                };
                if let Some(entry) = stored {
                    return self.answer(&entry, &preconditions, method);
                }
                // The leader's response was not for sharing: make our own.
                let finish = self.finish(policy, &tags, check.as_ref(), per_user);
                let response = match finish.run(fill.await).await {
                    Finished::Storable(entry) => {
                        let entry = self.inner.memory.insert(key.as_bytes(), entry);
                        Counters::bump(&counters.stores);
                        response::from_entry(&entry)
                    }
                    Finished::Unstorable(response) => response,
                };
                self.answer_fresh(response, &preconditions, method)
            }
        }
    }

    fn finish<'a>(
        &self,
        policy: &'a Policy,
        tags: &'a [Arc<str>],
        check: Option<&'a ETag>,
        per_user: bool,
    ) -> Finish<'a> {
        Finish {
            policy,
            tags,
            check,
            per_user,
            max_body: self.inner.max_body_bytes,
        }
    }

    /// The leader's fill, in its own task: run the handler, finish the
    /// response, store it unless an invalidation overtook it.
    async fn fill<B, F>(
        self,
        key: Key,
        policy: Arc<Policy>,
        tags: Vec<Arc<str>>,
        check: Option<ETag>,
        mut landing: flight::Landing,
        fill: F,
    ) -> Finished<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let start = self.inner.generations.start();
        let fresh = fill.await;
        let finished = self
            .finish(&policy, &tags, check.as_ref(), false)
            .run(fresh)
            .await;
        let Finished::Storable(entry) = finished else {
            Counters::bump(&self.inner.counters.not_stored);
            return finished;
        };
        let names = tags.iter().map(|t| t.as_bytes()).chain([key.as_bytes()]);
        let mut stored = None;
        self.inner.generations.commit(start, names, || {
            stored = Some(self.inner.memory.insert(key.as_bytes(), entry.clone()));
        });
        let Some(stored) = stored else {
            Counters::bump(&self.inner.counters.not_stored);
            tracing::debug!(?key, "fill overtaken by an invalidation; not stored");
            return Finished::Storable(entry);
        };
        Counters::bump(&self.inner.counters.stores);
        landing.stored(stored);
        drop(landing);
        if let Some(remote) = &self.inner.remote {
            let put = remote.put(key.as_bytes(), &entry);
            let _ = self.remote_call("put", put).await;
        }
        Finished::Storable(entry)
    }

    /// The entry answering `key`, from memory or the remote store.
    async fn lookup(&self, key: &Key, check: Option<&ETag>) -> Option<EntryRef> {
        let memory = &self.inner.memory;
        let entry = match memory.get(key.as_bytes()) {
            Some(entry) => entry,
            None => {
                let remote = self.inner.remote.as_ref()?;
                // An invalidation that lands while the remote answer is in
                // flight must win: the answer enters memory only through the
                // fence, like a fill.
                let start = self.inner.generations.start();
                let entry = self
                    .remote_call("get", remote.get(key.as_bytes()))
                    .await??;
                let tags = entry.tags.clone();
                let names = tags.iter().map(|t| t.as_bytes()).chain([key.as_bytes()]);
                let mut stored = None;
                self.inner.generations.commit(start, names, || {
                    stored = Some(memory.insert(key.as_bytes(), entry));
                });
                stored?
            }
        };
        // A cheap validator that disagrees with the stored ETag means the
        // entry describes an old state.
        if let Some(check) = check
            && !check.weak_eq(&entry.etag)
        {
            memory.remove(key.as_bytes(), None);
            return None;
        }
        Some(entry)
    }

    /// Runs one remote store call under the timeout; errors are counted,
    /// logged, and become `None` so that the request runs its handler.
    async fn remote_call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Option<T> {
        let result = match tokio::time::timeout(self.inner.store_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(self.inner.store_timeout)),
        };
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                Counters::bump(&self.inner.counters.store_errors);
                tracing::warn!(%error, op, "cache store call failed; serving without it");
                None
            }
        }
    }

    fn answer<B: From<Bytes>>(
        &self,
        entry: &Entry,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Response<B> {
        let current = Current {
            exists: true,
            etag: Some(&entry.etag),
            last_modified: entry.last_modified,
        };
        match self.evaluate(preconditions, method, current, entry.body.len()) {
            Outcome::Proceed => response::from_entry(entry),
            Outcome::NotModified => response::not_modified(&entry.headers),
            Outcome::PreconditionFailed => response::precondition_failed(),
        }
    }

    fn answer_fresh<B: Body + From<Bytes>>(
        &self,
        response: Response<B>,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Response<B> {
        if preconditions.is_empty() || response.status() != http::StatusCode::OK {
            return response;
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| ETag::try_from(v).ok());
        let last_modified = response
            .headers()
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        let current = Current {
            exists: true,
            etag: etag.as_ref(),
            last_modified,
        };
        let size = response.body().size_hint().exact().unwrap_or(0) as usize;
        match self.evaluate(preconditions, method, current, size) {
            Outcome::Proceed => response,
            Outcome::NotModified => response::not_modified(response.headers()),
            Outcome::PreconditionFailed => response::precondition_failed(),
        }
    }

    fn evaluate(
        &self,
        preconditions: &Preconditions<'_>,
        method: &Method,
        current: Current<'_>,
        body_len: usize,
    ) -> Outcome {
        if preconditions.is_empty() {
            return Outcome::Proceed;
        }
        let outcome = preconditions.evaluate(method, current);
        let counters = &self.inner.counters;
        match outcome {
            Outcome::NotModified => {
                Counters::bump(&counters.not_modified);
                Counters::add(&counters.bytes_saved, body_len as u64);
            }
            Outcome::PreconditionFailed => Counters::bump(&counters.precondition_failed),
            Outcome::Proceed => {}
        }
        outcome
    }

    /// Removes the entry under `key`.
    pub async fn invalidate(&self, key: &Key) -> Removed {
        self.remove_key(key, None).await
    }

    /// Removes the entry under `key` unless its ETag equals `etag`: a write
    /// that did not change the representation keeps the entry (counted as
    /// skipped).
    pub async fn invalidate_if_changed(&self, key: &Key, etag: &ETag) -> Removed {
        self.remove_key(key, Some(etag)).await
    }

    /// Removes every entry tagged `tag`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = cached_etag_runtime::Cache::new();
    /// let removed = cache.invalidate_tag("image:42").await;
    /// assert_eq!(removed.removed, 0);
    /// # }
    /// ```
    pub async fn invalidate_tag(&self, tag: &str) -> Removed {
        self.remove_tags(&[tag], None).await
    }

    /// Removes every entry tagged with any of `tags`.
    pub async fn invalidate_tags(&self, tags: &[&str]) -> Removed {
        self.remove_tags(tags, None).await
    }

    /// Removes every entry tagged with any of `tags` whose ETag differs from `etag`.
    pub async fn invalidate_tags_if_changed(&self, tags: &[&str], etag: &ETag) -> Removed {
        self.remove_tags(tags, Some(etag)).await
    }

    /// Removes every entry.
    pub async fn clear(&self) {
        self.inner.generations.bump_all();
        self.inner.memory.clear();
        if let Some(remote) = &self.inner.remote {
            let _ = self.remote_call("clear", remote.clear()).await;
        }
    }

    /// Applies an invalidation event: its key and tags are invalidated,
    /// keeping entries whose ETag equals the event's.
    pub async fn apply(&self, event: &Event) -> Removed {
        let mut removed = Removed::default();
        if let Some(key) = &event.key {
            removed += self.remove_key(key, event.etag.as_ref()).await;
        }
        if !event.tags.is_empty() {
            let tags: Vec<&str> = event.tags.iter().map(String::as_str).collect();
            removed += self.remove_tags(&tags, event.etag.as_ref()).await;
        }
        if event.clear {
            self.clear().await;
        }
        removed
    }

    /// Applies an event to this process's memory layer only, not to the
    /// remote store: for invalidations another instance already applied to
    /// the shared store and announced (the Redis store's channel).
    pub fn apply_local(&self, event: &Event) -> Removed {
        let keep = event.etag.as_ref();
        let mut removed = Removed::default();
        if event.clear {
            self.inner.generations.bump_all();
            self.inner.memory.clear();
        }
        if let Some(key) = &event.key {
            removed += self.remove_key_locally(key, keep);
        }
        if !event.tags.is_empty() {
            let tags: Vec<&str> = event.tags.iter().map(String::as_str).collect();
            removed += self.remove_tags_locally(&tags, keep);
        }
        self.count(removed)
    }

    /// Like [`listen`](Self::listen), applying each event with
    /// [`apply_local`](Self::apply_local).
    pub fn listen_local<S>(&self, events: S) -> tokio::task::JoinHandle<()>
    where
        S: futures_core::Stream<Item = Event> + Send + 'static,
    {
        self.spawn_listener(events, true)
    }

    /// Applies every event of `events` in a task of its own, until the
    /// stream ends. Drive it from a database notification, a message queue
    /// or a `tokio::sync::broadcast` channel (see [`Event`]).
    pub fn listen<S>(&self, events: S) -> tokio::task::JoinHandle<()>
    where
        S: futures_core::Stream<Item = Event> + Send + 'static,
    {
        self.spawn_listener(events, false)
    }

    fn spawn_listener<S>(&self, events: S, local: bool) -> tokio::task::JoinHandle<()>
    where
        S: futures_core::Stream<Item = Event> + Send + 'static,
    {
        use futures_util::StreamExt;
        let cache = self.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                let removed = if local {
                    cache.apply_local(&event)
                } else {
                    cache.apply(&event).await
                };
                tracing::debug!(
                    ?event,
                    removed = removed.removed,
                    skipped = removed.skipped,
                    "event applied"
                );
            }
        })
    }

    /// Applies `event` here, then sends it to every listener of `sender`.
    ///
    /// When this returns, this cache no longer serves what the event
    /// invalidated (read-your-writes for the writer's next request), and the
    /// cache's own [`listen_broadcast`](Self::listen_broadcast) skips the
    /// event instead of applying it twice.
    ///
    /// ```
    /// use cached_etag_runtime::{Cache, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let (events, receiver) = tokio::sync::broadcast::channel(64);
    /// cache.listen_broadcast(receiver);
    /// cache.publish(&events, Event::tags(["camera:2"])).await;
    /// # }
    /// ```
    pub async fn publish(
        &self,
        sender: &tokio::sync::broadcast::Sender<Event>,
        mut event: Event,
    ) -> Removed {
        let removed = self.apply(&event).await;
        event.origin = Some(self.inner.id);
        // No receiver is not an error: nobody else needed to hear it.
        let _ = sender.send(event);
        removed
    }

    /// Applies every event sent on `receiver` in a task of its own. If the
    /// task falls behind and the channel drops events, the whole cache is
    /// cleared: what changed is unknown, and stale entries are worse than
    /// misses.
    pub fn listen_broadcast(
        &self,
        mut receiver: tokio::sync::broadcast::Receiver<Event>,
    ) -> tokio::task::JoinHandle<()> {
        use tokio::sync::broadcast::error::RecvError;
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                match receiver.recv().await {
                    Ok(event) if event.origin == Some(cache.inner.id) => {}
                    Ok(event) => {
                        cache.apply(&event).await;
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "invalidation events lost; clearing the cache");
                        cache.clear().await;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    async fn remove_key(&self, key: &Key, keep: Option<&ETag>) -> Removed {
        let local = self.remove_key_locally(key, keep);
        let remote = match &self.inner.remote {
            Some(remote) => {
                self.remote_call("remove", remote.remove(key.as_bytes(), keep))
                    .await
            }
            None => None,
        };
        self.count(widest(local, remote))
    }

    async fn remove_tags(&self, tags: &[&str], keep: Option<&ETag>) -> Removed {
        let local = self.remove_tags_locally(tags, keep);
        let remote = match &self.inner.remote {
            Some(remote) => {
                self.remote_call("remove_tags", remote.remove_tags(tags, keep))
                    .await
            }
            None => None,
        };
        self.count(widest(local, remote))
    }

    /// Stamps the key, then removes it from memory: a fill that started
    /// earlier and commits later sees the stamp; one that committed earlier
    /// is removed here.
    fn remove_key_locally(&self, key: &Key, keep: Option<&ETag>) -> Removed {
        self.inner.generations.bump([key.as_bytes()]);
        self.inner.memory.remove(key.as_bytes(), keep)
    }

    /// Stamps the tags, then removes their entries from memory (see
    /// [`remove_key_locally`](Self::remove_key_locally)).
    fn remove_tags_locally(&self, tags: &[&str], keep: Option<&ETag>) -> Removed {
        self.inner
            .generations
            .bump(tags.iter().map(|t| t.as_bytes()));
        self.inner.memory.remove_tags(tags, keep)
    }

    fn count(&self, removed: Removed) -> Removed {
        let counters = &self.inner.counters;
        Counters::add(&counters.invalidations, removed.removed);
        Counters::add(&counters.invalidations_skipped, removed.skipped);
        removed
    }
}

/// What an invalidation did: the memory layer and the remote store hold
/// mostly the same entries, so the larger count of each describes it.
fn widest(local: Removed, remote: Option<Removed>) -> Removed {
    let remote = remote.unwrap_or_default();
    Removed {
        removed: local.removed.max(remote.removed),
        skipped: local.skipped.max(remote.skipped),
        remote_errors: 0,
    }
}

/// The policy's literal tags followed by the request's own.
fn all_tags(policy: &Policy, tags: Vec<String>) -> Vec<Arc<str>> {
    let mut all = Vec::with_capacity(policy.tags().len() + tags.len());
    all.extend(policy.tags().iter().cloned());
    all.extend(tags.into_iter().map(Arc::from));
    all
}

/// The headers a 200 would carry when a `check` validator alone answers.
fn check_headers(policy: &Policy, etag: &ETag, per_user: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag.to_header_value());
    let cache_control = if per_user {
        policy.private_cache_control()
    } else {
        policy.cache_control().clone()
    };
    headers.insert(header::CACHE_CONTROL, cache_control);
    if let Some(vary) = policy.vary_header() {
        headers.insert(header::VARY, vary.clone());
    }
    headers
}
