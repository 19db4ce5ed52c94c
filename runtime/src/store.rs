//! Where responses are kept: the [`Entry`] and the [`Store`] trait.
//!
//! The [`Cache`](crate::Cache) always keeps a [`MemoryStore`] in front,
//! called directly (no boxing, no `await`) because a hit is the path that must
//! cost nothing. A second, remote store (Redis, or your own) plugs in behind
//! it through [`Store`], an object-safe async trait: its calls go over a
//! network, where a boxed future is noise. Remote calls run under a timeout
//! and every error makes the request run its handler instead (fail open).

pub mod codec;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::ETag;

pub use memory::{EntryRef, Lookup, MemoryStore, Stored};

/// A boxed future, as [`Store`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One stored response with its validators.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The response status (200 unless a policy stores others).
    pub status: StatusCode,
    /// The headers replayed on a hit: the handler's own (less the per-message
    /// ones such as `Date`, `Set-Cookie` and hop-by-hop fields) plus
    /// `Cache-Control` and `Vary` as the policy set them. The validators are
    /// not among them: a hit sends `ETag` from [`etag`](Self::etag) and
    /// `Last-Modified` from [`last_modified`](Self::last_modified), so that
    /// the entries of one handler, which mostly differ only there, share one
    /// copy of the rest.
    pub headers: Arc<HeaderMap>,
    /// The body.
    pub body: Bytes,
    /// The entity tag, computed once when the entry was made.
    pub etag: ETag,
    /// When the representation last changed, if the ETag style knows.
    pub last_modified: Option<SystemTime>,
    /// The tags the entry is invalidated by.
    pub tags: Vec<Arc<str>>,
    /// When the entry was stored.
    pub stored_at: SystemTime,
    /// How long after `stored_at` the entry stays fresh.
    pub ttl: Duration,
    /// How long after it stops being fresh the entry is still kept, to be
    /// served stale while it is refreshed or when its refresh fails (the
    /// policy's longer [stale window](crate::StaleWindows::longest); zero
    /// for most). A store keeps an entry for `ttl + stale_for`.
    pub stale_for: Duration,
}

impl Entry {
    /// When the entry expires; `None` past what `SystemTime` can hold (a
    /// TTL read from outside data can be anything).
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.stored_at.checked_add(self.ttl)
    }

    /// The time left before the entry expires, zero if it has. Computed
    /// without adding to `stored_at`, so no TTL can overflow it; an entry
    /// stored "in the future" (clocks differ) has its whole TTL left.
    pub fn remaining_ttl(&self, now: SystemTime) -> Duration {
        match now.duration_since(self.stored_at) {
            Ok(age) => self.ttl.saturating_sub(age),
            Err(_) => self.ttl,
        }
    }

    /// How long ago the entry stopped being fresh; `None` while it is fresh.
    pub fn stale_age(&self, now: SystemTime) -> Option<Duration> {
        let expired = self.expires_at()?;
        now.duration_since(expired).ok()
    }

    /// The time left before a store lets the entry go: what is left of its
    /// freshness and then of its stale window.
    pub fn remaining_life(&self, now: SystemTime) -> Duration {
        match self.stale_age(now) {
            Some(age) => self.stale_for.saturating_sub(age),
            None => self.remaining_ttl(now).saturating_add(self.stale_for),
        }
    }

    /// The bytes the entry holds: headers and body, for size bounds.
    pub fn weight(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 16).sum();
        std::mem::size_of::<Self>() + headers + tags + self.body.len() + self.etag.opaque().len()
    }
}

/// Why a store call failed. The cache counts it, logs it and runs the handler.
///
/// (Display and Error are written out rather than derived with thiserror:
/// its proc-macro would be one more build step in every user's tree for four
/// messages.)
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The call took longer than the cache's store timeout.
    Timeout(Duration),
    /// The store is known to be down and is not being called for a while.
    Unavailable,
    /// A stored value could not be decoded (a version mismatch, say).
    Decode(String),
    /// Anything the backend reports.
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Timeout(after) => write!(f, "store call timed out after {after:?}"),
            StoreError::Unavailable => f.write_str("store unavailable (circuit open)"),
            StoreError::Decode(why) => write!(f, "stored entry could not be decoded: {why}"),
            StoreError::Backend(error) => write!(f, "store backend error: {error}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(error) => Some(&**error),
            _ => None,
        }
    }
}

/// What removing entries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Entries removed.
    pub removed: u64,
    /// Entries kept because their ETag equalled the new one.
    pub skipped: u64,
    /// Remote store calls of this invalidation that failed (an error, a
    /// timeout, an open circuit). When it is not zero the remote store may
    /// still hold what was invalidated: the [`Cache`](crate::Cache) keeps
    /// the invalidation and replays it until the store accepts it, and
    /// meanwhile serves nothing it names from the store (read-your-writes
    /// holds here); other instances learn of it once the replay succeeds.
    pub remote_errors: u64,
}

impl Removed {
    /// Whether every part of the invalidation reached every store.
    pub fn is_complete(&self) -> bool {
        self.remote_errors == 0
    }
}

impl std::ops::AddAssign for Removed {
    fn add_assign(&mut self, other: Self) {
        self.removed += other.removed;
        self.skipped += other.skipped;
        self.remote_errors += other.remote_errors;
    }
}

/// A place to keep entries, shared by many requests and possibly by many
/// processes. Keys are bytes ([`Key::as_bytes`](crate::Key::as_bytes)).
///
/// Implementations report failures as [`StoreError`] and never panic; the
/// cache applies its own timeout around every call. `remove_tags` and
/// `remove_if_changed` with `keep` must compare ETags where the data lives
/// (a script in Redis), so that an entry another process refreshed is not
/// judged on a stale copy.
pub trait Store: Send + Sync + 'static {
    /// The entry under `key`, if any and not expired. The cache keeps a copy
    /// in memory for the entry's `ttl` from its `stored_at`, so a remote store
    /// should answer with `stored_at = now` and `ttl` = the time it has left,
    /// so that the copy never outlives the original.
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>>;

    /// Stores `entry` under `key` for `entry.ttl`, indexed by `entry.tags`.
    fn put<'a>(&'a self, key: &'a [u8], entry: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Removes the entry under `key`, unless `keep` is given and equals
    /// (weakly, RFC 9110 §8.8.3.2) the stored entry's ETag.
    fn remove<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>>;

    /// Removes every entry carrying any of `tags`, keeping those whose ETag
    /// equals `keep` when it is given.
    fn remove_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>>;

    /// Marks the entry under `key` stale instead of removing it, unless
    /// `keep` equals its ETag (a soft purge). A store that keeps no stale
    /// entries removes it: that is what this default does.
    fn soften<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        self.remove(key, keep)
    }

    /// Marks every entry carrying any of `tags` stale instead of removing
    /// it (see [`soften`](Self::soften)); by default, removes them.
    fn soften_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        self.remove_tags(tags, keep)
    }

    /// Removes every entry.
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

impl<S: Store + ?Sized> Store for Arc<S> {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        (**self).get(key)
    }
    fn put<'a>(&'a self, key: &'a [u8], entry: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).put(key, entry)
    }
    fn remove<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        (**self).remove(key, keep)
    }
    fn remove_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        (**self).remove_tags(tags, keep)
    }
    fn soften<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        (**self).soften(key, keep)
    }
    fn soften_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        (**self).soften_tags(tags, keep)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        (**self).clear()
    }
}
