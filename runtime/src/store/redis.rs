//! A [`Store`] in Redis, shared by many instances of an application.
//!
//! Entries, tags and invalidations live in Redis; every invalidation is also
//! announced on a pub/sub channel, so each instance drops its own memory
//! layer's copy ([`RedisStore::announcements`] into
//! [`Cache::follow`](crate::Cache::follow)), and a process with no cache
//! (a worker) invalidates every instance with [`RedisStore::apply`]. Redis
//! is a cache here, never a source of truth: every call runs under a short
//! timeout, a bounded number of calls may be in flight, and a circuit
//! breaker stops calling a Redis that keeps failing, so an outage costs
//! each request at most one timeout before the requests stop asking at all
//! (fail open).
//!
//! # Layout in Redis
//!
//! Under the prefix `P` (`cached-etag:` by default):
//!
//! | key | what |
//! |---|---|
//! | `P e:<gen>:<key>` | a hash: `v` the [encoded](crate::store::codec) entry, `e` its ETag's opaque part, `t` its tags, `s` its guards (each tag with its stamp when the entry was stored); expires with the entry (`PEXPIRE`) |
//! | `P t:<gen>:<tag>` | a set of the entry keys carrying the tag; its expiry is raised to the longest TTL put into it, so it never outlives its entries by much |
//! | `P s:<tag>` | the tag's stamp: the epoch of its last invalidation, or of its first put since it was last lost; expires with the longest-lived entry that carries it |
//! | `P epoch` | the last epoch: Redis `TIME` in µs at the last invalidation, or one more than the epoch before when that is later, so it never goes back, not even when the counter is lost |
//! | `P fences` | a sorted set of fences, each scored by its epoch: `k:<key>` and `t:<tag>` the last invalidation of that key or tag, `^` the last time lost bookkeeping was noticed, and the sentinel `~`; fences older than the fence window are pruned by score |
//! | `P gen` | the epoch of the last clear: entries of older generations are unreachable at once and expire by their TTLs |
//! | `P events` | the pub/sub channel of invalidations, as JSON [`Event`]s |
//!
//! # Late fills
//!
//! A fill that began before an invalidation must not be stored. The engine
//! fences fills against invalidations it knows of; across instances, Redis
//! refuses the put instead: the miss that began the fill reads the epoch
//! (in the same script as the lookup), the store remembers it for that key
//! in a small bounded map, and the put script refuses the entry when the
//! key, one of its tags, or a clear (the generation) is newer than that
//! epoch. A put with no remembered epoch (after a hit whose ETag was stale,
//! or when the map forgot it) is taken to have begun one fence window ago,
//! which assumes fills take less than the window (30 s by default). The
//! scheme errs towards refusing: a refused put costs one more fill on
//! another instance, a stale entry would be served to all of them.
//!
//! # Lost bookkeeping
//!
//! Under an `allkeys-*` maxmemory policy Redis may evict any key, under a
//! `volatile-*` one any key with an expiry, and a Redis without
//! persistence loses everything when it restarts. No loss may make a
//! wrong answer readable, so every record whose absence would be read as
//! "nothing happened" is either found missing or backed by another:
//!
//! - A lost `gen` is taken for a clear: a new generation is started from
//!   the next epoch, which is newer than every generation before, so no
//!   entry of an older one becomes reachable again (reading a missing
//!   generation as "0" would revive every entry stored before the first
//!   clear), and fills that began before are refused.
//! - A lost tag set would let a tag invalidation miss its entries, so an
//!   entry is also guarded by its tags' stamps: a read whose guards do not
//!   match the stamps as they are now (the tag was invalidated since, or
//!   its stamp was lost) is a miss.
//! - Fences are members of one sorted set, which every put reads, with a
//!   sentinel that is never pruned and that every script checks: when the
//!   set is found without it, every fill that began before is refused (the
//!   `^` fence), since which of them an invalidation overtook is unknown.
//! - A lost epoch restarts from `TIME`, later than every epoch issued.
//!
//! Losses cost misses and refused puts, never a stale entry. What this
//! assumes: Redis's clock does not step back by more than the time since
//! a lost record was written, and a Redis replaced by a replica has the
//! writes the old primary acknowledged.
//!
//! Invalidations are Lua scripts, so each is atomic: no reader sees an
//! entry of an invalidated tag afterwards, and `keep` compares the ETag
//! stored in Redis, not a local copy. `KEYS` and `SCAN` are never used.
//! The scripts name keys they compute, so this store needs one Redis (or a
//! primary with replicas), not Redis Cluster.

