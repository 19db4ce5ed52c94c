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
//! | `P e:<gen>:<key>` | a hash: `v` the [encoded](encode_entry) entry, `e` its ETag's opaque part, `t` its tags, `s` its guards (each tag with its stamp when the entry was stored); expires with the entry (`PEXPIRE`) |
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
//!   set is found without it, every fill that began before is refused (the `^` fence), since
//!   which of them an invalidation overtook is unknown.
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
/// Default interval between two `PING`s on the subscription's connection.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// Default wait for a `PONG` before the subscription is taken for lost.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(500);

/// The first byte of every encoded entry.
pub const FORMAT_VERSION: u8 = 1;

/// The longest expiry given to Redis, in ms (some 35 000 years).
const MAX_TTL_MS: u128 = 1 << 50;

/// Deleted per `UNLINK`/`SREM` call inside the tag script: Lua's `unpack`
/// has a stack limit, and smaller batches keep each call short.
const BATCH: usize = 500;

/// Shared by every script: the clock, the epoch, and the check that no
/// bookkeeping was lost.
///
/// Epochs are Redis `TIME` in µs, or one more than the last epoch when that
/// is later: they never go back, not across a lost counter either (an
/// eviction, a restart without persistence: they go on from the generation,
/// or from the clock), and they read as times, so that old fences can be
/// pruned by score. Numbers are formatted as integers: Lua would print a
/// large one in exponent form. Scripts that call `TIME` and then write rely
/// on effects replication (Redis 5+).
const COMMON: &str = r"
local p = ARGV[1]
local fences = p .. 'fences'
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function int(n) return string.format('%.0f', n) end
local function bump()
  local last = redis.call('GET', p .. 'epoch') or redis.call('GET', p .. 'gen') or '0'
  local epoch = int(math.max(tonumber(last) + 1, now_us()))
  redis.call('SET', p .. 'epoch', epoch)
  return epoch
end
local function epoch()
  return redis.call('GET', p .. 'epoch') or bump()
end
local function generation()
  if not redis.call('ZSCORE', fences, '~') then
    redis.call('ZADD', fences, '+inf', '~', bump(), '^')
  end
  local gen = redis.call('GET', p .. 'gen')
  if not gen then
    gen = bump()
    redis.call('SET', p .. 'gen', gen)
  end
  return gen
end
local function prune(window_ms)
  local horizon = now_us() - tonumber(window_ms) * 1000
  redis.call('ZREMRANGEBYSCORE', fences, '-inf', '(' .. int(horizon))
end
";

/// Reads the entry and the current epoch (the fill fence token) at once.
/// An entry whose guards no longer hold (a tag was invalidated since it was
/// stored, or a tag's stamp was lost) is a miss, and is deleted.
/// ARGV: prefix, key.
const GET: &str = r"
local gen = generation()
local token = epoch()
local ek = p .. 'e:' .. gen .. ':' .. ARGV[2]
local found = redis.call('HMGET', ek, 'v', 's')
if not found[1] then return {tonumber(token)} end
local held = found[2] and true
if held then
  local guards = cmsgpack.unpack(found[2])
  for i = 1, #guards, 2 do
    if redis.call('GET', p .. 's:' .. guards[i]) ~= guards[i + 1] then
      held = false
      break
    end
  end
end
if not held then
  redis.call('UNLINK', ek)
  return {tonumber(token)}
end
return {tonumber(token), redis.call('PTTL', ek), found[1]}
";

/// Stores an entry unless an invalidation fenced it; returns 1 if stored.
/// The entry records each tag's stamp as it is now (its guards).
/// ARGV: prefix, key, token (-1: unknown), ttl ms, value, etag, fence ms,
/// tags...
const PUT: &str = r"
local key, ttl = ARGV[2], tonumber(ARGV[4])
local gen = generation()
local token = tonumber(ARGV[3])
if token < 0 then token = now_us() - tonumber(ARGV[7]) * 1000 end
local function fenced(name)
  local f = redis.call('ZSCORE', fences, name)
  return f and tonumber(f) > token
end
if token < tonumber(gen) or fenced('^') or fenced('k:' .. key) then return 0 end
for i = 8, #ARGV do
  if fenced('t:' .. ARGV[i]) then return 0 end
