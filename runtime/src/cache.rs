//! The engine: lookup, single-flight fill, preconditions, invalidation, stats.
//!
//! [`Cache::respond`] is the whole request path, written once and called by
//! the attribute's expansion and by hand-written handlers alike:
//!
//! 1. Methods other than GET and HEAD run the handler untouched.
//! 2. Requests carrying a credential header the policy does not open
//!    bypass the shared store, and still get an ETag and a 304.
//! 3. A stored entry answers 200 or 304; the ETag was computed when it was
//!    stored, never per hit.
//! 4. A `check` ETag that matches the client's `If-None-Match` answers 304
//!    when nothing is stored, before the handler runs.
//! 5. A miss joins or leads a single flight; the leader's handler runs in its
//!    own task so that a client hanging up does not waste the work.
//!
//! Every entry enters memory through one fence ([`generation`]): a response
//! whose making began before an invalidation of its key or tags is never
//! stored, whichever path made it (a leader, a waiter, a remote read).
//! Store failures never fail a request: they are counted, logged, and the
//! handler runs (fail open); an invalidation the remote store refused is
//! replayed until it lands ([`outbox`]).

mod flight;
mod generation;
mod outbox;

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, Response};
use http_body::Body;
use tracing::Instrument;

use crate::conditional::{Current, Outcome, Preconditions};
use crate::response::{self, Finish, Finished, Fresh, Validators};
use crate::stats::Counters;
use crate::store::{Entry, EntryRef, MemoryStore, Removed, Store, StoreError};
use crate::{ETag, Event, Key, Policy, RequestHead, Stats};

