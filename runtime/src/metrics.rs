//! The cache's series in the [`metrics`] facade (feature `metrics`): what
//! [`Cache::route_stats`](crate::Cache::route_stats) counts, per route, for
//! whatever recorder the application installed (Prometheus, StatsD, …).
//!
//! Handles are registered once, when a cache first serves a route (or is
//! built, for its own gauges), and kept beside the route's counters, so a
//! hit moves its series with one call on a handle it already holds: no
//! label formatting and no registry lookup per request. Install the
//! recorder before the cache serves its first request; a handle registered
//! earlier stays a no-op. Names follow Prometheus conventions; every series
//! carries `cache` (see [`CacheBuilder::name`](crate::CacheBuilder::name))
//! and the per-route ones `route` (the policy's readable name):
//!
//! | series | kind | labels |
//! |---|---|---|
//! | `cached_etag_hits_total` | counter | `cache`, `route` |
//! | `cached_etag_misses_total` | counter | `cache`, `route` |
//! | `cached_etag_not_modified_total` | counter | `cache`, `route`, `source` = `store` \| `fill` \| `check` |
//! | `cached_etag_precondition_failed_total` | counter | `cache`, `route` |
//! | `cached_etag_stores_total` | counter | `cache`, `route` |
//! | `cached_etag_not_stored_total` | counter | `cache`, `route` |
//! | `cached_etag_bypasses_total` | counter | `cache`, `route` |
//! | `cached_etag_coalesced_total` | counter | `cache`, `route` |
//! | `cached_etag_store_errors_total` | counter | `cache`, `route` |
//! | `cached_etag_invalidations_total` | counter | `cache`, `route` |
//! | `cached_etag_invalidations_skipped_total` | counter | `cache`, `route` |
//! | `cached_etag_saved_bytes_total` | counter | `cache`, `route` |
//! | `cached_etag_stale_served_total` | counter | `cache`, `route` |
//! | `cached_etag_not_modified_size_bytes` | histogram | `cache`, `route` |
//! | `cached_etag_fill_duration_seconds` | histogram | `cache`, `route` |
//! | `cached_etag_entries` | gauge | `cache` |
//! | `cached_etag_held_bytes` | gauge | `cache` |
//! | `cached_etag_evictions_total` | counter | `cache` |
//! | `cached_etag_expirations_total` | counter | `cache` |
//!
//! A new per-route count is a handle in `RouteSeries`, registered and described here, and moved
//! by the one method of the route's counters (`stats/route.rs`) that
//! counts it.

use metrics::{Counter, Gauge, Histogram, Unit, counter, gauge, histogram};

use crate::store::MemoryStore;

/// One route's handles in one cache.
#[derive(Debug)]
pub(crate) struct RouteSeries {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) not_modified_from_store: Counter,
    pub(crate) not_modified_after_fill: Counter,
    pub(crate) not_modified_by_check: Counter,
    pub(crate) precondition_failed: Counter,
    pub(crate) stores: Counter,
    pub(crate) not_stored: Counter,
    pub(crate) bypassed: Counter,
    pub(crate) coalesced: Counter,
    pub(crate) store_errors: Counter,
    pub(crate) invalidations: Counter,
    pub(crate) invalidations_skipped: Counter,
    pub(crate) saved_bytes: Counter,
    pub(crate) stale_served: Counter,
    pub(crate) not_modified_size: Histogram,
    pub(crate) fill_seconds: Histogram,
}

