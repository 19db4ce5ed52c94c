//! A [`Store`] in Redis, shared by many instances of an application.
//!
//! Entries, tags and invalidations live in Redis; every invalidation is also
//! announced on a pub/sub channel, so each instance drops its own memory
//! layer's copy ([`RedisStore::events`] into
//! [`Cache::listen_local`](crate::Cache::listen_local)). Redis is a cache
//! here, never a source of truth: every call runs under a short timeout,
//! a bounded number of calls may be in flight, and a circuit breaker stops
//! calling a Redis that keeps failing, so an outage costs each request
//! at most one timeout before the requests stop asking at all (fail open).
//!
//! # Layout in Redis
//!
//! Under the prefix `P` (`cached-etag:` by default):
//!
//! | key | what |
//! |---|---|
//! | `P e:<gen>:<key>` | a hash: `v` the [encoded](encode_entry) entry, `e` its ETag's opaque part, `t` its tags; expires with the entry (`PEXPIRE`) |
//! | `P t:<gen>:<tag>` | a set of the entry keys carrying the tag; its expiry is raised to the longest TTL put into it, so it never outlives its entries by much |
//! | `P epoch` | a counter bumped by every invalidation; starts at Redis `TIME` in µs, so it keeps growing across a restart that lost it |
//! | `P f:k:<key>`, `P f:t:<tag>`, `P f:clear` | fences: the epoch of the last invalidation of that key or tag, or of the last clear; they expire after the fence window |
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
//! key, one of its tags, or a clear has a fence newer than that epoch. A put
//! with no remembered epoch (after a hit whose ETag was stale, or when the
//! map forgot it) is refused when any of those fences is still live, which
//! assumes fills take less than the fence window (30 s by default). The
//! scheme errs towards refusing: a refused put costs one more fill on
//! another instance, a stale entry would be served to all of them.
//!
//! Invalidations are Lua scripts, so each is atomic: no reader sees an
//! entry of an invalidated tag afterwards, and `keep` compares the ETag
//! stored in Redis, not a local copy. `KEYS` and `SCAN` are never used.
//! The scripts name keys they compute, so this store needs one Redis (or a
//! primary with replicas), not Redis Cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, ScriptInvocation, Value};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{BoxFuture, Entry, Removed, Store, StoreError};
use crate::{ETag, Event, Key};

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

/// The first byte of every encoded entry.
pub const FORMAT_VERSION: u8 = 1;

/// Deleted per `UNLINK`/`SREM` call inside the tag script: Lua's `unpack`
/// has a stack limit, and smaller batches keep each call short.
const BATCH: usize = 500;

/// Reads the entry and the current epoch (the fill fence token) at once.
/// ARGV: prefix, key.
const GET: &str = r"
local p = ARGV[1]
local epoch = redis.call('GET', p .. 'epoch')
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. string.sub('000000' .. t[2], -6)
end
local gen = redis.call('GET', p .. 'gen') or '0'
local ek = p .. 'e:' .. gen .. ':' .. ARGV[2]
local v = redis.call('HGET', ek, 'v')
if not v then return {tonumber(epoch)} end
return {tonumber(epoch), redis.call('PTTL', ek), v}
";

/// Stores an entry unless an invalidation fenced it; returns 1 if stored.
/// ARGV: prefix, key, token (-1: unknown), ttl ms, value, etag, tags...
const PUT: &str = r"
local p, key = ARGV[1], ARGV[2]
local token, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local gen = redis.call('GET', p .. 'gen') or '0'
local function fenced(name)
  local f = redis.call('GET', name)
  if not f then return false end
  return token < 0 or tonumber(f) > token
end
if token >= 0 and token < tonumber(gen) then return 0 end
if fenced(p .. 'f:clear') or fenced(p .. 'f:k:' .. key) then return 0 end
for i = 7, #ARGV do
  if fenced(p .. 'f:t:' .. ARGV[i]) then return 0 end
