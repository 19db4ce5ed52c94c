//! Counters per route: what the cache did for each policy, readable without
//! a metrics recorder ([`Cache::route_stats`](crate::Cache::route_stats)).
//!
//! Each policy a cache serves gets one [`RouteCounters`], reached from the
//! `Arc<Policy>` the request already holds: the first cache to serve a
//! policy claims the policy's slot, so its requests find their counters
//! with one atomic load and no lock or map lookup. A policy shared by
//! several caches (a `static` that two test caches use, say) is claimed by
//! one of them; the others keep their counters for it in their own map,
//! behind a read lock, so the counts of two caches never mix. Counters are
//! kept per policy [`id`](crate::Policy::id), the identity cache keys carry,
//! so an invalidation can attribute each entry it removes to its route, and
//! two policies with one id (two layers built with the same name) share one
//! set, as they share entries. Every count a route keeps is bumped in one
//! method below, which also moves the route's `metrics` series: a new count
//! is a field, a method and a series in `metrics.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
#[cfg(feature = "metrics")]
use std::time::Duration;

use http::StatusCode;
use parking_lot::RwLock;

use crate::Policy;

/// What the cache did for one route: a snapshot, from
/// [`Cache::route_stats`](crate::Cache::route_stats).
///
/// ```
/// use cached_etag_runtime::RouteStats;
///
/// let mut stats = RouteStats::default();
/// assert_eq!(stats.hit_ratio(), None);
/// (stats.hits, stats.misses) = (3, 1);
/// assert_eq!(stats.hit_ratio(), Some(0.75));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RouteStats {
    /// Requests answered from a stored entry (200 or 304).
    pub hits: u64,
    /// Requests that ran the handler (bypasses included).
    pub misses: u64,
    /// `304 Not Modified` answered from a stored entry: neither the handler
    /// nor the body's bytes were spent.
    pub not_modified_from_store: u64,
    /// `304 Not Modified` answered after the handler ran: the client held
    /// the new version already; the bytes were saved, the work was not.
    pub not_modified_after_fill: u64,
    /// `304 Not Modified` answered by the `check` validator alone.
    pub not_modified_by_check: u64,
    /// Requests answered `412 Precondition Failed`.
    pub precondition_failed: u64,
    /// Responses stored.
    pub stores: u64,
    /// Storable responses not stored: an invalidation overtook them.
    pub not_stored: u64,
    /// Requests that bypassed the shared cache: credentials the policy does
    /// not open, or a key over the size limit.
    pub bypassed: u64,
    /// Requests that waited for another request's fill of the same key.
    pub coalesced: u64,
    /// Remote store calls of this route's requests that failed or timed out.
    pub store_errors: u64,
    /// Entries of this route removed from memory by invalidation.
    pub invalidations: u64,
    /// Entries of this route an invalidation kept: their ETag was unchanged.
    pub invalidations_skipped: u64,
    /// Body bytes not sent because the client's copy was current (304s).
    pub bytes_saved: u64,
    /// Requests answered from a stale entry, while it was refreshed or
    /// instead of an error.
    pub stale_served: u64,
}

impl RouteStats {
    /// Every `304 Not Modified` of the route, whatever answered it.
    pub fn not_modified(&self) -> u64 {
        self.not_modified_from_store + self.not_modified_after_fill + self.not_modified_by_check
    }

    /// Hits over hits and misses; `None` before the first request.
    pub fn hit_ratio(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }
}

impl std::ops::AddAssign for RouteStats {
    fn add_assign(&mut self, other: Self) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.not_modified_from_store += other.not_modified_from_store;
        self.not_modified_after_fill += other.not_modified_after_fill;
        self.not_modified_by_check += other.not_modified_by_check;
        self.precondition_failed += other.precondition_failed;
        self.stores += other.stores;
        self.not_stored += other.not_stored;
        self.bypassed += other.bypassed;
        self.coalesced += other.coalesced;
        self.store_errors += other.store_errors;
        self.invalidations += other.invalidations;
        self.invalidations_skipped += other.invalidations_skipped;
        self.bytes_saved += other.bytes_saved;
        self.stale_served += other.stale_served;
    }
}

/// How a request was answered, as the request path reports it once per
/// request (beside its `tracing` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// From a stored entry.
    Hit,
    /// From a stale entry, while it is refreshed.
    Stale,
    /// The handler ran, alone or as a fill.
    Miss,
    /// A 304 from the `check` validator, nothing run.
    Check,
    /// The shared cache was not used: the request carried credentials the
    /// policy does not open.
    Credentials,
    /// The shared cache was not used: the key was over the size limit.
    KeySize,
    /// Not a GET or HEAD: passed through, not counted.
    Method,
}