impl RouteSeries {
    /// Registers the series of `route` in cache `cache` with the installed
    /// recorder.
    pub(crate) fn register(route: &'static str, cache: &'static str) -> Self {
        describe();
        let labels = [("cache", cache), ("route", route)];
        let not_modified = |source: &'static str| {
            counter!(
                "cached_etag_not_modified_total",
                "cache" => cache,
                "route" => route,
                "source" => source
            )
        };
        RouteSeries {
            hits: counter!("cached_etag_hits_total", &labels),
            misses: counter!("cached_etag_misses_total", &labels),
            not_modified_from_store: not_modified("store"),
            not_modified_after_fill: not_modified("fill"),
            not_modified_by_check: not_modified("check"),
            precondition_failed: counter!("cached_etag_precondition_failed_total", &labels),
            stores: counter!("cached_etag_stores_total", &labels),
            not_stored: counter!("cached_etag_not_stored_total", &labels),
            bypassed: counter!("cached_etag_bypasses_total", &labels),
            coalesced: counter!("cached_etag_coalesced_total", &labels),
            store_errors: counter!("cached_etag_store_errors_total", &labels),
            invalidations: counter!("cached_etag_invalidations_total", &labels),
            invalidations_skipped: counter!("cached_etag_invalidations_skipped_total", &labels),
            saved_bytes: counter!("cached_etag_saved_bytes_total", &labels),
            stale_served: counter!("cached_etag_stale_served_total", &labels),
            not_modified_size: histogram!("cached_etag_not_modified_size_bytes", &labels),
            fill_seconds: histogram!("cached_etag_fill_duration_seconds", &labels),
        }
    }

    /// A 304 spared the client `bytes` of body.
    pub(crate) fn saved(&self, bytes: usize) {
        self.saved_bytes.increment(bytes as u64);
        self.not_modified_size.record(bytes as f64);
    }
}

/// One cache's own handles: what its memory holds.
#[derive(Debug)]
pub(crate) struct CacheSeries {
    entries: Gauge,
    held_bytes: Gauge,
    evictions: Counter,
    expirations: Counter,
}

impl CacheSeries {
    pub(crate) fn register(cache: &'static str) -> Self {
        describe();
        let labels = [("cache", cache)];
        CacheSeries {
            entries: gauge!("cached_etag_entries", &labels),
            held_bytes: gauge!("cached_etag_held_bytes", &labels),
            evictions: counter!("cached_etag_evictions_total", &labels),
            expirations: counter!("cached_etag_expirations_total", &labels),
        }
    }

    /// Sets the gauges and the memory's own counters from `memory`: after
    /// a fill, an invalidation, or a [`Cache::stats`](crate::Cache::stats).
    pub(crate) fn held(&self, memory: &MemoryStore) {
        self.entries.set(memory.len() as f64);
        self.held_bytes.set(memory.bytes() as f64);
        self.evictions.absolute(memory.evictions());
        self.expirations.absolute(memory.expirations());
    }
}

/// Describes every series to the installed recorder (units and help
/// text, for `# HELP` lines); recorders take repeats in their stride.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    let counters = [
        (
            "cached_etag_hits_total",
            "Requests answered from a stored entry.",
        ),
        ("cached_etag_misses_total", "Requests that ran the handler."),
        (
            "cached_etag_not_modified_total",
            "304 answers, by what answered: a stored entry, the handler, or the check.",
        ),
        ("cached_etag_precondition_failed_total", "412 answers."),
        ("cached_etag_stores_total", "Responses stored."),
        (
            "cached_etag_not_stored_total",
            "Storable responses an invalidation overtook.",
        ),
        (
            "cached_etag_bypasses_total",
            "Requests that bypassed the shared cache (credentials, key size).",
        ),
        (
            "cached_etag_coalesced_total",
            "Requests that waited for another request's fill.",
        ),
        (
            "cached_etag_store_errors_total",
            "Remote store calls that failed or timed out.",
        ),
        (
            "cached_etag_invalidations_total",
            "Entries removed from memory by invalidation.",
        ),
        (
            "cached_etag_stale_served_total",
            "Requests answered from a stale entry, while refreshed or instead of an error.",
        ),
        (
            "cached_etag_invalidations_skipped_total",
            "Entries an invalidation kept: their ETag was unchanged.",
        ),
        (
            "cached_etag_evictions_total",
            "Entries evicted to stay in bounds.",
        ),
        ("cached_etag_expirations_total", "Entries found expired."),
    ];
    for (name, help) in counters {
        describe_counter!(name, Unit::Count, help);
    }
    describe_counter!(
        "cached_etag_saved_bytes_total",
        Unit::Bytes,
        "Body bytes not sent because the client's copy was current."
    );
    describe_histogram!(
        "cached_etag_not_modified_size_bytes",
        Unit::Bytes,
        "Body size each 304 spared."
    );
    describe_histogram!(
        "cached_etag_fill_duration_seconds",
        Unit::Seconds,
        "Time to run the handler and make its response ready to store."
    );
    describe_gauge!(
        "cached_etag_entries",
        Unit::Count,
        "Entries held in memory."
    );
    describe_gauge!(
        "cached_etag_held_bytes",
        Unit::Bytes,
        "Bytes held in memory: keys, headers, bodies."
    );
}