mod announcements;
mod breaker;
mod scripts;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_core::Stream;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ScriptInvocation, Value};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::codec::decode_entry;
use super::{BoxFuture, Entry, Removed, Store, StoreError};
use crate::{ETag, Event};
use announcements::{Announcement, Heartbeat};
use breaker::Breaker;

/// Default prefix of every key and of the channel.
pub const DEFAULT_PREFIX: &str = "cached-etag:";
/// Default timeout of one Redis call. It is below the cache's default store
/// timeout (100 ms) so that the store sees its own timeouts and the circuit
/// breaker counts them.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(80);
/// Default timeout of establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// Default bound on calls in flight; past it calls fail at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// Default number of consecutive failures that opens the circuit.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// Default time the circuit stays open before one probe call is let through.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(1);
/// Default time invalidations are remembered to refuse late fills.
pub const DEFAULT_FENCE_WINDOW: Duration = Duration::from_secs(30);
/// Default number of keys whose miss epoch is remembered.
pub const DEFAULT_MAX_PENDING_FILLS: usize = 10_000;
/// Default interval between two `PING`s on the subscription's connection.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// Default wait for a `PONG` before the subscription is taken for lost.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(500);

/// A [`Store`] in Redis, shared by every instance that names the same
/// Redis and prefix. Cheap to clone: clones share one connection.
///
/// ```no_run
/// use cached_etag_runtime::{Cache, RedisStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisStore::builder("redis://127.0.0.1:6379").prefix("shop:").build()?;
/// let cache = Cache::builder().store(redis.clone()).build();
/// // Drop this instance's memory copies when another instance invalidates.
/// cache.follow(redis.announcements());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: Box<[u8]>,
    channel: Box<[u8]>,
    /// Marks this store's own announcements ([`Event::origin`]), which its
    /// `announcements` skips: the engine that called it already applied
    /// them to its memory layer.
    origin: u64,
    command_timeout: Duration,
    connect_timeout: Duration,
    heartbeat: Heartbeat,
    fence_window: Duration,
    in_flight: Semaphore,
    breaker: Breaker,
    pending: Mutex<quick_cache::unsync::Cache<Box<[u8]>, Pending>>,
    counters: Counters,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix.escape_ascii().to_string())
            .field("command_timeout", &self.inner.command_timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisStore`]; see [`RedisStore::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: Vec<u8>,
    command_timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: usize,
    failure_threshold: u32,
    cool_down: Duration,
    fence_window: Duration,
    max_pending_fills: usize,
    heartbeat: Heartbeat,
}

impl RedisStoreBuilder {
    /// The prefix of every key and of the channel (default `cached-etag:`):
    /// stores with different prefixes share nothing.
    pub fn prefix(mut self, prefix: impl AsRef<[u8]>) -> Self {
        self.prefix = prefix.as_ref().to_vec();
        self
    }

