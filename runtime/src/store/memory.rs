//! The embedded store: bounded by entry count and by bytes, expiring by TTL.
//!
//! Built on [`quick_cache`]: S3-FIFO eviction (scan-resistant, with a ghost
//! queue for one-hit wonders), sharded locks, about 20 ns per hit. Each entry
//! is weighed in bytes (key, headers, body) but never below
//! `max_bytes / max_entries`, so the one weight capacity bounds both the bytes
//! and the count. quick_cache has no expiry, so each slot carries its
//! deadline and a read past it removes the slot. A tag index maps each tag to
//! the keys that carry it (`index.rs`); every slot has a unique id so that
//! cleaning the index after an eviction never unlinks a newer entry under
//! the same key.
//! Expiry is read from a clock chosen when the store is made (`clock.rs`);
//! a slot keeps an entry in the compact form hits read (`slot.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use quick_cache::Lifecycle;
use quick_cache::sync::Cache as QuickCache;

mod clock;
mod index;
mod slot;

use clock::{Clock, nanos};
use index::TagIndex;
use slot::{Resident, Shared, packed};

pub use slot::{EntryRef, Stored};

use super::{BoxFuture, Entry, Removed, Store, StoreError};
use crate::ETag;

/// Default bound on the number of entries.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Default bound on the bytes held (keys, headers, bodies): 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
type SlotKey = Arc<[u8]>;

type Slot = Arc<Resident>;

/// What [`MemoryStore::lookup`] found under a key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// An entry within its ttl.
    Fresh(EntryRef),
    /// An entry past its ttl (or softly invalidated) but within its stale
    /// window, stale for `age`.
    Stale {
        /// The entry.
        entry: EntryRef,
        /// How long ago it stopped being fresh.
        age: Duration,
    },
}

#[derive(Clone)]
struct Weigh {
    floor: u64,
}

impl quick_cache::Weighter<SlotKey, Slot> for Weigh {
    fn weight(&self, _key: &SlotKey, slot: &Slot) -> u64 {
        slot.weight.max(self.floor)
    }
}

/// Collects what an insert evicted so that the tag index is cleaned after
/// the shard lock is released.
#[derive(Clone, Default)]
struct Evictions;

impl Lifecycle<SlotKey, Slot> for Evictions {
    type RequestState = Vec<(SlotKey, Slot)>;

    fn on_evict(&self, state: &mut Self::RequestState, key: SlotKey, slot: Slot) {
        state.push((key, slot));
    }
}

/// A bounded in-memory store with TTL and a tag index.
///
/// ```
/// use cached_etag_runtime::MemoryStore;
///
/// let store = MemoryStore::new(1_000, 8 << 20);
/// assert_eq!(store.len(), 0);
/// ```
pub struct MemoryStore {
    slots: QuickCache<SlotKey, Slot, Weigh, quick_cache::DefaultHashBuilder, Evictions>,
    index: Mutex<TagIndex>,
    next_id: AtomicU64,
    shared: Arc<Shared>,
    max_entries: usize,
    max_bytes: u64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("bytes", &self.bytes())
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
    }
}

impl MemoryStore {
    /// A store holding at most `max_entries` entries and `max_bytes` bytes.
    ///
    /// Expiry follows tokio's clock when the store is made on a
    /// current-thread runtime (the only kind whose clock
    /// `tokio::time::pause` can stop, so tests that advance a paused clock
    /// see entries expire), and the kernel's coarse monotonic clock
    /// otherwise: a few nanoseconds a hit, exact to a kernel tick (1-4 ms).
    pub fn new(max_entries: usize, max_bytes: u64) -> Self {
        let max_entries = max_entries.max(1);
        let max_bytes = max_bytes.max(1);
        let floor = (max_bytes / max_entries as u64).max(1);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(max_entries)
            .weight_capacity(max_bytes)
            .build()
            .expect("capacities are positive");
        MemoryStore {
            slots: QuickCache::with_options(
                options,
                Weigh { floor },
                quick_cache::DefaultHashBuilder::default(),
                Evictions,
            ),
            index: Mutex::new(TagIndex::default()),
            next_id: AtomicU64::new(0),
            shared: Arc::new(Shared::new(Clock::for_this_runtime())),
            max_entries,
            max_bytes,
        }
    }

