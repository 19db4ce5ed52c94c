//! The Lua scripts of the Redis store, and how each is called.
//!
//! Every operation on the layout (see the parent module) is one script, so
//! Redis runs it atomically: no reader sees half an invalidation, a `keep`
//! compares the ETag Redis holds, and an invalidation's announcement goes
//! out in the same script, once Redis no longer holds what it names. Each
//! function below builds one script's invocation from typed arguments, for
//! the store to send under its guards, and the reply readers turn what the
//! scripts answer back into values; a reply of another shape is a
//! [`StoreError::Backend`]. A script goes out as `EVALSHA` and is loaded
//! when Redis answers `NOSCRIPT` (redis-rs [`Script`]), so a restarted
//! Redis costs one round trip more, once per script.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, ScriptInvocation, Value};

use crate::ETag;
use crate::store::codec::encode_entry;
use crate::store::{Entry, Removed, StoreError};

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

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    get: Script::new(&format!("{COMMON}{GET}")),
    put: Script::new(&format!("{COMMON}{PUT}")),
    remove: Script::new(&format!("{COMMON}{REMOVE}")),
    remove_tags: Script::new(&format!("{COMMON}{REMOVE_TAGS}")),
    clear: Script::new(&format!("{COMMON}{CLEAR}")),
});

/// The lookup of `key`; read its reply with [`lookup`].
pub(super) fn get(prefix: &[u8], key: &[u8]) -> ScriptInvocation<'static> {
    let mut invocation = SCRIPTS.get.prepare_invoke();
    invocation.arg(prefix).arg(key);
    invocation
}

/// The put of `entry` under `key` for `ttl`, refused if an invalidation
/// newer than `began` (the epoch its fill began after; `None`: a fence
/// window ago) fenced the key, one of its tags or the generation; read its
/// reply with [`refused`].
pub(super) fn put(
    prefix: &[u8],
    key: &[u8],
    began: Option<u64>,
    ttl: Duration,
    entry: &Entry,
    fence_window: Duration,
) -> ScriptInvocation<'static> {
    // PEXPIRE takes whole milliseconds; a zero would delete the entry,
    // and Redis refuses an expiry past what its clock can add.
    let ttl_ms = ttl.as_millis().clamp(1, MAX_TTL_MS);
    let mut invocation = SCRIPTS.put.prepare_invoke();
    invocation
        .arg(prefix)
        .arg(key)
        .arg(began.map_or(-1, i128::from).to_string())
        .arg(ttl_ms.to_string())
        .arg(encode_entry(entry))
        .arg(entry.etag.opaque())
        .arg(fence_ms(fence_window));
    for tag in &entry.tags {
        invocation.arg(tag.as_bytes());
    }
    invocation
}

/// The removal of `key` unless its ETag equals `keep`, announcing
/// `message` (none if empty); read its reply with [`removed`].
pub(super) fn remove(
    prefix: &[u8],
    key: &[u8],
    keep: Option<&ETag>,
    fence_window: Duration,
    message: &str,
) -> ScriptInvocation<'static> {
    let mut invocation = SCRIPTS.remove.prepare_invoke();
    invocation
        .arg(prefix)
        .arg(key)
        .arg(if keep.is_some() { "1" } else { "0" })
        .arg(keep.map_or("", ETag::opaque))
        .arg(fence_ms(fence_window))
        .arg(message);
    invocation
}

/// The removal of every entry of `tags` unless its ETag equals `keep`,
/// announcing `message` (none if empty); read its reply with [`removed`].
pub(super) fn remove_tags(
    prefix: &[u8],
    tags: &[&str],
    keep: Option<&ETag>,
    fence_window: Duration,
    message: &str,
) -> ScriptInvocation<'static> {
    let mut invocation = SCRIPTS.remove_tags.prepare_invoke();
    invocation
        .arg(prefix)
        .arg(if keep.is_some() { "1" } else { "0" })
        .arg(keep.map_or("", ETag::opaque))
        .arg(fence_ms(fence_window))
        .arg(message)
        .arg(BATCH);
    for tag in tags {
        invocation.arg(*tag);
    }
    invocation
}

/// The start of a new generation, announcing `message` (none if empty).
pub(super) fn clear(
    prefix: &[u8],
    fence_window: Duration,
    message: &str,
) -> ScriptInvocation<'static> {
    let mut invocation = SCRIPTS.clear.prepare_invoke();
    invocation
        .arg(prefix)
        .arg(fence_ms(fence_window))
        .arg(message);
    invocation
}

fn fence_ms(fence_window: Duration) -> String {
    fence_window.as_millis().max(1).to_string()
}

/// What the get script answered.
pub(super) struct Lookup {
    /// The epoch at the lookup: the fence token of the fill a miss begins.
    pub(super) epoch: i64,
    /// The encoded entry, on a hit.
    pub(super) value: Option<Vec<u8>>,
    /// The entry's time left in Redis, in ms (its `PTTL`), on a hit.
    pub(super) pttl: Option<i64>,
}

/// Reads the reply of [`get`].
pub(super) fn lookup(reply: Value) -> Result<Lookup, StoreError> {
    let mut reply = as_array(reply)?.into_iter();
    let epoch = reply
        .next()
        .as_ref()
        .and_then(as_int)
        .ok_or_else(unexpected)?;
    let (Some(pttl), Some(Value::BulkString(value))) = (reply.next(), reply.next()) else {
        return Ok(Lookup {
            epoch,
            value: None,
            pttl: None,
        });
    };
    Ok(Lookup {
        epoch,
        value: Some(value),
        pttl: as_int(&pttl),
    })
}

/// Reads the reply of [`put`]: whether Redis refused the entry.
pub(super) fn refused(reply: &Value) -> bool {
    as_int(reply) == Some(0)
}

/// Reads the reply of [`remove`] and [`remove_tags`].
pub(super) fn removed(reply: Value) -> Result<Removed, StoreError> {
    let reply = as_array(reply)?;
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

fn unexpected() -> StoreError {
    StoreError::Backend("unexpected reply from a cached-etag script".into())
}