    /// Timeout of one call (default 80 ms). Keep the cache's
    /// [`store_timeout`](crate::CacheBuilder::store_timeout) above it, so
    /// that slow calls are counted by the circuit breaker.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Timeout of establishing a connection (default 200 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Calls allowed in flight at once (default 512); past it a call fails
    /// at once with [`StoreError::Unavailable`] instead of queueing behind a
    /// slow Redis.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// The circuit breaker: after `failures` consecutive failed or timed-out
    /// calls (default 5), Redis is not called for `cool_down` (default 1 s);
    /// then one probe call goes through, and its success closes the circuit.
    pub fn circuit_breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        self.failure_threshold = failures.max(1);
        self.cool_down = cool_down;
        self
    }

    /// How long invalidations are remembered in Redis to refuse fills that
    /// began before them (default 30 s); a fill that takes longer is not
    /// stored in Redis.
    pub fn fence_window(mut self, window: Duration) -> Self {
        self.fence_window = window.max(Duration::from_millis(1));
        self
    }

    /// How often [`announcements`](RedisStore::announcements) pings Redis
    /// on its subscription's connection (default every 1 s), and how long
    /// it waits for the answer (default 500 ms) before it takes the
    /// subscription for lost. Their sum bounds how long a connection that
    /// died without closing (a partition, a frozen Redis) goes unnoticed.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat = Heartbeat {
            interval: interval.max(Duration::from_millis(1)),
            timeout: timeout.max(Duration::from_millis(1)),
        };
        self
    }

    /// How many keys' miss epochs are remembered until their fill is put
    /// (default 10 000); a forgotten one makes its put conservative.
    pub fn max_pending_fills(mut self, n: usize) -> Self {
        self.max_pending_fills = n.max(1);
        self
    }

    /// Builds the store. The connection is made on first use, so an
    /// application starts while Redis is down (its requests run their
    /// handlers). Must be called within a Tokio runtime.
    pub fn build(self) -> Result<RedisStore, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::Backend(
                "RedisStore::build must run within a Tokio runtime".into(),
            ));
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|error| StoreError::Backend(Box::new(error)))?;
        // One attempt per reconnection: the circuit breaker, not the
        // client, decides when to try again, and a call never waits
        // through a backoff schedule.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(0)
            .set_pipeline_buffer_size(self.max_in_flight);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|error| StoreError::Backend(Box::new(error)))?;
        let mut channel = self.prefix.clone();
        channel.extend_from_slice(b"events");
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                connection,
                prefix: self.prefix.into(),
                channel: channel.into(),
                origin: announcements::origin_id(),
                command_timeout: self.command_timeout,
                connect_timeout: self.connect_timeout,
                heartbeat: self.heartbeat,
                fence_window: self.fence_window,
                in_flight: Semaphore::new(self.max_in_flight),
                breaker: Breaker::new(self.failure_threshold, self.cool_down),
                pending: Mutex::new(quick_cache::unsync::Cache::new(self.max_pending_fills)),
                counters: Counters::default(),
            }),
        })
    }
}

/// What a [`RedisStore`] did, from [`RedisStore::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Calls sent to Redis.
    pub calls: u64,
    /// Calls that failed or timed out.
    pub failures: u64,
    /// Calls not sent because the circuit was open.
    pub short_circuited: u64,
    /// Calls not sent because too many were in flight.
    pub rejected_busy: u64,
    /// Times the circuit opened.
    pub circuit_opened: u64,
    /// Puts refused because an invalidation overtook their fill.
    pub fenced_puts: u64,
    /// Stored values that could not be decoded.
    pub decode_errors: u64,
    /// Times the subscription to announcements was (re)established.
    pub subscriptions: u64,
    /// Times the subscription to announcements was found lost: its
    /// connection closed, or it did not answer the heartbeat in time.
    pub subscriptions_lost: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    failures: AtomicU64,
    short_circuited: AtomicU64,
    rejected_busy: AtomicU64,
    circuit_opened: AtomicU64,
    fenced_puts: AtomicU64,
    decode_errors: AtomicU64,
    subscriptions: AtomicU64,
    subscriptions_lost: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The epoch a miss read, kept until the fill's put.
#[derive(Debug, Clone, Copy)]
struct Pending {
    epoch: u64,
    at: Instant,
}