    /// The number of entries held (expired ones count until read or evicted).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The bytes held by resident entries (keys, headers, bodies).
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// Entries evicted to stay within the bounds, since creation.
    pub fn evictions(&self) -> u64 {
        self.shared.evictions.load(Ordering::Relaxed)
    }

    /// Entries found expired and dropped, since creation.
    pub fn expirations(&self) -> u64 {
        self.shared.expirations.load(Ordering::Relaxed)
    }

    /// The bounds this store was made with: `(max_entries, max_bytes)`.
    pub fn bounds(&self) -> (usize, u64) {
        (self.max_entries, self.max_bytes)
    }

    /// The fresh entry under `key`. A stale one is not returned (see
    /// [`lookup`](Self::lookup)); one past its stale window is removed.
    pub fn get(&self, key: &[u8]) -> Option<EntryRef> {
        match self.lookup(key)? {
            Lookup::Fresh(entry) => Some(entry),
            Lookup::Stale { .. } => None,
        }
    }

    /// The entry under `key`, fresh or stale; one past its stale window is
    /// removed and not returned.
    pub fn lookup(&self, key: &[u8]) -> Option<Lookup> {
        let slot = self.slots.get(key)?;
        let now = self.shared.clock.now();
        let deadline = slot.deadline.load(Ordering::Relaxed);
        if deadline > now {
            return Some(Lookup::Fresh(EntryRef(slot)));
        }
        if slot.keep_until.load(Ordering::Relaxed) > now {
            let age = Duration::from_nanos(now - deadline);
            let entry = EntryRef(slot);
            return Some(Lookup::Stale { entry, age });
        }
        if self.remove_slot(key, |s| s.id == slot.id).is_some() {
            self.shared.expirations.fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    /// Stores `entry` under `key` for its ttl from now and then its stale
    /// window, and returns a handle on it. An entry with no ttl (one read
    /// stale from a remote store) stopped being fresh at its `stored_at`.
    pub fn insert(&self, key: &[u8], entry: Entry) -> EntryRef {
        self.insert_shared(Arc::from(key), entry)
    }

    /// [`insert`](Self::insert), with a key the caller already shares.
    pub(crate) fn insert_shared(&self, key: SlotKey, entry: Entry) -> EntryRef {
        // Lifetimes can come from outside data (a remote store): each is
        // held to a year.
        let now = self.shared.clock.now();
        // Only an entry with no ttl needs the wall clock (a system call on
        // some VMs): it stopped being fresh when it was stored.
        let stale_age = || entry.stale_age(SystemTime::now());
        let deadline = match entry.ttl.is_zero().then(stale_age).flatten() {
            Some(age) => now.saturating_sub(nanos(age)),
            None => now.saturating_add(nanos(entry.ttl)),
        };
        self.insert_until(key, entry, deadline)
    }

    fn insert_until(&self, key: SlotKey, entry: Entry, deadline: u64) -> EntryRef {
        let entry = packed(entry);
        let weight = (key.len() + entry.weight()) as u64;
        self.shared.bytes.fetch_add(weight, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Resident::new(
            Stored::from(entry),
            deadline,
            id,
            weight,
            self.shared.clone(),
        ));
        let handle = EntryRef(slot.clone());
        let mut evicted = Vec::new();
        // The slot goes in under the index lock, so that two inserts of one
        // key index in the order they replaced each other: otherwise the
        // index could name the replaced slot's id, and a tag invalidation,
        // which removes only the slot the index names, would miss the
        // resident one.
        let mut index = self.index.lock();
        let replaced = self.slots.peek(&key);
        self.slots
            .insert_with_lifecycle(key.clone(), slot, &mut evicted);
        if let Some(old) = replaced {
            index.unlink(&old.stored.tags, &key, old.id);
        }
        for (k, slot) in &evicted {
            index.unlink(&slot.stored.tags, k, slot.id);
        }
        // An entry too large for the store is rejected and reported as
        // evicted at once; it must not enter the index.
        if !evicted.iter().any(|(_, s)| s.id == id) {
            for tag in handle.tags.iter() {
                index.link(tag, &key, id);
            }
        }
        drop(index);
        self.shared
            .evictions
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        handle
    }

    /// Removes the entry under `key` unless its ETag equals `keep`.
    pub fn remove(&self, key: &[u8], keep: Option<&ETag>) -> Removed {
        self.remove_each(key, keep, |_, _| {})
    }

    /// [`remove`](Self::remove), telling `each` the key of an entry found
    /// and whether it was kept.
    pub(crate) fn remove_each(
        &self,
        key: &[u8],
        keep: Option<&ETag>,
        mut each: impl FnMut(&[u8], bool),
    ) -> Removed {
        let mut result = Removed::default();
        let removed = self.remove_slot(key, |slot| {
            let kept = keep.is_some_and(|k| k.weak_eq(&slot.stored.etag));
            result.skipped += u64::from(kept);
            each(key, kept);
            !kept
        });
        result.removed = u64::from(removed.is_some());
        result
    }

    /// The key and slot id of every entry the index lists under one of
    /// `tags`, copied out so that the index lock is not held while slots
    /// are removed or softened.
    fn tagged(&self, tags: &[&str]) -> Vec<(SlotKey, u64)> {
        self.index.lock().members(tags)
    }

    /// Removes every entry carrying one of `tags`, unless its ETag equals `keep`.
    pub fn remove_tags(&self, tags: &[&str], keep: Option<&ETag>) -> Removed {
        self.remove_tags_each(tags, keep, |_, _| {})
    }

    /// [`remove_tags`](Self::remove_tags), telling `each` the key of every
    /// entry found and whether it was kept.
    pub(crate) fn remove_tags_each(
        &self,
        tags: &[&str],
        keep: Option<&ETag>,
        mut each: impl FnMut(&[u8], bool),
    ) -> Removed {
        let members = self.tagged(tags);
        let mut result = Removed::default();
        let mut gone = Vec::new();
        for (key, id) in members {
            let removed = self.slots.remove_if(&key, |slot| {
                let kept = keep.is_some_and(|k| k.weak_eq(&slot.stored.etag));
                if slot.id == id {
                    result.skipped += u64::from(kept);
                    each(&key[..], kept);
                }
                slot.id == id && !kept
            });
            if let Some(pair) = removed {
                gone.push(pair);
            }
        }
        result.removed = gone.len() as u64;
        if !gone.is_empty() {
            let mut index = self.index.lock();
            for (key, slot) in &gone {
                index.unlink(&slot.stored.tags, key, slot.id);
            }
        }
        result
    }

    /// Marks the entry under `key` stale, unless its ETag equals `keep`: it
    /// stays for its stale window from now (or until it would have left),
    /// to be served stale while it is refreshed, and kept as it is if the
    /// refresh finds the same ETag. `removed` counts it.
    pub fn soften(&self, key: &[u8], keep: Option<&ETag>) -> Removed {
        self.soften_each(key, keep, |_, _| {})
    }

    /// [`soften`](Self::soften), telling `each` the key of an entry found
    /// and whether it was kept.
    pub(crate) fn soften_each(
        &self,
        key: &[u8],
        keep: Option<&ETag>,
        mut each: impl FnMut(&[u8], bool),
    ) -> Removed {
        let mut result = Removed::default();
        if let Some(slot) = self.slots.get(key) {
            self.soften_slot(key, &slot, keep, &mut result, &mut each);
        }
        result
    }

    /// Marks every entry carrying one of `tags` stale, unless its ETag
    /// equals `keep` (see [`soften`](Self::soften)).
    pub fn soften_tags(&self, tags: &[&str], keep: Option<&ETag>) -> Removed {
        self.soften_tags_each(tags, keep, |_, _| {})
    }

    /// [`soften_tags`](Self::soften_tags), telling `each` the key of every
    /// entry found and whether it was kept.
    pub(crate) fn soften_tags_each(
        &self,
        tags: &[&str],
        keep: Option<&ETag>,
        mut each: impl FnMut(&[u8], bool),
    ) -> Removed {
        let members = self.tagged(tags);
        let mut result = Removed::default();
        for (key, id) in members {
            if let Some(slot) = self.slots.peek(&key).filter(|slot| slot.id == id) {
                self.soften_slot(&key, &slot, keep, &mut result, &mut each);
            }
        }
        result
    }

    fn soften_slot(
        &self,
        key: &[u8],
        slot: &Slot,
        keep: Option<&ETag>,
        result: &mut Removed,
        each: &mut impl FnMut(&[u8], bool),
    ) {
        let kept = keep.is_some_and(|k| k.weak_eq(&slot.stored.etag));
        each(key, kept);
        if kept {
            result.skipped += 1;
            return;
        }
        let now = self.shared.clock.now();
        if slot.deadline.fetch_min(now, Ordering::Relaxed) > now {
            slot.keep_until.fetch_max(
                now.saturating_add(nanos(slot.stored.stale_for())),
                Ordering::Relaxed,
            );
            result.removed += 1;
        }
    }

    /// Removes everything.
    pub fn clear(&self) {
        // Index first: an insert racing this clear either lands after it
        // (and is fully indexed) or is cleared with the rest.
        self.index.lock().clear();
        self.slots.clear();
    }

    fn remove_slot(&self, key: &[u8], keep_if: impl FnOnce(&Slot) -> bool) -> Option<Slot> {
        let (key, slot) = self.slots.remove_if(key, keep_if)?;
        self.index.lock().unlink(&slot.stored.tags, &key, slot.id);
        Some(slot)
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        let entry = MemoryStore::get(self, key).map(|e| e.to_entry());
        Box::pin(std::future::ready(Ok(entry)))
    }

    fn put<'a>(&'a self, key: &'a [u8], entry: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>> {
        self.insert(key, entry.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn remove<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(std::future::ready(Ok(MemoryStore::remove(self, key, keep))))
    }

    fn remove_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(std::future::ready(Ok(MemoryStore::remove_tags(
            self, tags, keep,
        ))))
    }

    fn soften<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(std::future::ready(Ok(MemoryStore::soften(self, key, keep))))
    }