end
local ek = p .. 'e:' .. gen .. ':' .. key
local tags, list = {}, {}
for i = 7, #ARGV do
  tags[ARGV[i]] = true
  list[#list + 1] = ARGV[i]
end
local old = redis.call('HGET', ek, 't')
if old then
  for _, t in ipairs(cmsgpack.unpack(old)) do
    if not tags[t] then redis.call('SREM', p .. 't:' .. gen .. ':' .. t, ek) end
  end
end
redis.call('HSET', ek, 'v', ARGV[5], 'e', ARGV[6], 't', cmsgpack.pack(list))
redis.call('PEXPIRE', ek, ttl)
for i = 7, #ARGV do
  local tk = p .. 't:' .. gen .. ':' .. ARGV[i]
  redis.call('SADD', tk, ek)
  if redis.call('PTTL', tk) < ttl then redis.call('PEXPIRE', tk, ttl) end
end
return 1
";

/// Shared by the invalidation scripts: the next epoch, started from `TIME`
/// when the counter is missing (a restart, an eviction) so that it never
/// goes back, and formatted as an integer: Lua would print a large number
/// in exponent form.
const BUMP: &str = r"
local function bump(p)
  local k = p .. 'epoch'
  if redis.call('EXISTS', k) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', k, t[1] .. string.sub('000000' .. t[2], -6))
  end
  return string.format('%.0f', redis.call('INCR', k))
end
";

/// Removes one entry unless its ETag equals `keep`; fences the key and
/// announces the event. ARGV: prefix, key, has_keep, keep, fence ms,
/// message ('' for none). Returns {removed, skipped}.
const REMOVE: &str = r"
local p, key = ARGV[1], ARGV[2]
local epoch = bump(p)
redis.call('SET', p .. 'f:k:' .. key, epoch, 'PX', ARGV[5])
local gen = redis.call('GET', p .. 'gen') or '0'
local ek = p .. 'e:' .. gen .. ':' .. key
local removed, skipped = 0, 0
local found = redis.call('HMGET', ek, 'e', 't')
if found[1] then
  if ARGV[3] == '1' and found[1] == ARGV[4] then
    skipped = 1
  else
    removed = redis.call('UNLINK', ek)
    if found[2] then
      for _, t in ipairs(cmsgpack.unpack(found[2])) do
        redis.call('SREM', p .. 't:' .. gen .. ':' .. t, ek)
      end
    end
  end
end
if ARGV[6] ~= '' then redis.call('PUBLISH', p .. 'events', ARGV[6]) end
return {removed, skipped}
";

/// Removes every entry of the tags unless its ETag equals `keep`, in
/// bounded batches, in one atomic script; fences the tags and announces the
/// event. ARGV: prefix, has_keep, keep, fence ms, message, batch, tags...
/// Returns {removed, skipped}.
const REMOVE_TAGS: &str = r"
local p, has_keep, keep = ARGV[1], ARGV[2] == '1', ARGV[3]
local batch_size = tonumber(ARGV[6])
local epoch = bump(p)
local gen = redis.call('GET', p .. 'gen') or '0'
local removed, skipped, seen = 0, 0, {}
for i = 7, #ARGV do
  local tag = ARGV[i]
  redis.call('SET', p .. 'f:t:' .. tag, epoch, 'PX', ARGV[4])
  local tk = p .. 't:' .. gen .. ':' .. tag
  local batch = {}
  local function flush()
    if #batch > 0 then
      removed = removed + redis.call('UNLINK', unpack(batch))
      redis.call('SREM', tk, unpack(batch))
      batch = {}
    end
  end
  for _, ek in ipairs(redis.call('SMEMBERS', tk)) do
    if not seen[ek] then
      seen[ek] = true
      if has_keep and redis.call('HGET', ek, 'e') == keep then
        skipped = skipped + 1
      else
        batch[#batch + 1] = ek
        if #batch >= batch_size then flush() end
      end
    end
  end
  flush()
end
if ARGV[5] ~= '' then redis.call('PUBLISH', p .. 'events', ARGV[5]) end
return {removed, skipped}
";

/// Starts a new generation (every entry unreachable at once), fences puts
/// that began before it, announces it. ARGV: prefix, fence ms, message.
const CLEAR: &str = r"
local p = ARGV[1]
local epoch = bump(p)
redis.call('SET', p .. 'gen', epoch)
redis.call('SET', p .. 'f:clear', epoch, 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('PUBLISH', p .. 'events', ARGV[3]) end
return 1
";

struct Scripts {
    get: Script,
    put: Script,
    remove: Script,
    remove_tags: Script,
    clear: Script,
}

static SCRIPTS: std::sync::LazyLock<Scripts> = std::sync::LazyLock::new(|| Scripts {
    get: Script::new(GET),
    put: Script::new(PUT),
    remove: Script::new(&format!("{BUMP}{REMOVE}")),
    remove_tags: Script::new(&format!("{BUMP}{REMOVE_TAGS}")),
    clear: Script::new(&format!("{BUMP}{CLEAR}")),
});

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
/// cache.listen_local(redis.events());
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
    /// `events` skips: the engine that called it already applied them
    /// locally.
    origin: u64,
    command_timeout: Duration,
    connect_timeout: Duration,
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
                origin: origin_id(),
                command_timeout: self.command_timeout,
                connect_timeout: self.connect_timeout,
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
    /// Times the event subscription was (re)established.
    pub subscriptions: u64,
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
        }
    }

    /// The invalidations other instances announce, for
    /// [`Cache::listen_local`](crate::Cache::listen_local).
    ///
    /// The stream subscribes to the channel when first polled and never
    /// ends: when the subscription is lost it resubscribes, with a backoff
    /// from 50 ms to 1 s. Pub/sub does not keep messages for absent
    /// listeners, so every (re)subscription first yields [`Event::clear`]:
    /// whatever was announced meanwhile is unknown, and misses are better
    /// than stale entries. An announcement that cannot be decoded yields
    /// `Event::clear()` too. Announcements made by this store's own
    /// [`Store`] calls are skipped (the cache that made them already
    /// applied them); those made with [`publish`](Self::publish) are not.
    /// A connection that dies without closing (a network partition) is
    /// noticed only when TCP gives up on it.
    pub fn events(&self) -> impl Stream<Item = Event> + Send + 'static {
        let listener = Listener {
            inner: self.inner.clone(),
            messages: None,
            backoff: MIN_BACKOFF,
        };
        futures_util::stream::unfold(listener, |mut listener| async move {
            let event = listener.next().await;
            Some((event, listener))
        })
    }

    /// Applies `event` to Redis (its key and tags are invalidated, keeping
    /// entries whose ETag equals the event's; `clear` clears) and announces
    /// it to every listener, this store's own [`events`](Self::events)
    /// included: so one instance's write, or a process with no cache at
    /// all, invalidates every instance.
    ///
    /// ```no_run
    /// # use cached_etag_runtime::{Event, RedisStore};
    /// # async fn f(redis: RedisStore) -> Result<(), cached_etag_runtime::StoreError> {
    /// redis.publish(&Event::tags(["camera:2"])).await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, event: &Event) -> Result<Removed, StoreError> {
        let message = Wire::message(event, None);
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

    fn own_message(&self, event: &Event) -> String {
        Wire::message(event, Some(self.inner.origin))
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
                ticket.succeeded(&inner.breaker);
                return Ok(value);
            }
            Ok(Err(error)) => StoreError::Backend(Box::new(error)),
            Err(_) => StoreError::Timeout(inner.command_timeout),
        };
        bump(&inner.counters.failures);
        if ticket.failed(&inner.breaker) {
            bump(&inner.counters.circuit_opened);
            tracing::warn!(
                %error,
                cool_down = ?inner.breaker.cool_down,
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
        let mut invocation = SCRIPTS.get.prepare_invoke();
        invocation.arg(&*self.inner.prefix).arg(key);
        let value = self.call(invocation).await?;
        let reply = as_array(value)?;
        let epoch = reply.first().and_then(as_int).ok_or_else(unexpected)?;
        let (Some(pttl), Some(Value::BulkString(bytes))) = (reply.get(1), reply.get(2)) else {
            // A miss begins a fill: remember when, for its put. A hit
            // remembers nothing, since most hits are followed by no put.
            if let Ok(epoch) = u64::try_from(epoch) {
                self.remember_miss(key, epoch);
            }
            return Ok(None);
        };
        let mut entry = decode_entry(Bytes::from(bytes.clone())).inspect_err(|_| {
            bump(&self.inner.counters.decode_errors);
        })?;
        // Redis's clock decides when the entry expires everywhere; the
        // memory layer keeps it no longer than Redis does.
        match as_int(pttl).map(u64::try_from) {
            Some(Ok(ms)) => {
                entry.stored_at = SystemTime::now();
                entry.ttl = Duration::from_millis(ms);
            }
            Some(Err(_)) if as_int(pttl) == Some(-2) => return Ok(None),
            _ => {}
        }
        Ok(Some(entry))
    }

    async fn store(&self, key: &[u8], entry: &Entry) -> Result<(), StoreError> {
        let token = match self.take_pending(key) {
            Ok(Some(epoch)) => i128::from(epoch),
            Ok(None) => -1,
            Err(()) => {
                bump(&self.inner.counters.fenced_puts);
                tracing::debug!("fill outlasted the fence window; not stored in redis");
                return Ok(());
            }
        };
        let ttl = entry.remaining_ttl(SystemTime::now());
        if ttl.is_zero() {
            return Ok(());
        }
        // PEXPIRE takes whole milliseconds; a zero would delete the entry.
        let ttl_ms = ttl.as_millis().clamp(1, i64::MAX as u128);
        let value = encode_entry(entry);
        let mut invocation = SCRIPTS.put.prepare_invoke();
        invocation
            .arg(&*self.inner.prefix)
            .arg(key)
            .arg(token.to_string())
            .arg(ttl_ms.to_string())
            .arg(value)
            .arg(entry.etag.opaque());
        for tag in &entry.tags {
            invocation.arg(tag.as_bytes());
        }
        let stored = self.call(invocation).await?;
        if as_int(&stored) == Some(0) {
            bump(&self.inner.counters.fenced_puts);
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
        let mut invocation = SCRIPTS.remove.prepare_invoke();
        invocation
            .arg(&*self.inner.prefix)
            .arg(key)
            .arg(if keep.is_some() { "1" } else { "0" })
            .arg(keep.map_or("", ETag::opaque))
            .arg(self.fence_ms())
            .arg(message);
        removed(self.call(invocation).await?)
    }

    async fn remove_tagged(
        &self,
        tags: &[&str],
        keep: Option<&ETag>,
        message: &str,
    ) -> Result<Removed, StoreError> {
        let mut invocation = SCRIPTS.remove_tags.prepare_invoke();
        invocation
            .arg(&*self.inner.prefix)
            .arg(if keep.is_some() { "1" } else { "0" })
            .arg(keep.map_or("", ETag::opaque))
            .arg(self.fence_ms())
            .arg(message)
            .arg(BATCH);
        for tag in tags {
            invocation.arg(*tag);
        }
        removed(self.call(invocation).await?)
    }

    async fn clear_all(&self, message: &str) -> Result<(), StoreError> {
        let mut invocation = SCRIPTS.clear.prepare_invoke();
        invocation
            .arg(&*self.inner.prefix)
            .arg(self.fence_ms())
            .arg(message);
        self.call(invocation).await.map(drop)
    }

    fn fence_ms(&self) -> String {
        self.inner.fence_window.as_millis().max(1).to_string()
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
            let event = Event {
                key: Some(Key::from(key)),
                etag: keep.cloned(),
                ..Event::default()
            };
            self.remove_key(key, keep, &self.own_message(&event)).await
        })
    }

    fn remove_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            let event = Event {
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                etag: keep.cloned(),
                ..Event::default()
            };
            self.remove_tagged(tags, keep, &self.own_message(&event))
                .await
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.clear_all(&self.own_message(&Event::clear())).await })
    }
}