impl RedisStore {
    /// Configures a store for the Redis at `url` (`redis://host:port/db`,
    /// `rediss://` needs a TLS feature of the `redis` crate).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.as_bytes().to_vec(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            cool_down: DEFAULT_COOL_DOWN,
            fence_window: DEFAULT_FENCE_WINDOW,
            max_pending_fills: DEFAULT_MAX_PENDING_FILLS,
            heartbeat: Heartbeat {
                interval: DEFAULT_HEARTBEAT_INTERVAL,
                timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            },
        }
    }

    /// A store for the Redis at `url` with the default settings.
    pub fn new(url: impl Into<String>) -> Result<Self, StoreError> {
        Self::builder(url).build()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> RedisStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisStats {
            calls: load(&c.calls),
            failures: load(&c.failures),
            short_circuited: load(&c.short_circuited),
            rejected_busy: load(&c.rejected_busy),
            circuit_opened: load(&c.circuit_opened),
            fenced_puts: load(&c.fenced_puts),
            decode_errors: load(&c.decode_errors),
            subscriptions: load(&c.subscriptions),
            subscriptions_lost: load(&c.subscriptions_lost),
        }
    }

    /// What other instances applied to Redis and announced: the stream a
    /// cache mirrors into its memory layer with
    /// [`Cache::follow`](crate::Cache::follow), which applies each event
    /// to memory only, since Redis already holds the change.
    ///
    /// The stream subscribes to the channel when first polled and never
    /// ends. Announcements made by this store's own [`Store`] calls are
    /// skipped (the cache that made them already applied them); those made
    /// with [`apply`](Self::apply) are not. An announcement that cannot
    /// be decoded yields [`Event::clear`].
    ///
    /// Pub/sub keeps nothing for absent listeners, so whenever the stream
    /// cannot vouch for having heard everything, it yields
    /// `Event::clear()`: misses are better than stale entries.
    ///
    /// - When the subscription is lost: at once when its connection
    ///   closes (Redis stopped or restarted), and within the
    ///   [heartbeat](RedisStoreBuilder::heartbeat)'s interval + timeout
    ///   (1.5 s by default) when it dies without closing (a partition, a
    ///   frozen Redis): a `PING` goes out every interval, and a `PONG`
    ///   later than the timeout counts as lost.
    /// - While it is not subscribed, after every failed attempt to
    ///   resubscribe (a backoff from 50 ms to 1 s, each attempt bounded by
    ///   the connect timeout): entries the memory layer filled meanwhile
    ///   may be invalidated elsewhere, unheard.
    /// - When it (re)subscribes: whatever was announced before is unknown.
    ///
    /// So, given an instance that announces an invalidation, the memory
    /// layer of a following instance stops serving what it invalidated
    /// within 1.5 s of the announcement (the heartbeat's bound; about 1.2 s
    /// between clears while Redis is unreachable), whatever happens to the
    /// connection; normally within a round trip.
    pub fn announcements(&self) -> impl Stream<Item = Event> + Send + 'static {
        announcements::stream(self.inner.clone())
    }

    /// Applies `event` to Redis (its key and tags are invalidated, keeping
    /// entries whose ETag equals the event's; `clear` clears) and announces
    /// it to every instance, this store's own
    /// [`announcements`](Self::announcements) included. This is for a
    /// process with no cache, such as a worker, whose write must reach
    /// every instance's memory layer; a process with a cache calls
    /// [`Cache::apply`](crate::Cache::apply), which invalidates its own
    /// memory layer too.
    ///
    /// ```no_run
    /// # use cached_etag_runtime::{Event, RedisStore};
    /// # async fn f(redis: RedisStore) -> Result<(), cached_etag_runtime::StoreError> {
    /// redis.apply(&Event::tags(["camera:2"])).await?;
    /// # Ok(()) }
    /// ```
    pub async fn apply(&self, event: &Event) -> Result<Removed, StoreError> {
        let message = Announcement::event(event).to_json();
        let keep = event.etag.as_ref();
        let tags: Vec<&str> = event.tags.iter().map(String::as_str).collect();
        // The announcement rides with the last script, so it goes out only
        // once Redis no longer holds what it names.
        let last = if event.clear {
            2
        } else if !tags.is_empty() {
            1
        } else {
            0
        };
        let mut removed = Removed::default();
        if let Some(key) = &event.key {
            let message = if last == 0 { message.as_str() } else { "" };
            removed += self.remove_key(key.as_bytes(), keep, message).await?;
        }
        if !tags.is_empty() {
            let message = if last == 1 { message.as_str() } else { "" };
            removed += self.remove_tagged(&tags, keep, message).await?;
        }
        if event.clear {
            self.clear_all(&message).await?;
        } else if event.key.is_none() && tags.is_empty() {
            // An empty event changes nothing; announce it all the same.
            self.call(
                redis::cmd("PUBLISH")
                    .arg(&*self.inner.channel)
                    .arg(&message),
            )
            .await?;
        }
        Ok(removed)
    }

    /// Runs one call under the in-flight bound, the circuit breaker and the
    /// timeout.
    async fn call<C: Callable>(&self, call: C) -> Result<Value, StoreError> {
        let inner = &*self.inner;
        let Ok(_permit) = inner.in_flight.try_acquire() else {
            bump(&inner.counters.rejected_busy);
            return Err(StoreError::Unavailable);
        };
        let Some(ticket) = inner.breaker.admit() else {
            bump(&inner.counters.short_circuited);
            return Err(StoreError::Unavailable);
        };
        bump(&inner.counters.calls);
        let mut connection = inner.connection.clone();
        let result = tokio::time::timeout(inner.command_timeout, call.run(&mut connection)).await;
        let error = match result {
            Ok(Ok(value)) => {
                ticket.succeeded();
                return Ok(value);
            }
            Ok(Err(error)) => StoreError::Backend(Box::new(error)),
            Err(_) => StoreError::Timeout(inner.command_timeout),
        };
        bump(&inner.counters.failures);
        if ticket.failed() {
            bump(&inner.counters.circuit_opened);
            tracing::warn!(
                %error,
                cool_down = ?inner.breaker.cool_down(),
                "redis keeps failing; not calling it for a while"
            );
        }
        Err(error)
    }

    fn remember_miss(&self, key: &[u8], epoch: u64) {
        let now = Instant::now();
        let mut pending = self.inner.pending.lock();
        // Concurrent misses of one key join one fill: keep the oldest epoch,
        // which is the leader's or older, never a newer one.
        if let Some(old) = pending.get(key)
            && now.duration_since(old.at) < self.inner.fence_window
            && old.epoch <= epoch
        {
            return;
        }
        pending.insert(key.into(), Pending { epoch, at: now });
    }

    /// The epoch the fill of `key` began after: `Some(epoch)`, `None` when
    /// unknown, or `Err` when too old to verify against fences that have
    /// expired since.
    fn take_pending(&self, key: &[u8]) -> Result<Option<u64>, ()> {
        let pending = self.inner.pending.lock().remove(key);
        match pending {
            Some((_, p)) if p.at.elapsed() < self.inner.fence_window => Ok(Some(p.epoch)),
            Some(_) => Err(()),
            None => Ok(None),
        }
    }

    async fn fetch(&self, key: &[u8]) -> Result<Option<Entry>, StoreError> {
        let reply = self.call(scripts::get(&self.inner.prefix, key)).await?;
        let found = scripts::lookup(reply)?;
        let Some(value) = found.value else {
            // A miss begins a fill: remember when, for its put. A hit
            // remembers nothing, since most hits are followed by no put.
            if let Ok(epoch) = u64::try_from(found.epoch) {
                self.remember_miss(key, epoch);
            }
            return Ok(None);
        };
        let mut entry = decode_entry(Bytes::from(value)).inspect_err(|_| {
            // As good as a miss: the fill that follows may replace it.
            bump(&self.inner.counters.decode_errors);
            if let Ok(epoch) = u64::try_from(found.epoch) {
                self.remember_miss(key, epoch);
            }
        })?;
        // Redis's clock decides when the entry expires everywhere; the
        // memory layer keeps it no longer than Redis does. Redis keeps it
        // for its ttl and then its stale window: what is left says which
        // part it is in.
        match found.pttl.map(u64::try_from) {
            Some(Ok(ms)) => {
                let left = Duration::from_millis(ms);
                let now = SystemTime::now();
                match left.checked_sub(entry.stale_for) {
                    Some(fresh) => {
                        entry.stored_at = now;
                        entry.ttl = fresh;
                    }
                    None => {
                        let age = entry.stale_for - left;
                        entry.stored_at = now.checked_sub(age).unwrap_or(now);
                        entry.ttl = Duration::ZERO;
                    }
                }
            }
            Some(Err(_)) if found.pttl == Some(-2) => return Ok(None),
            _ => {}
        }
        Ok(Some(entry))
    }

    async fn store(&self, key: &[u8], entry: &Entry) -> Result<(), StoreError> {
        let Ok(began) = self.take_pending(key) else {
            bump(&self.inner.counters.fenced_puts);
            tracing::debug!("fill outlasted the fence window; not stored in redis");
            return Ok(());
        };
        let ttl = entry.remaining_life(SystemTime::now());
        if ttl.is_zero() {
            return Ok(());
        }
        let inner = &*self.inner;
        let put = scripts::put(&inner.prefix, key, began, ttl, entry, inner.fence_window);
        if scripts::refused(&self.call(put).await?) {
            bump(&inner.counters.fenced_puts);
            tracing::debug!("put refused by redis: an invalidation overtook the fill");
        }
        Ok(())
    }

    async fn remove_key(
        &self,
        key: &[u8],
        keep: Option<&ETag>,
        message: &str,
    ) -> Result<Removed, StoreError> {
        let inner = &*self.inner;
        let remove = scripts::remove(&inner.prefix, key, keep, inner.fence_window, message);
        scripts::removed(self.call(remove).await?)
    }

    async fn remove_tagged(
        &self,
        tags: &[&str],
        keep: Option<&ETag>,
        message: &str,
    ) -> Result<Removed, StoreError> {
        let inner = &*self.inner;
        let remove = scripts::remove_tags(&inner.prefix, tags, keep, inner.fence_window, message);
        scripts::removed(self.call(remove).await?)
    }

    async fn clear_all(&self, message: &str) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let clear = scripts::clear(&inner.prefix, inner.fence_window, message);
        self.call(clear).await.map(drop)
    }
}