    fn soften_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(std::future::ready(Ok(MemoryStore::soften_tags(
            self, tags, keep,
        ))))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        MemoryStore::clear(self);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};
    use std::time::{Duration, SystemTime};

    fn entry(body: &str, tags: &[&str], ttl: u64) -> Entry {
        Entry {
            status: StatusCode::OK,
            headers: Arc::new(HeaderMap::new()),
            body: Bytes::copy_from_slice(body.as_bytes()),
            etag: ETag::from_content(body.as_bytes()),
            last_modified: None,
            tags: tags.iter().map(|t| Arc::from(*t)).collect(),
            stored_at: SystemTime::now(),
            ttl: Duration::from_secs(ttl),
            stale_for: Duration::ZERO,
        }
    }

    #[test]
    fn a_small_entry_keeps_its_tag_and_body_in_one_buffer() {
        let store = MemoryStore::default();
        let stored = store.insert(b"k", entry("{\"id\":7}", &[], 60));
        let (tag, body) = (stored.etag.to_header_value(), stored.body.clone());
        assert_eq!(body, "{\"id\":7}");
        assert_eq!(stored.etag, ETag::from_content(b"{\"id\":7}"));
        assert_eq!(
            tag.as_bytes().as_ptr_range().end,
            body.as_ptr(),
            "one buffer"
        );
        // Stored again (renewed), it is not copied again.
        let again = store.insert(b"k", stored.to_entry());
        assert_eq!(again.body.as_ptr(), body.as_ptr());
        // A large body is left where it is.
        let large = "x".repeat(17 << 10);
        let big = entry(&large, &[], 60);
        let at = big.body.as_ptr();
        assert_eq!(store.insert(b"big", big).body.as_ptr(), at);
    }

    #[test]
    fn concurrent_inserts_of_one_key_stay_findable_by_tag() {
        // Two inserts of one key racing: whichever slot is resident, the
        // tag index must name it, or a tag invalidation would miss it.
        let store = Arc::new(MemoryStore::default());
        let rounds = 5_000;
        let barrier = Arc::new(std::sync::Barrier::new(9));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    for round in 0..rounds {
                        barrier.wait();
                        store.insert(b"k", entry(&format!("{round}-{i}"), &["t"], 60));
                        barrier.wait();
                    }
                })
            })
            .collect();
        for round in 0..rounds {
            barrier.wait();
            barrier.wait();
            MemoryStore::remove_tags(&store, &["t"], None);
            let resident = MemoryStore::get(&store, b"k");
            assert!(resident.is_none(), "round {round}: resident slot missed");
        }
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[test]
    fn tags_remove_exactly_their_entries() {
        let store = MemoryStore::default();
        store.insert(b"a", entry("a", &["cams", "cam:1"], 60));
        store.insert(b"b", entry("b", &["cams", "cam:2"], 60));
        store.insert(b"c", entry("c", &[], 60));
        assert_eq!(store.remove_tags(&["cam:1"], None).removed, 1);
        assert!(store.get(b"a").is_none());
        assert!(store.get(b"b").is_some());
        assert_eq!(store.remove_tags(&["cams"], None).removed, 1);
        assert!(store.get(b"b").is_none());
        assert!(store.get(b"c").is_some());
        assert!(
            store.index.lock().is_empty(),
            "index emptied with its entries"
        );
    }

    #[test]
    fn keep_skips_unchanged_etags() {
        let store = MemoryStore::default();
        let e = entry("same", &["t"], 60);
        let etag = e.etag.clone();
        store.insert(b"k", e);
        let r = store.remove_tags(&["t"], Some(&etag));
        assert_eq!(
            r,
            Removed {
                removed: 0,
                skipped: 1,
                remote_errors: 0
            }
        );
        assert!(store.get(b"k").is_some());
        let r = store.remove(b"k", Some(&ETag::from_content(b"other")));
        assert_eq!(
            r,
            Removed {
                removed: 1,
                skipped: 0,
                remote_errors: 0
            }
        );
    }

    #[test]
    fn replacing_an_entry_unlinks_its_old_tags() {
        let store = MemoryStore::default();
        store.insert(b"k", entry("v1", &["old"], 60));
        store.insert(b"k", entry("v2", &["new"], 60));
        assert_eq!(store.remove_tags(&["old"], None).removed, 0);
        assert!(store.get(b"k").is_some());
        assert!(!store.index.lock().lists("old"));
        assert_eq!(store.remove_tags(&["new"], None).removed, 1);
    }

    #[test]
    fn bounds_hold_under_a_flood() {
        let store = MemoryStore::new(100, 64 << 10);
        for i in 0..20_000u32 {
            store.insert(
                &i.to_le_bytes(),
                entry(&"x".repeat(i as usize % 900), &["t"], 60),
            );
            assert!(
                store.bytes() <= 64 << 10,
                "bytes {} over bound",
                store.bytes()
            );
        }
        assert!(store.len() <= 100, "len {}", store.len());
        assert!(store.evictions() > 0);
        let indexed = store.index.lock().pairs();
        assert_eq!(indexed, store.len(), "index tracks exactly the residents");
    }

    #[test]
    fn bytes_return_to_zero() {
        let store = MemoryStore::default();
        store.insert(b"a", entry("aaaa", &["t"], 60));
        assert!(store.bytes() > 4);
        store.remove_tags(&["t"], None);
        assert_eq!(store.bytes(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn on_a_server_runtime_entries_expire_by_the_coarse_clock() {
        let store = MemoryStore::default();
        assert!(!store.shared.clock.is_tokio());
        store.insert(b"k", entry("v", &["t"], 1));
        assert!(store.get(b"k").is_some());
        // A second's TTL leaves the first read room on a loaded machine;
        // half a second past it, the coarse clock (exact to a kernel tick)
        // has moved on.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(store.get(b"k").is_none());
        assert_eq!(store.expirations(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire() {
        let store = MemoryStore::default();
        store.insert(b"k", entry("v", &["t"], 10));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(store.get(b"k").is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(store.get(b"k").is_none());
        assert_eq!(store.expirations(), 1);
        assert!(store.index.lock().is_empty());
    }

    /// `to_entry` hands an entry on (to a remote store, to a `Store::get`
    /// caller) with what is left of its life, fresh or stale, so that the
    /// store it enters keeps it no longer than this one would.
    #[tokio::test(start_paused = true)]
    async fn an_entry_handed_on_carries_what_is_left_of_its_life() {
        let store = MemoryStore::default();
        let mut made = entry("v", &["t"], 60);
        made.stale_for = Duration::from_secs(30);
        let stored = store.insert(b"k", made);
        assert_eq!(stored.stale_age(), None);

        tokio::time::advance(Duration::from_secs(10)).await;
        let fresh = stored.to_entry();
        assert_eq!(fresh.ttl, Duration::from_secs(50));
        assert_eq!(fresh.stale_for, Duration::from_secs(30));
        assert_eq!(fresh.body, "v");
        assert_eq!(fresh.tags, [Arc::<str>::from("t")]);
        assert_eq!(fresh.stale_age(SystemTime::now()), None);

        tokio::time::advance(Duration::from_secs(55)).await;
        assert_eq!(stored.stale_age(), Some(Duration::from_secs(5)));
        let stale = stored.to_entry();
        assert_eq!(stale.ttl, Duration::ZERO);
        assert_eq!(stale.stale_for, Duration::from_secs(30));
        let age = stale.stale_age(SystemTime::now()).expect("stale");
        assert!(
            age >= Duration::from_secs(5) && age < Duration::from_secs(6),
            "{age:?}"
        );

        // Another store takes it as just as stale, and lets it go when this
        // one would.
        let other = MemoryStore::default();
        other.insert(b"k", stale);
        match other.lookup(b"k") {
            Some(Lookup::Stale { age, .. }) => assert!(age >= Duration::from_secs(5)),
            found => panic!("expected a stale entry, found {found:?}"),
        }
        tokio::time::advance(Duration::from_secs(26)).await;
        assert!(store.lookup(b"k").is_none());
        assert!(other.lookup(b"k").is_none());
    }

    #[test]
    fn a_store_gets_whole_entries_back() {
        let store = MemoryStore::default();
        let mut made = entry("v", &["a", "b"], 60);
        made.last_modified = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_732_442_400));
        store.insert(b"k", made.clone());
        let got = futures_util::FutureExt::now_or_never(Store::get(&store, b"k"))
            .expect("ready")
            .expect("no error")
            .expect("found");
        assert_eq!(
            (got.status, got.body, got.etag, got.last_modified, got.tags),
            (
                made.status,
                made.body,
                made.etag,
                made.last_modified,
                made.tags
            )
        );
        assert!(got.ttl <= made.ttl && got.ttl > Duration::from_secs(59));
    }
}