end
local ek = p .. 'e:' .. gen .. ':' .. key
local tags, list, guards = {}, {}, {}
for i = 8, #ARGV do
  local tag = ARGV[i]
  tags[tag] = true
  list[#list + 1] = tag
  local sk = p .. 's:' .. tag
  local stamp = redis.call('GET', sk)
  if not stamp then
    stamp = epoch()
    redis.call('SET', sk, stamp, 'PX', ARGV[4])
  elseif redis.call('PTTL', sk) < ttl then
    redis.call('PEXPIRE', sk, ARGV[4])
  end
  guards[#guards + 1] = tag
  guards[#guards + 1] = stamp
end
local old = redis.call('HGET', ek, 't')
if old then
  for _, t in ipairs(cmsgpack.unpack(old)) do
    if not tags[t] then redis.call('SREM', p .. 't:' .. gen .. ':' .. t, ek) end
  end
end
redis.call('HSET', ek, 'v', ARGV[5], 'e', ARGV[6], 't', cmsgpack.pack(list),
  's', cmsgpack.pack(guards))
redis.call('PEXPIRE', ek, ARGV[4])
for _, tag in ipairs(list) do
  local tk = p .. 't:' .. gen .. ':' .. tag
  redis.call('SADD', tk, ek)
  if redis.call('PTTL', tk) < ttl then redis.call('PEXPIRE', tk, ARGV[4]) end
end
return 1
";

/// Removes one entry unless its ETag equals `keep`; fences the key and
/// announces the event. ARGV: prefix, key, has_keep, keep, fence ms,
/// message ('' for none). Returns {removed, skipped}.
const REMOVE: &str = r"
local key = ARGV[2]
local gen = generation()
redis.call('ZADD', fences, bump(), 'k:' .. key)
prune(ARGV[5])
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
/// bounded batches, in one atomic script; moves the tags' stamps on (every
/// entry stored before is unreadable at once, found in a tag set or not),
/// restamps the entries it keeps, fences the tags and announces the event.
/// ARGV: prefix, has_keep, keep, fence ms, message, batch, tags...
/// Returns {removed, skipped}.
const REMOVE_TAGS: &str = r"
local has_keep, keep = ARGV[2] == '1', ARGV[3]
local batch_size = tonumber(ARGV[6])
local gen = generation()
local epoch = bump()
prune(ARGV[4])
local before = {}
for i = 7, #ARGV do
  before[ARGV[i]] = redis.call('GET', p .. 's:' .. ARGV[i])
end
for i = 7, #ARGV do
  local tag = ARGV[i]
  redis.call('ZADD', fences, epoch, 't:' .. tag)
  if before[tag] then redis.call('SET', p .. 's:' .. tag, epoch, 'KEEPTTL') end
end
local function keeps(ek)
  local found = redis.call('HMGET', ek, 'e', 's')
  if found[1] ~= keep or not found[2] then return false end
  local guards = cmsgpack.unpack(found[2])
  for i = 1, #guards, 2 do
    local stamp = before[guards[i]]
    if stamp == nil then stamp = redis.call('GET', p .. 's:' .. guards[i]) end
    if stamp ~= guards[i + 1] then return false end
    if before[guards[i]] then guards[i + 1] = epoch end
  end
  redis.call('HSET', ek, 's', cmsgpack.pack(guards))
  return true
end
local removed, skipped, seen = 0, 0, {}
for i = 7, #ARGV do
  local tk = p .. 't:' .. gen .. ':' .. ARGV[i]
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
      if has_keep and keeps(ek) then
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

/// Starts a new generation (every entry unreachable at once; puts whose
/// fill began before it are refused), announces it. ARGV: prefix, fence
/// ms, message.
const CLEAR: &str = r"
generation()
redis.call('SET', p .. 'gen', bump())
prune(ARGV[2])
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
    get: Script::new(&format!("{COMMON}{GET}")),
    put: Script::new(&format!("{COMMON}{PUT}")),
    remove: Script::new(&format!("{COMMON}{REMOVE}")),
    remove_tags: Script::new(&format!("{COMMON}{REMOVE_TAGS}")),
    clear: Script::new(&format!("{COMMON}{CLEAR}")),
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

    /// How often [`events`](RedisStore::events) pings Redis on its
    /// subscription's connection (default every 1 s), and how long it
    /// waits for the answer (default 500 ms) before it takes the
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
                origin: origin_id(),
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
    /// Times the event subscription was (re)established.
    pub subscriptions: u64,
    /// Times the event subscription was found lost: its connection closed,
    /// or it did not answer the heartbeat in time.
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

    /// The invalidations other instances announce, for
    /// [`Cache::listen_local`](crate::Cache::listen_local).
    ///
    /// The stream subscribes to the channel when first polled and never
    /// ends. Announcements made by this store's own [`Store`] calls are
    /// skipped (the cache that made them already applied them); those made
    /// with [`publish`](Self::publish) are not. An announcement that cannot
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
    /// layer of a listening instance stops serving what it invalidated
    /// within 1.5 s of the announcement (the heartbeat's bound; about 1.2 s
    /// between clears while Redis is unreachable), whatever happens to the
    /// connection; normally within a round trip.
    pub fn events(&self) -> impl Stream<Item = Event> + Send + 'static {
        let listener = Listener {
            inner: self.inner.clone(),
            subscription: None,
            retry_at: None,
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
            // As good as a miss: the fill that follows may replace it.
            bump(&self.inner.counters.decode_errors);
            if let Ok(epoch) = u64::try_from(epoch) {
                self.remember_miss(key, epoch);
            }
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
        // PEXPIRE takes whole milliseconds; a zero would delete the entry,
        // and Redis refuses an expiry past what its clock can add.
        let ttl_ms = ttl.as_millis().clamp(1, MAX_TTL_MS);
        let value = encode_entry(entry);
        let mut invocation = SCRIPTS.put.prepare_invoke();
        invocation
            .arg(&*self.inner.prefix)
            .arg(key)
            .arg(token.to_string())
            .arg(ttl_ms.to_string())
            .arg(value)
            .arg(entry.etag.opaque())
            .arg(self.fence_ms());
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

/// How the subscription's connection is checked; see
/// [`RedisStoreBuilder::heartbeat`].
#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    interval: Duration,
    timeout: Duration,
}

/// The stream behind [`RedisStore::events`]: one subscription at a time,
/// and a clear whenever what it hears cannot be trusted to be complete.
struct Listener {
    inner: Arc<Inner>,
    subscription: Option<Subscription>,
    /// When the next attempt to subscribe may be made, after a failed one.
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Listener {
    async fn next(&mut self) -> Event {
        while let Some(subscription) = &mut self.subscription {
            match subscription.heard(self.inner.heartbeat).await {
                Heard::Message(payload) => {
                    if let Some(event) = Wire::decode(&payload, self.inner.origin) {
                        return event;
                    }
                }
                Heard::Lost(why) => {
                    tracing::warn!(
                        why,
                        "redis invalidation channel lost; clearing and resubscribing"
                    );
                    bump(&self.inner.counters.subscriptions_lost);
                    self.subscription = None;
                    // The first attempt at once: a restarted Redis may be
                    // back already.
                    self.retry_at = None;
                    self.backoff = MIN_BACKOFF;
                    // From now on other instances' invalidations go unheard.
                    return Event::clear();
                }
            }
        }
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at).await;
        }
        match subscribe(&self.inner).await {
            Ok(subscription) => {
                self.subscription = Some(subscription);
                self.retry_at = None;
                self.backoff = MIN_BACKOFF;
                bump(&self.inner.counters.subscriptions);
            }
            Err(why) => {
                tracing::debug!(why, "redis subscription failed; retrying");
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
        // Subscribed: announcements made while nobody listened are lost.
        // Not subscribed: what the memory layer filled since the last clear
        // may already be invalidated elsewhere, unheard.
        Event::clear()
    }
}

/// A new subscription to the channel, within the connect timeout.
async fn subscribe(inner: &Inner) -> Result<Subscription, String> {
    let subscribe = async {
        let mut pubsub = inner.client.get_async_pubsub().await?;
        pubsub.subscribe(&*inner.channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(inner.connect_timeout, subscribe).await {
        Ok(Ok(pubsub)) => Ok(Subscription::new(pubsub, inner.heartbeat)),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// A live subscription: its messages, and the heartbeat that finds out
/// when the connection died without closing.
struct Subscription {
    sink: redis::aio::PubSubSink,
    messages: redis::aio::PubSubStream,
    /// The `PING` awaiting its `PONG`, if one was sent.
    ping: Option<BoxFuture<'static, redis::RedisResult<Value>>>,
    /// When the next `PING` is due, or, while one is out, when it is late.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

enum Heard {
    Message(Vec<u8>),
    Lost(&'static str),
}

impl Subscription {
    fn new(pubsub: redis::aio::PubSub, heartbeat: Heartbeat) -> Self {
        let (sink, messages) = pubsub.split();
        Subscription {
            sink,
            messages,
            ping: None,
            timer: Box::pin(tokio::time::sleep(heartbeat.interval)),
        }
    }

    /// The next message, or why the subscription is lost. Messages keep
    /// flowing while a `PING` is out.
    async fn heard(&mut self, heartbeat: Heartbeat) -> Heard {
        std::future::poll_fn(move |cx| self.poll_heard(cx, heartbeat)).await
    }

    fn poll_heard(
        &mut self,
        cx: &mut std::task::Context<'_>,
        heartbeat: Heartbeat,
    ) -> std::task::Poll<Heard> {
        use futures_util::StreamExt as _;
        use std::task::Poll;
        if let Poll::Ready(message) = self.messages.poll_next_unpin(cx) {
            return Poll::Ready(match message {
                Some(message) => Heard::Message(message.get_payload_bytes().to_vec()),
                None => Heard::Lost("connection closed"),
            });
        }
        loop {
            if let Some(ping) = &mut self.ping {
                match ping.as_mut().poll(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.ping = None;
                        let next = Instant::now() + heartbeat.interval;
                        self.timer.as_mut().reset(next);
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Heard::Lost("heartbeat failed")),
                    Poll::Pending => {}
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.ping.is_some() {
                return Poll::Ready(Heard::Lost("no answer to the heartbeat"));
            }
            let mut sink = self.sink.clone();
            self.ping = Some(Box::pin(async move { sink.ping::<Value>().await }));
            let late = Instant::now() + heartbeat.timeout;
            self.timer.as_mut().reset(late);
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