fn as_array(value: Value) -> Result<Vec<Value>, StoreError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(unexpected()),
    }
}

fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

fn removed(value: Value) -> Result<Removed, StoreError> {
    let reply = as_array(value)?;
    let count = |i: usize| {
        reply
            .get(i)
            .and_then(as_int)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(unexpected)
    };
    Ok(Removed {
        removed: count(0)?,
        skipped: count(1)?,
        remote_errors: 0,
    })
}

fn unexpected() -> StoreError {
    StoreError::Backend("unexpected reply from a cached-etag script".into())
}

/// An identifier for one store, distinct across processes and instances
/// with overwhelming probability: std's hasher keys are random per process.
fn origin_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

// ---------------------------------------------------------------------------
// Circuit breaker

/// Consecutive failures open the circuit for a cool-down; then one probe
/// is let through, and its outcome closes or reopens it.
struct Breaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<Circuit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Closed { failures: u32 },
    Open { until: Instant },
    Probing,
}

/// Permission for one call; a probe dropped unfinished (its caller gave up)
/// lets the next call probe instead of leaving the circuit stuck.
struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

impl Breaker {
    fn new(threshold: u32, cool_down: Duration) -> Self {
        Breaker {
            threshold,
            cool_down,
            state: Mutex::new(Circuit::Closed { failures: 0 }),
        }
    }