impl Answer {
    /// The outcome and its reason, as the request's `tracing` event names them.
    pub(crate) fn describe(self) -> (&'static str, Option<&'static str>) {
        match self {
            Answer::Hit => ("hit", None),
            Answer::Stale => ("hit", Some("stale")),
            Answer::Miss => ("miss", None),
            Answer::Check => ("not_modified", Some("check")),
            Answer::Credentials => ("bypass", Some("credentials")),
            Answer::KeySize => ("bypass", Some("key_size")),
            Answer::Method => ("bypass", Some("method")),
        }
    }
}

/// One route's live counters in one cache.
#[derive(Debug)]
pub(crate) struct RouteCounters {
    name: &'static str,
    hits: AtomicU64,
    misses: AtomicU64,
    not_modified_from_store: AtomicU64,
    not_modified_after_fill: AtomicU64,
    not_modified_by_check: AtomicU64,
    precondition_failed: AtomicU64,
    stores: AtomicU64,
    not_stored: AtomicU64,
    bypassed: AtomicU64,
    coalesced: AtomicU64,
    store_errors: AtomicU64,
    invalidations: AtomicU64,
    invalidations_skipped: AtomicU64,
    bytes_saved: AtomicU64,
    stale_served: AtomicU64,
    #[cfg(feature = "metrics")]
    series: crate::metrics::RouteSeries,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl RouteCounters {
    fn new(name: &'static str, _cache: &'static str) -> Self {
        RouteCounters {
            name,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            not_modified_from_store: AtomicU64::new(0),
            not_modified_after_fill: AtomicU64::new(0),
            not_modified_by_check: AtomicU64::new(0),
            precondition_failed: AtomicU64::new(0),
            stores: AtomicU64::new(0),
            not_stored: AtomicU64::new(0),
            bypassed: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            invalidations_skipped: AtomicU64::new(0),
            bytes_saved: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            series: crate::metrics::RouteSeries::register(name, _cache),
        }
    }

    /// Counts one request's answer. A 304 is attributed to what answered
    /// it: a stored entry (a hit), the handler (a miss or a bypass), or the
    /// check.
    pub(crate) fn answered(&self, answer: Answer, status: StatusCode) {
        let not_modified = status == StatusCode::NOT_MODIFIED;
        match answer {
            Answer::Method => return,
            Answer::Hit | Answer::Stale => {
                if answer == Answer::Stale {
                    self.served_stale();
                }
                bump(&self.hits, 1);
                #[cfg(feature = "metrics")]
                self.series.hits.increment(1);
                if not_modified {
                    bump(&self.not_modified_from_store, 1);
                    #[cfg(feature = "metrics")]
                    self.series.not_modified_from_store.increment(1);
                }
            }
            // The check answers 304, or 412 to an `If-Match` it fails.
            Answer::Check if not_modified => {
                bump(&self.not_modified_by_check, 1);
                #[cfg(feature = "metrics")]
                self.series.not_modified_by_check.increment(1);
            }
            Answer::Check => {}
            Answer::Miss | Answer::Credentials | Answer::KeySize => {
                bump(&self.misses, 1);
                #[cfg(feature = "metrics")]
                self.series.misses.increment(1);
                if answer != Answer::Miss {
                    bump(&self.bypassed, 1);
                    #[cfg(feature = "metrics")]
                    self.series.bypassed.increment(1);
                }
                if not_modified {
                    bump(&self.not_modified_after_fill, 1);
                    #[cfg(feature = "metrics")]
                    self.series.not_modified_after_fill.increment(1);
                }
            }
        }
        if status == StatusCode::PRECONDITION_FAILED {
            bump(&self.precondition_failed, 1);
            #[cfg(feature = "metrics")]
            self.series.precondition_failed.increment(1);
        }
    }

    /// A 304 spared the client `bytes` of body.
    pub(crate) fn saved(&self, bytes: usize) {
        bump(&self.bytes_saved, bytes as u64);
        #[cfg(feature = "metrics")]
        self.series.saved(bytes);
    }

    /// A fill's response was stored (`true`) or, storable, was overtaken
    /// by an invalidation (`false`).
    pub(crate) fn stored(&self, stored: bool) {
        if stored {
            bump(&self.stores, 1);
            #[cfg(feature = "metrics")]
            self.series.stores.increment(1);
        } else {
            bump(&self.not_stored, 1);
            #[cfg(feature = "metrics")]
            self.series.not_stored.increment(1);
        }
    }

    /// A request was answered from a stale entry.
    pub(crate) fn served_stale(&self) {
        bump(&self.stale_served, 1);
        #[cfg(feature = "metrics")]
        self.series.stale_served.increment(1);
    }

    /// A request waited for another's fill of its key.
    pub(crate) fn coalesced(&self) {
        bump(&self.coalesced, 1);
        #[cfg(feature = "metrics")]
        self.series.coalesced.increment(1);
    }

    /// A remote store call of this route's request failed.
    pub(crate) fn store_error(&self) {
        bump(&self.store_errors, 1);
        #[cfg(feature = "metrics")]
        self.series.store_errors.increment(1);
    }

    /// An invalidation removed an entry of this route, or kept it because
    /// its ETag was unchanged.
    fn invalidated(&self, kept: bool) {
        if kept {
            bump(&self.invalidations_skipped, 1);
            #[cfg(feature = "metrics")]
            self.series.invalidations_skipped.increment(1);
        } else {
            bump(&self.invalidations, 1);
            #[cfg(feature = "metrics")]
            self.series.invalidations.increment(1);
        }
    }

    /// The handler ran and its response was made ready to store, in `took`.
    #[cfg(feature = "metrics")]
    pub(crate) fn filled(&self, took: Duration) {
        self.series.fill_seconds.record(took.as_secs_f64());
    }

    fn snapshot(&self) -> RouteStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RouteStats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            not_modified_from_store: load(&self.not_modified_from_store),
            not_modified_after_fill: load(&self.not_modified_after_fill),
            not_modified_by_check: load(&self.not_modified_by_check),
            precondition_failed: load(&self.precondition_failed),
            stores: load(&self.stores),
            not_stored: load(&self.not_stored),
            bypassed: load(&self.bypassed),
            coalesced: load(&self.coalesced),
            store_errors: load(&self.store_errors),
            invalidations: load(&self.invalidations),
            invalidations_skipped: load(&self.invalidations_skipped),
            bytes_saved: load(&self.bytes_saved),
            stale_served: load(&self.stale_served),
        }
    }
}