/// Something [`RedisStore::call`] can send: a script or a plain command.
trait Callable {
    fn run(
        self,
        connection: &mut ConnectionManager,
    ) -> impl Future<Output = redis::RedisResult<Value>> + Send;
}

impl Callable for ScriptInvocation<'_> {
    async fn run(self, connection: &mut ConnectionManager) -> redis::RedisResult<Value> {
        self.invoke_async(connection).await
    }
}

impl Callable for &mut redis::Cmd {
    async fn run(self, connection: &mut ConnectionManager) -> redis::RedisResult<Value> {
        self.query_async(connection).await
    }
}

/// Each call announces what it did, marked as this store's own: the cache
/// that called it applies the change to its memory layer itself.
impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(self.fetch(key))
    }

    fn put<'a>(&'a self, key: &'a [u8], entry: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.store(key, entry))
    }

    fn remove<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            let message = Announcement::key(key, keep).by(self.inner.origin);
            self.remove_key(key, keep, &message.to_json()).await
        })
    }

    fn remove_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            let message = Announcement::tags(tags, keep).by(self.inner.origin);
            self.remove_tagged(tags, keep, &message.to_json()).await
        })
    }

    /// Redis keeps no stale entries: a soft purge removes them there (the
    /// next read of another instance without a copy is a miss) and tells
    /// the other instances to mark their memory copies stale.
    fn soften<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            let message = Announcement::key(key, keep)
                .soft(true)
                .by(self.inner.origin);
            self.remove_key(key, keep, &message.to_json()).await
        })
    }

    fn soften_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            let message = Announcement::tags(tags, keep)
                .soft(true)
                .by(self.inner.origin);
            self.remove_tagged(tags, keep, &message.to_json()).await
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let message = Announcement::clear().by(self.inner.origin);
            self.clear_all(&message.to_json()).await
        })
    }
}