    fn admit(&self) -> Option<Ticket<'_>> {
        let mut state = self.state.lock();
        let probe = match *state {
            Circuit::Closed { .. } => false,
            Circuit::Open { until } if Instant::now() >= until => {
                *state = Circuit::Probing;
                true
            }
            Circuit::Open { .. } | Circuit::Probing => return None,
        };
        Some(Ticket {
            breaker: self,
            probe,
            settled: false,
        })
    }
}

impl Ticket<'_> {
    fn succeeded(mut self, breaker: &Breaker) {
        self.settled = true;
        let mut state = breaker.state.lock();
        if !matches!(*state, Circuit::Closed { failures: 0 }) {
            if !matches!(*state, Circuit::Closed { .. }) {
                tracing::info!("redis answers again; calling it");
            }
            *state = Circuit::Closed { failures: 0 };
        }
    }

    /// Records a failure; true if it opened the circuit.
    fn failed(mut self, breaker: &Breaker) -> bool {
        self.settled = true;
        let mut state = breaker.state.lock();
        let open = Circuit::Open {
            until: Instant::now() + breaker.cool_down,
        };
        match *state {
            Circuit::Closed { failures } if failures + 1 >= breaker.threshold => {
                *state = open;
                true
            }
            Circuit::Closed { failures } => {
                *state = Circuit::Closed {
                    failures: failures + 1,
                };
                false
            }
            Circuit::Probing if self.probe => {
                *state = open;
                true
            }
            Circuit::Open { .. } | Circuit::Probing => false,
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            let mut state = self.breaker.state.lock();
            if *state == Circuit::Probing {
                *state = Circuit::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Events

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The announcement on the channel: an [`Event`] as JSON (its `origin` the
/// announcing store's), plus the key, which `Event`'s own serialization
/// leaves out (it is bytes), in base64url. Other consumers may read it as a
/// plain `Event`: unknown fields are ignored.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    #[serde(flatten)]
    event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl Wire {
    fn message(event: &Event, origin: Option<u64>) -> String {
        let wire = Wire {
            event: Event {
                key: None,
                origin,
                ..event.clone()
            },
            key: event
                .key
                .as_ref()
                .map(|k| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.as_bytes())),
        };
        // Strings, an ETag as its header text, and a bool: always JSON.
        serde_json::to_string(&wire).unwrap_or_else(|_| r#"{"clear":true}"#.to_owned())
    }

    /// The event in `payload`, `None` if it is this store's own, and a clear
    /// if it cannot be read.
    fn decode(payload: &[u8], own: u64) -> Option<Event> {
        let Ok(wire) = serde_json::from_slice::<Wire>(payload) else {
            tracing::warn!("undecodable invalidation announcement; clearing");
            return Some(Event::clear());
        };
        if wire.event.origin == Some(own) {
            return None;
        }
        let mut event = wire.event;
        if let Some(key) = wire.key {
            match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key) {
                Ok(bytes) => event.key = Some(Key::from(bytes.as_slice())),
                Err(_) => return Some(Event::clear()),
            }
        }
        Some(event)
    }
}

struct Listener {
    inner: Arc<Inner>,
    messages: Option<redis::aio::PubSubStream>,
    backoff: Duration,
}

impl Listener {
    async fn next(&mut self) -> Event {
        use futures_util::StreamExt as _;
        loop {
            if let Some(messages) = &mut self.messages {
                match messages.next().await {
                    Some(message) => {
                        let payload = message.get_payload_bytes();
                        if let Some(event) = Wire::decode(payload, self.inner.origin) {
                            return event;
                        }
                        continue;
                    }
                    None => {
                        tracing::warn!("redis invalidation channel lost; resubscribing");
                        self.messages = None;
                    }
                }
            }
            let subscribe = async {
                let mut pubsub = self.inner.client.get_async_pubsub().await?;
                pubsub.subscribe(&*self.inner.channel).await?;
                Ok::<_, redis::RedisError>(pubsub.into_on_message())
            };
            match tokio::time::timeout(self.inner.connect_timeout, subscribe).await {
                Ok(Ok(messages)) => {
                    self.messages = Some(messages);
                    self.backoff = MIN_BACKOFF;
                    bump(&self.inner.counters.subscriptions);
                    // Announcements made while nobody listened are lost.
                    return Event::clear();
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, "redis subscription failed");
                }
                Err(_) => tracing::debug!("redis subscription timed out"),
            }
            tokio::time::sleep(self.backoff).await;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
    }
}

// ---------------------------------------------------------------------------
// Encoding

/// Encodes an entry as the store keeps it: a version byte
/// ([`FORMAT_VERSION`]), then the status, the replayed headers, the ETag,
/// `Last-Modified`, the tags, `stored_at`, the TTL and the body, with
/// LEB128 lengths and numbers.
///
/// ```
/// use cached_etag_runtime::store::redis::{decode_entry, encode_entry};
/// # use cached_etag_runtime::{ETag, Entry};
/// # let entry = Entry {
/// #     status: http::StatusCode::OK,
/// #     headers: http::HeaderMap::new(),
/// #     body: bytes::Bytes::from_static(b"hi"),
/// #     etag: ETag::from_content(b"hi"),
/// #     last_modified: None,
/// #     tags: vec![],
/// #     stored_at: std::time::SystemTime::now(),
/// #     ttl: std::time::Duration::from_secs(60),
/// # };
/// let bytes = encode_entry(&entry);
/// let back = decode_entry(bytes.into())?;
/// assert_eq!(back.body, entry.body);
/// # Ok::<(), cached_etag_runtime::StoreError>(())
/// ```
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entry.body.len() + entry.headers.len() * 48);
    out.push(FORMAT_VERSION);
    put_varint(&mut out, u64::from(entry.status.as_u16()));
    put_varint(&mut out, entry.headers.len() as u64);
    for (name, value) in &entry.headers {
        put_bytes(&mut out, name.as_str().as_bytes());
        put_bytes(&mut out, value.as_bytes());
    }
    out.push(u8::from(entry.etag.is_weak()));
    put_bytes(&mut out, entry.etag.opaque().as_bytes());
    match entry.last_modified {
        Some(time) => {
            out.push(1);
            put_time(&mut out, time);
        }
        None => out.push(0),
    }
    put_varint(&mut out, entry.tags.len() as u64);
    for tag in &entry.tags {
        put_bytes(&mut out, tag.as_bytes());
    }
    put_time(&mut out, entry.stored_at);
    put_varint(&mut out, entry.ttl.as_secs());
    put_varint(&mut out, u64::from(entry.ttl.subsec_nanos()));
    put_bytes(&mut out, &entry.body);
    out
}

/// Decodes what [`encode_entry`] made. Anything else, truncated or of
/// another version, is a [`StoreError::Decode`]; it never panics. The body
/// is a slice of `bytes`, not a copy.
pub fn decode_entry(bytes: Bytes) -> Result<Entry, StoreError> {
    let mut reader = Reader {
        bytes: &bytes,
        pos: 0,
    };
    let version = reader.byte()?;
    if version != FORMAT_VERSION {
        return Err(decode_error(format!("unknown format version {version}")));
    }
    let status = u16::try_from(reader.varint()?)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| decode_error("invalid status"))?;
    let header_count = reader.varint()?;
    let mut headers = HeaderMap::new();
    for _ in 0..header_count {
        let name = HeaderName::from_bytes(reader.bytes()?)
            .map_err(|_| decode_error("invalid header name"))?;
        let value = HeaderValue::from_bytes(reader.bytes()?)
            .map_err(|_| decode_error("invalid header value"))?;
        headers.append(name, value);
    }
    let weak = match reader.byte()? {
        0 => false,
        1 => true,
        _ => return Err(decode_error("invalid ETag flag")),
    };
    let opaque = reader.str()?;
    let etag = if weak {
        ETag::weak(opaque)
    } else {
        ETag::strong(opaque)
    }
    .map_err(|_| decode_error("invalid ETag"))?;
    let last_modified = match reader.byte()? {
        0 => None,
        1 => Some(reader.time()?),
        _ => return Err(decode_error("invalid Last-Modified flag")),
    };
    let tag_count = reader.varint()?;
    let mut tags = Vec::new();
    for _ in 0..tag_count {
        tags.push(Arc::from(reader.str()?));
    }
    let stored_at = reader.time()?;
    let ttl = reader.duration()?;
    let body = reader.len()?;
    let start = reader.pos;
    reader.skip(body)?;
    if reader.pos != bytes.len() {
        return Err(decode_error("trailing bytes"));
    }
    Ok(Entry {
        status,
        headers,
        body: bytes.slice(start..start + body),
        etag,
        last_modified,
        tags,
        stored_at,
        ttl,
    })
}