/// The slot in a [`Policy`] that the first cache to serve it claims.
#[derive(Debug, Default)]
pub(crate) struct RouteSlot(OnceLock<Claimed>);

#[derive(Debug)]
struct Claimed {
    cache: u64,
    counters: Arc<RouteCounters>,
}

/// A route's counters as a request holds them: borrowed from the policy's
/// slot when this cache claimed it, else shared from the cache's map.
pub(crate) enum RouteRef<'p> {
    Claimed(&'p Arc<RouteCounters>),
    Shared(Arc<RouteCounters>),
}

impl RouteRef<'_> {
    /// The counters, owned: for a fill that may outlive its request.
    pub(crate) fn to_arc(&self) -> Arc<RouteCounters> {
        match self {
            RouteRef::Claimed(counters) => Arc::clone(counters),
            RouteRef::Shared(counters) => counters.clone(),
        }
    }
}

impl std::ops::Deref for RouteRef<'_> {
    type Target = RouteCounters;

    fn deref(&self) -> &RouteCounters {
        match self {
            RouteRef::Claimed(counters) => counters,
            RouteRef::Shared(counters) => counters,
        }
    }
}

/// One cache's routes: every policy it has served, by id.
#[derive(Debug)]
pub(crate) struct Routes {
    /// This cache's identity among the caches of the process; never reused.
    cache: u64,
    /// The cache's name in metrics labels.
    label: &'static str,
    by_id: RwLock<HashMap<Box<str>, Arc<RouteCounters>>>,
}

