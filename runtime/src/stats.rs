//! Counters: what the cache did. Plain relaxed atomics, so counting costs a
//! few nanoseconds and never takes a lock on the hot path. These are the
//! cache's totals; [`route`] keeps the same story per route.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) mod route;

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Stats {
    /// Requests answered from a stored entry (200 or 304).
    pub hits: u64,
    /// Requests that found no usable entry and ran the handler.
    pub misses: u64,
    /// `304 Not Modified` answers, from a hit, a `check` or a fresh response.
    pub not_modified: u64,
    /// Requests answered `412 Precondition Failed`.
    pub precondition_failed: u64,
    /// Responses stored.
    pub stores: u64,
    /// Responses not stored: not 200, private, `Set-Cookie`, over a size
    /// limit, or made stale by an invalidation while they were being made.
    pub not_stored: u64,
    /// Requests that bypassed the shared cache: they carried credentials, or
    /// their key was over the size limit.
    pub bypassed: u64,
    /// Entries evicted to stay within the memory bounds.
    pub evictions: u64,
    /// Entries found expired.
    pub expirations: u64,
    /// Entries removed by invalidation.
    pub invalidations: u64,
    /// Entries an invalidation kept because their ETag had not changed.
    pub invalidations_skipped: u64,
    /// Requests that waited for another request's fill of the same key.
    pub coalesced: u64,
    /// Waits that ran out of time and ran the handler themselves.
    pub coalesce_timeouts: u64,
    /// Store calls that failed or timed out (the request ran its handler).
    pub store_errors: u64,
    /// Entries read from the remote store and refused: not storable here
    /// (a `Set-Cookie`, not a 200, `private`), or named by an invalidation
    /// the store has not confirmed yet.
    pub remote_refused: u64,
    /// Invalidations the remote store has not confirmed, waiting to be
    /// replayed (see [`Removed::remote_errors`](crate::Removed::remote_errors)).
    pub invalidations_pending: u64,
    /// Entries resident in memory.
    pub entries: u64,
    /// Bytes held by resident entries in memory.
    pub bytes_held: u64,
    /// Body bytes not sent because the client's copy was current (304s).
    pub bytes_saved: u64,
    /// Requests answered from a stale entry: within the policy's
    /// `stale_while_revalidate` window, or instead of an error within its
    /// `stale_if_error` window. Each is counted among the hits too.
    pub stale_served: u64,
    /// Background refreshes of stale entries started.
    pub refreshes: u64,
    /// Refreshes (or `check`s) that found the stale entry's ETag unchanged:
    /// the stored body was kept and its life extended.
    pub revalidated_unchanged: u64,
    /// Failed fills (a 5xx, a panic, a wait that timed out) answered with a
    /// stale entry instead.
    pub errors_masked: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub not_modified: AtomicU64,
    pub precondition_failed: AtomicU64,
    pub stores: AtomicU64,
    pub not_stored: AtomicU64,
    pub bypassed: AtomicU64,
    pub invalidations: AtomicU64,
    pub invalidations_skipped: AtomicU64,
    pub coalesced: AtomicU64,
    pub coalesce_timeouts: AtomicU64,
    pub store_errors: AtomicU64,
    pub remote_refused: AtomicU64,
    pub bytes_saved: AtomicU64,
    pub stale_served: AtomicU64,
    pub refreshes: AtomicU64,
    pub revalidated_unchanged: AtomicU64,
    pub errors_masked: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            not_modified: load(&self.not_modified),
            precondition_failed: load(&self.precondition_failed),
            stores: load(&self.stores),
            not_stored: load(&self.not_stored),
            bypassed: load(&self.bypassed),
            invalidations: load(&self.invalidations),
            invalidations_skipped: load(&self.invalidations_skipped),
            coalesced: load(&self.coalesced),
            coalesce_timeouts: load(&self.coalesce_timeouts),
            store_errors: load(&self.store_errors),
            remote_refused: load(&self.remote_refused),
            bytes_saved: load(&self.bytes_saved),
            stale_served: load(&self.stale_served),
            refreshes: load(&self.refreshes),
            revalidated_unchanged: load(&self.revalidated_unchanged),
            errors_masked: load(&self.errors_masked),
            ..Stats::default()
        }
    }
}