fn decode_error(message: impl Into<String>) -> StoreError {
    StoreError::Decode(message.into())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Whole seconds since the Unix epoch (zigzag, so earlier times fit) and
/// nanoseconds forward from there.
fn put_time(out: &mut Vec<u8>, time: SystemTime) {
    let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, 1_000_000_000 - n),
            }
        }
    };
    put_varint(out, ((secs << 1) ^ (secs >> 63)) as u64);
    put_varint(out, u64::from(nanos));
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, StoreError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| decode_error("truncated"))?;
        self.pos += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may carry one bit only.
            if shift == 63 && bits > 1 {
                break;
            }
            n |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(decode_error("varint overflow"))
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let len = usize::try_from(self.varint()?).map_err(|_| decode_error("length overflow"))?;
        if len > self.bytes.len() - self.pos {
            return Err(decode_error("truncated"));
        }
        Ok(len)
    }

    fn skip(&mut self, len: usize) -> Result<(), StoreError> {
        if len > self.bytes.len() - self.pos {
            return Err(decode_error("truncated"));
        }
        self.pos += len;
        Ok(())
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.len()?;
        let start = self.pos;
        self.skip(len)?;
        Ok(&self.bytes[start..start + len])
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| decode_error("invalid UTF-8"))
    }

    fn nanos(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.varint()?)
            .ok()
            .filter(|n| *n < 1_000_000_000)
            .ok_or_else(|| decode_error("invalid nanoseconds"))
    }

    fn time(&mut self) -> Result<SystemTime, StoreError> {
        let zigzag = self.varint()?;
        let secs = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let nanos = Duration::from_nanos(u64::from(self.nanos()?));
        let base = if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
        };
        base.and_then(|t| t.checked_add(nanos))
            .ok_or_else(|| decode_error("time out of range"))
    }

    fn duration(&mut self) -> Result<Duration, StoreError> {
        let secs = self.varint()?;
        let nanos = self.nanos()?;
        // Nanoseconds below one second cannot carry into the seconds.
        Ok(Duration::new(secs, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for n in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            let mut reader = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(reader.varint().unwrap(), n);
            assert_eq!(reader.pos, out.len());
        }
        let mut reader = Reader {
            bytes: &[0xff; 11],
            pos: 0,
        };
        assert!(reader.varint().is_err(), "11-byte varint rejected");
    }

    #[test]
    fn times_before_the_epoch_round_trip() {
        for time in [
            UNIX_EPOCH - Duration::new(5, 250),
            UNIX_EPOCH - Duration::from_secs(5),
            UNIX_EPOCH + Duration::new(1_732_442_400, 123_456_789),
            UNIX_EPOCH,
        ] {
            let mut out = Vec::new();
            put_time(&mut out, time);
            let mut reader = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(reader.time().unwrap(), time);
        }
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let breaker = Breaker::new(2, Duration::ZERO);
        assert!(!breaker.admit().unwrap().failed(&breaker));
        assert!(
            breaker.admit().unwrap().failed(&breaker),
            "second failure opens"
        );
        let probe = breaker.admit().expect("cool-down of zero: probe");
        assert!(breaker.admit().is_none(), "one probe at a time");
        drop(probe);
        let probe = breaker.admit().expect("abandoned probe frees the slot");
        probe.succeeded(&breaker);
        assert_eq!(*breaker.state.lock(), Circuit::Closed { failures: 0 });
    }

    #[test]
    fn open_circuit_refuses_until_the_cool_down_ends() {
        let breaker = Breaker::new(1, Duration::from_secs(3600));
        assert!(breaker.admit().unwrap().failed(&breaker));
        assert!(breaker.admit().is_none());
    }

    #[test]
    fn wire_round_trips_keys_and_skips_own_messages() {
        let key = Key::from(&[0u8, 255, b'k'][..]);
        let event = Event {
            key: Some(key.clone()),
            ..Event::tags(["a"]).with_etag(ETag::from_string("v1"))
        };
        let message = Wire::message(&event, Some(7));
        assert_eq!(Wire::decode(message.as_bytes(), 7), None);
        let heard = Wire::decode(message.as_bytes(), 8).unwrap();
        assert_eq!(heard.key, Some(key));
        assert_eq!((&heard.tags, &heard.etag), (&event.tags, &event.etag));
        assert_eq!(heard.origin, Some(7));
        let plain: Event = serde_json::from_str(&message).unwrap();
        assert_eq!(plain.tags, event.tags, "readable as a plain Event");
        assert_eq!(Wire::decode(b"not json", 7), Some(Event::clear()));
    }
}