impl Routes {
    pub(crate) fn new(label: &'static str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Routes {
            cache: NEXT.fetch_add(1, Ordering::Relaxed),
            label,
            by_id: RwLock::default(),
        }
    }

    /// The counters of `policy` in this cache, registered on first use.
    pub(crate) fn of<'p>(&self, policy: &'p Policy) -> RouteRef<'p> {
        let claimed = policy.route_slot().0.get_or_init(|| Claimed {
            cache: self.cache,
            counters: self.register(policy),
        });
        if claimed.cache == self.cache {
            RouteRef::Claimed(&claimed.counters)
        } else {
            RouteRef::Shared(self.register(policy))
        }
    }

    /// The counters kept under `policy`'s id, made if there are none.
    fn register(&self, policy: &Policy) -> Arc<RouteCounters> {
        if let Some(counters) = self.by_id.read().get(policy.id()) {
            return counters.clone();
        }
        self.by_id
            .write()
            .entry(policy.id().into())
            .or_insert_with(|| Arc::new(RouteCounters::new(policy.name(), self.label)))
            .clone()
    }

    /// Counts an entry an invalidation removed (or kept) under the route
    /// whose id its key starts with ([`Key::builder`](crate::Key::builder)
    /// writes the handler's id first). Keys of no route served here, built
    /// by hand, are not attributed.
    pub(crate) fn invalidated(&self, key: &[u8], kept: bool) {
        let Some(id) = first_part(key).and_then(|id| std::str::from_utf8(id).ok()) else {
            return;
        };
        if let Some(counters) = self.by_id.read().get(id) {
            counters.invalidated(kept);
        }
    }

    /// Every route's counters, by readable name; routes that share a name
    /// (one handler name at two sites) are added up.
    pub(crate) fn snapshot(&self) -> BTreeMap<&'static str, RouteStats> {
        let mut all: BTreeMap<&'static str, RouteStats> = BTreeMap::new();
        for counters in self.by_id.read().values() {
            *all.entry(counters.name).or_default() += counters.snapshot();
        }
        all
    }
}

/// The first length-prefixed part of a key.
fn first_part(key: &[u8]) -> Option<&[u8]> {
    let (len, rest) = key.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    rest.get(..len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    #[test]
    fn two_caches_sharing_a_policy_keep_their_own_counts() {
        let policy = Policy::builder("shared::route").build();
        let (first, second) = (Routes::new("a"), Routes::new("b"));
        first.of(&policy).answered(Answer::Hit, StatusCode::OK);
        second.of(&policy).answered(Answer::Miss, StatusCode::OK);
        second.of(&policy).answered(Answer::Miss, StatusCode::OK);
        assert!(matches!(first.of(&policy), RouteRef::Claimed(_)));
        assert!(matches!(second.of(&policy), RouteRef::Shared(_)));
        let first = first.snapshot()["shared::route"];
        let second = second.snapshot()["shared::route"];
        assert_eq!((first.hits, first.misses), (1, 0));
        assert_eq!((second.hits, second.misses), (0, 2));
    }

    #[test]
    fn invalidations_are_attributed_by_the_key_s_first_part() {
        let policy = Policy::builder("docs::get").site("src/docs.rs:1:1").build();
        let routes = Routes::new("a");
        let counters = routes.of(&policy);
        let key = Key::builder(policy.id()).part("GET").finish();
        routes.invalidated(key.as_bytes(), false);
        routes.invalidated(key.as_bytes(), true);
        routes.invalidated(Key::builder("elsewhere").finish().as_bytes(), false);
        routes.invalidated(b"\xff", false);
        let stats = counters.snapshot();
        assert_eq!((stats.invalidations, stats.invalidations_skipped), (1, 1));
    }

    #[test]
    fn same_named_policies_add_up_and_304s_are_split_by_source() {
        let routes = Routes::new("a");
        let here = Policy::builder("pages").site("a.rs:1:1").build();
        let there = Policy::builder("pages").site("b.rs:1:1").build();
        routes
            .of(&here)
            .answered(Answer::Hit, StatusCode::NOT_MODIFIED);
        routes
            .of(&there)
            .answered(Answer::Miss, StatusCode::NOT_MODIFIED);
        routes
            .of(&there)
            .answered(Answer::Check, StatusCode::NOT_MODIFIED);
        routes
            .of(&there)
            .answered(Answer::Check, StatusCode::PRECONDITION_FAILED);
        routes
            .of(&there)
            .answered(Answer::Credentials, StatusCode::PRECONDITION_FAILED);
        routes.of(&there).answered(Answer::Method, StatusCode::OK);
        let pages = routes.snapshot()["pages"];
        assert_eq!((pages.hits, pages.misses, pages.bypassed), (1, 2, 1));
        assert_eq!(
            (
                pages.not_modified_from_store,
                pages.not_modified_after_fill,
                pages.not_modified_by_check
            ),
            (1, 1, 1)
        );
        assert_eq!((pages.not_modified(), pages.precondition_failed), (3, 2));
    }
}