use flight::{Flights, Role, State};
use generation::{Generations, Start};
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
    id: u64,
    memory: MemoryStore,
    remote: Option<Arc<dyn Store>>,
    store_timeout: Duration,
    coalesce_timeout: Duration,
    max_key_bytes: usize,
    max_body_bytes: usize,
    credentials: Box<[HeaderName]>,
    flights: Arc<Flights>,
    generations: Generations,
    outbox: Outbox,
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
    credentials: Vec<HeaderName>,
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
                credentials: self.credentials.into(),
                flights: Arc::default(),
                generations: Generations::default(),
                outbox: Outbox::default(),
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
            credentials: DEFAULT_CREDENTIAL_HEADERS.to_vec(),
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
            invalidations_pending: self.inner.outbox.len() as u64,
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
    /// added); `check` is a cheap validator: a stored entry with another
    /// ETag is stale, and when nothing is stored and it matches the client's
    /// `If-None-Match` the answer is 304 without running anything. `fill`
    /// runs in its own task on a miss, so that it completes even if the
    /// client goes away.
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
        let preconditions = Preconditions::new(request.headers);
        let check = check.map(|etag| etag.with_weak(!policy.is_strong()));
        let per_user = self.is_per_user(policy, request.headers);
        let known_vary = policy.learned_vary_len();
        let key = (!per_user)
            .then(|| Key::of(policy, &request, known_vary))
            .filter(|key| key.len() <= self.inner.max_key_bytes);

        if let Some(key) = &key
            && let Some(entry) = self.lookup(key, policy, check.as_ref()).await
        {
            Counters::bump(&counters.hits);
            return self.answer(&entry, &preconditions, method);
        }
        let tags = all_tags(policy, tags);
        let finish = Finish {
            policy,
            tags: &tags,
            check: check.as_ref(),
            per_user,
            known_vary,
            max_body: self.inner.max_body_bytes,
        };
        if let Some(check) = &check
            && let Some(response) = self.answer_by_check(&finish, check, &preconditions, method)
        {
            return response;
        }
        Counters::bump(&counters.misses);
        let Some(key) = key else {
            Counters::bump(&counters.bypassed);
            return self
                .run_alone(None, &finish, fill, &preconditions, method)
                .await;
        };

        match self.inner.flights.join(&key) {
            Role::Leader(landing) => {
                let task = self.clone().lead(
                    key,
                    policy.clone(),
                    tags.clone(),
                    check.clone(),
                    known_vary,
                    landing,
                    fill,
                );
                match tokio::spawn(task.in_current_span()).await {
                    Ok(made) => self.answer_made(made, &preconditions, method),
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => {
                        // Only a runtime shutting down cancels the task.
                        let mut response = Response::new(B::from(Bytes::new()));
                        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                        response
                    }
                }
            }
            Role::Waiter(receiver) => match self.wait(&key, receiver).await {
                Some(entry) => self.answer(&entry, &preconditions, method),
                // The leader's response was not for sharing: make our own.
                None => {
                    self.run_alone(Some(&key), &finish, fill, &preconditions, method)
                        .await
                }
            },
        }
    }

    /// Whether the request carries a credential header the policy does not
    /// open: then it is answered by its handler alone.
    fn is_per_user(&self, policy: &Policy, headers: &HeaderMap) -> bool {
        self.inner
            .credentials
            .iter()
            .any(|name| !policy.opens(name) && headers.contains_key(name))
    }

    /// A 304 or 412 from the `check` validator alone, when nothing is stored
    /// to judge by; `None` when the handler must run.
    fn answer_by_check<B: From<Bytes>>(
        &self,
        finish: &Finish<'_>,
        check: &ETag,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Option<Response<B>> {
        // RFC 9110 §13.2.2 step 2 compares If-Unmodified-Since with the
        // Last-Modified, which only the handler knows: let it run.
        if preconditions.is_empty() || preconditions.has_if_unmodified_since() {
            return None;
        }
        let counters = &self.inner.counters;
        match preconditions.evaluate(method, Current::new(Some(check), None)) {
            Outcome::Proceed => None,
            Outcome::NotModified => {
                Counters::bump(&counters.not_modified);
                // RFC 9110 §15.4.5: the headers the 200 would carry, from
                // the one function that stamps them on the 200.
                let mut headers = HeaderMap::new();
                finish.stamp(&mut headers, check, None);
                Some(response::not_modified(&headers))
            }
            Outcome::PreconditionFailed => {
                Counters::bump(&counters.precondition_failed);
                Some(response::precondition_failed())
            }
        }
    }

    /// Waits, bounded, for the leader of `key`; its entry if it stored one.
    async fn wait(&self, key: &Key, mut receiver: flight::Receiver) -> Option<EntryRef> {
        Counters::bump(&self.inner.counters.coalesced);
        let waited = tokio::time::timeout(self.inner.coalesce_timeout, async {
            // Clone out of the channel's read guard: it must not be held
            // across an await (it is not Send).
            let state = receiver.wait_for(|s| !matches!(s, State::Pending)).await;
            state.map(|state| state.clone())
        })
        .await;
        match waited {
            Ok(Ok(State::Stored(entry))) => Some(entry),
            Ok(_) => None,
            Err(_) => {
                Counters::bump(&self.inner.counters.coalesce_timeouts);
                tracing::debug!(?key, "coalesced wait timed out; running the handler");
                None
            }
        }
    }

    /// Runs the handler for this request alone, outside any flight: for a
    /// request that bypasses the store (no `key`), or a waiter whose leader
    /// made nothing to share. What it stores goes through the same fence
    /// as a leader's fill.
    async fn run_alone<B, F>(
        &self,
        key: Option<&Key>,
        finish: &Finish<'_>,
        fill: F,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Response<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let start = self.inner.generations.start();
        let finished = finish.run(fill.await).await;
        let made = match (finished, key) {
            (Finished::Storable(entry), Some(key)) => self.store(key, start, entry).await,
            (finished, _) => Made::from(finished),
        };
        self.answer_made(made, preconditions, method)
    }

    /// The leader's fill, in its own task: run the handler, finish the
    /// response, store it unless an invalidation overtook it.
    #[allow(clippy::too_many_arguments)]
    async fn lead<B, F>(
        self,
        key: Key,
        policy: Arc<Policy>,
        tags: Vec<Arc<str>>,
        check: Option<ETag>,
        known_vary: usize,
        mut landing: flight::Landing,
        fill: F,
    ) -> Made<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
        F: Future<Output = Fresh<B>> + Send + 'static,
    {
        let start = self.inner.generations.start();
        let finish = Finish {
            policy: &policy,
            tags: &tags,
            check: check.as_ref(),
            per_user: false,
            known_vary,
            max_body: self.inner.max_body_bytes,
        };
        let finished = finish.run(fill.await).await;
        let Finished::Storable(entry) = finished else {
            Counters::bump(&self.inner.counters.not_stored);
            return Made::from(finished);
        };
        let made = self.store_fresh(&key, start, entry);
        if let Made::Stored(entry) = &made {
            // Waiters are served before the remote put: they need not wait
            // for the network.
            landing.stored(entry.clone());
            drop(landing);
            self.put_remote(&key, entry).await;
        }
        made
    }

    /// Stores a storable entry made under `key` since `start`: memory
    /// through the fence, then the remote store.
    async fn store<B>(&self, key: &Key, start: Start, entry: Entry) -> Made<B> {
        let made = self.store_fresh(key, start, entry);
        if let Made::Stored(entry) = &made {
            self.put_remote(key, entry).await;
        }
        made
    }

    /// Commits a response this instance made, and counts what came of it.
    fn store_fresh<B>(&self, key: &Key, start: Start, entry: Entry) -> Made<B> {
        let counters = &self.inner.counters;
        match self.commit(key, start, entry) {
            Ok(stored) => {
                Counters::bump(&counters.stores);
                Made::Stored(stored)
            }
            Err(entry) => {
                Counters::bump(&counters.not_stored);
                tracing::debug!(?key, "fill overtaken by an invalidation; not stored");
                Made::Entry(*entry)
            }
        }
    }

    /// The one way an entry enters memory, made here or read from the
    /// remote store: unless an invalidation of its key or one of its tags
    /// began after `start`. A refused entry is handed back (boxed: refusals
    /// are rare, and the `Result` stays small).
    fn commit(&self, key: &Key, start: Start, entry: Entry) -> Result<EntryRef, Box<Entry>> {
        let tags = entry.tags.clone();
        let names = tags.iter().map(|t| t.as_bytes()).chain([key.as_bytes()]);
        let mut entry = Some(entry);
        let mut stored = None;
        self.inner.generations.commit(start, names, || {
            stored = entry
                .take()
                .map(|entry| self.inner.memory.insert(key.as_bytes(), entry));
        });
        match (stored, entry) {
            (Some(stored), _) => Ok(stored),
            (None, Some(entry)) => Err(Box::new(entry)),
            (None, None) => unreachable!("the entry is taken only when stored"),
        }
    }

    async fn put_remote(&self, key: &Key, entry: &Entry) {
        if let Some(remote) = &self.inner.remote {
            let put = remote.put(key.as_bytes(), entry);
            let _ = self.remote_call("put", put).await;
        }
    }

    /// The entry answering `key`, from memory or the remote store.
    async fn lookup(&self, key: &Key, policy: &Policy, check: Option<&ETag>) -> Option<EntryRef> {
        let memory = &self.inner.memory;
        let entry = match memory.get(key.as_bytes()) {
            Some(entry) => entry,
            None => self.lookup_remote(key, policy).await?,
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

    /// The remote store's entry under `key`, admitted into memory if it
    /// could have been stored here and nothing since has invalidated it.
    async fn lookup_remote(&self, key: &Key, policy: &Policy) -> Option<EntryRef> {
        let remote = self.inner.remote.as_ref()?;
        // An invalidation that lands while the remote answer is in flight
        // must win: the answer enters memory only through the fence.
        let start = self.inner.generations.start();
        let entry = self
            .remote_call("get", remote.get(key.as_bytes()))
            .await??;
        let admitted = response::admit_remote(entry, policy, SystemTime::now())
            .filter(|e| !self.inner.outbox.blocks(key.as_bytes(), &e.tags, &e.etag));
        let Some(entry) = admitted else {
            Counters::bump(&self.inner.counters.remote_refused);
            tracing::debug!(?key, "remote entry refused");
            return None;
        };
        self.commit(key, start, entry).ok()
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

    fn answer_made<B: Body + From<Bytes>>(
        &self,
        made: Made<B>,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Response<B> {
        match made {
            Made::Stored(entry) => self.answer(&entry, preconditions, method),
            Made::Entry(entry) => self.answer(&entry, preconditions, method),
            Made::Response {
                response,
                validators,
            } => self.answer_fresh(response, validators, preconditions, method),
        }
    }

    fn answer<B: From<Bytes>>(
        &self,
        entry: &Entry,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Response<B> {
        let current = Current::new(Some(&entry.etag), entry.last_modified);
        match self.evaluate(preconditions, method, current, entry.body.len()) {
            Outcome::Proceed => response::from_entry(entry),
            Outcome::NotModified => response::not_modified(&entry.headers),
            Outcome::PreconditionFailed => response::precondition_failed(),
        }
    }

    /// Answers with a response that was not stored, judged by the validators
    /// its making computed (none for a status other than 200).
    fn answer_fresh<B: Body + From<Bytes>>(
        &self,
        response: Response<B>,
        validators: Option<Validators>,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Response<B> {
        let Some(validators) = validators else {
            return response;
        };
        let current = Current::new(Some(&validators.etag), validators.last_modified);
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
        })
        .await
    }

    /// Removes every entry tagged with any of `tags` whose ETag differs from `etag`.
    pub async fn invalidate_tags_if_changed(&self, tags: &[&str], etag: &ETag) -> Removed {
        self.invalidate_everywhere(Invalidation::Tags {
            tags: tags.iter().map(|&t| t.into()).collect(),
            keep: Some(etag.clone()),
        })
        .await
    }

    /// Removes every entry.
    pub async fn clear(&self) -> Removed {
        self.invalidate_everywhere(Invalidation::Clear).await
    }

    /// Applies an invalidation event: its key and tags are invalidated,
    /// keeping entries whose ETag equals the event's.
    pub async fn apply(&self, event: &Event) -> Removed {
        let mut removed = Removed::default();
        for invalidation in invalidations(event) {
            removed += self.invalidate_everywhere(invalidation).await;
        }
        removed
    }

    /// Applies an event to this process's memory layer only, not to the
    /// remote store: for invalidations another instance already applied to
    /// the shared store and announced (the Redis store's channel).
    pub fn apply_local(&self, event: &Event) -> Removed {
        let mut removed = Removed::default();
        for invalidation in invalidations(event) {
            removed += self.invalidate_locally(&invalidation);
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

    /// Stamps the names, then removes their entries from memory: a fill that
    /// started earlier and commits later sees the stamp; one that committed
    /// earlier is removed here.
    fn invalidate_locally(&self, invalidation: &Invalidation) -> Removed {
        let generations = &self.inner.generations;
        let memory = &self.inner.memory;
        match invalidation {
            Invalidation::Key { key, keep } => {
                generations.bump([key.as_bytes()]);
                memory.remove(key.as_bytes(), keep.as_ref())
            }
            Invalidation::Tags { tags, keep } => {
                generations.bump(tags.iter().map(|t| t.as_bytes()));
                let tags: Vec<&str> = tags.iter().map(|t| &**t).collect();
                memory.remove_tags(&tags, keep.as_ref())
            }
            Invalidation::Clear => {
                generations.bump_all();
                memory.clear();
                Removed::default()
            }
        }
    }

    /// One invalidation in the remote store; `None` if the call failed.
    async fn invalidate_remote(
        &self,
        remote: &Arc<dyn Store>,
        invalidation: &Invalidation,
    ) -> Option<Removed> {
        match invalidation {
            Invalidation::Key { key, keep } => {
                let call = remote.remove(key.as_bytes(), keep.as_ref());
                self.remote_call("remove", call).await
            }
            Invalidation::Tags { tags, keep } => {
                let tags: Vec<&str> = tags.iter().map(|t| &**t).collect();
                let call = remote.remove_tags(&tags, keep.as_ref());
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

/// What an event invalidates, in the order it is applied.
fn invalidations(event: &Event) -> impl Iterator<Item = Invalidation> + '_ {
    let keep = event.etag.as_ref();
    let key = event.key.as_ref().map(|key| Invalidation::Key {
        key: key.clone(),
        keep: keep.cloned(),
    });
    let tags = (!event.tags.is_empty()).then(|| Invalidation::Tags {
        tags: event.tags.iter().map(|t| t.as_str().into()).collect(),
        keep: keep.cloned(),
    });
    let clear = event.clear.then_some(Invalidation::Clear);
    key.into_iter().chain(tags).chain(clear)
}

/// What a fill made, ready to answer with.
enum Made<B> {
    /// Stored in memory (and handed to waiters).
    Stored(EntryRef),
    /// Storable, but not stored: no key, or an invalidation overtook it.
    Entry(Entry),
    /// Not storable.
    Response {
        response: Response<B>,
        validators: Option<Validators>,
    },
}

impl<B> From<Finished<B>> for Made<B> {
    fn from(finished: Finished<B>) -> Self {
        match finished {
            Finished::Storable(entry) => Made::Entry(entry),
            Finished::Unstorable {
                response,
                validators,
            } => Made::Response {
                response,
                validators,
            },
        }
    }
}

/// The policy's literal tags followed by the request's own.
fn all_tags(policy: &Policy, tags: Vec<String>) -> Vec<Arc<str>> {
    let mut all = Vec::with_capacity(policy.tags().len() + tags.len());
    all.extend(policy.tags().iter().cloned());
    all.extend(tags.into_iter().map(Arc::from));
    all
}
