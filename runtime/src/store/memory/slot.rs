//! One resident entry of the memory store, laid out for its size.
//!
//! A store holds many entries and a hit reads one, so the slot keeps only
//! what a hit reads and what the store's bookkeeping needs, as compactly as
//! that allows. The public [`Entry`] is the form entries travel in between
//! stores; here its times become one deadline on the store's clock, its tag
//! list an exact-size slice, and what most entries lack (a modification
//! time, a stale window) sits behind one optional box. A hit clones one
//! `Arc`; [`EntryRef`] derefs to the [`Stored`] part.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::clock::{Clock, nanos};
use crate::ETag;
use crate::store::Entry;

/// What a store's slots share with it: its counters (the byte count is the
/// one a slot gives its bytes back to when its last handle drops) and the
/// clock their deadlines are on.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) bytes: AtomicU64,
    pub(super) evictions: AtomicU64,
    pub(super) expirations: AtomicU64,
    pub(super) clock: Clock,
}

impl Shared {
    pub(super) fn new(clock: Clock) -> Shared {
        Shared {
            bytes: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            expirations: AtomicU64::new(0),
            clock,
        }
    }
}

/// One resident entry. Dropping the last reference gives its bytes back, so
/// the byte count stays exact however the slot leaves (eviction, removal,
/// replacement).
#[derive(Debug)]
pub(super) struct Resident {
    /// When the entry stops being fresh, on the store's clock; a soft
    /// invalidation moves it to the present.
    pub(super) deadline: AtomicU64,
    /// When the entry leaves the store: `deadline` plus its stale window,
    /// or later after a soft invalidation gave it a new window.
    pub(super) keep_until: AtomicU64,
    /// Unique in its store: the tag index names a slot by key and id, so
    /// that cleaning it never unlinks a newer entry under the same key.
    pub(super) id: u64,
    pub(super) weight: u64,
    shared: Arc<Shared>,
    pub(super) stored: Stored,
    /// The entry's compressed variants, made on demand; their bytes count
    /// in `shared.bytes` while the entry is resident (not in its weight,
    /// which is fixed when it enters).
    #[cfg(feature = "compression-core")]
    variants: crate::compression::variants::Variants,
}

impl Resident {
    /// A slot for `stored`, fresh until `deadline`, whose `weight` is
    /// already counted in `shared.bytes`.
    pub(super) fn new(
        stored: Stored,
        deadline: u64,
        id: u64,
        weight: u64,
        shared: Arc<Shared>,
    ) -> Resident {
        Resident {
            keep_until: AtomicU64::new(deadline.saturating_add(nanos(stored.stale_for()))),
            deadline: AtomicU64::new(deadline),
            id,
            weight,
            shared,
            stored,
            #[cfg(feature = "compression-core")]
            variants: Default::default(),
        }
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        #[cfg(feature = "compression-core")]
        let weight = self.weight + self.variants.bytes();
        #[cfg(not(feature = "compression-core"))]
        let weight = self.weight;
        self.shared.bytes.fetch_sub(weight, Ordering::Relaxed);
    }
}

/// What a memory slot holds of an entry: what a hit answers with. Reached
/// through an [`EntryRef`]; [`EntryRef::to_entry`] gives the whole
/// [`Entry`] back.
#[derive(Debug)]
pub struct Stored {
    /// The response status.
    pub status: StatusCode,
    /// The headers replayed on a hit (see [`Entry::headers`]), shared by
    /// the entries of one handler.
    pub headers: Arc<HeaderMap>,
    /// The body.
    pub body: Bytes,
    /// The entity tag.
    pub etag: ETag,
    /// The tags the entry is invalidated by.
    pub tags: Box<[Arc<str>]>,
    /// What most entries lack, boxed so that those pay one pointer.
    rare: Option<Box<Rare>>,
}

#[derive(Debug)]
struct Rare {
    /// The entry's time and that time as an HTTP-date, rendered once for
    /// every answer.
    last_modified: Option<(SystemTime, HeaderValue)>,
    stale_for: Duration,
}

impl Stored {
    /// When the representation last changed, if the ETag style knows.
    pub fn last_modified(&self) -> Option<SystemTime> {
        Some(self.rare.as_ref()?.last_modified.as_ref()?.0)
    }

    /// [`last_modified`](Self::last_modified) as a `Last-Modified` value.
    pub fn last_modified_value(&self) -> Option<HeaderValue> {
        Some(self.rare.as_ref()?.last_modified.as_ref()?.1.clone())
    }

    /// How long after it stops being fresh the entry is kept (see
    /// [`Entry::stale_for`]).
    pub fn stale_for(&self) -> Duration {
        self.rare
            .as_ref()
            .map_or(Duration::ZERO, |rare| rare.stale_for)
    }

    /// The whole entry, stored at `stored_at` for `ttl`, then kept for
    /// `stale_for`.
    pub(crate) fn with_life(
        &self,
        stored_at: SystemTime,
        ttl: Duration,
        stale_for: Duration,
    ) -> Entry {
        Entry {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            etag: self.etag.clone(),
            last_modified: self.last_modified(),
            tags: self.tags.to_vec(),
            stored_at,
            ttl,
            stale_for,
        }
    }
}

impl From<Entry> for Stored {
    /// Keeps what a hit reads; the entry's times are the store's business.
    fn from(entry: Entry) -> Stored {
        let last_modified = entry
            .last_modified
            .and_then(|time| Some((time, crate::response::http_date(time)?)));
        let rare = (last_modified.is_some() || !entry.stale_for.is_zero()).then(|| {
            Box::new(Rare {
                last_modified,
                stale_for: entry.stale_for,
            })
        });
        Stored {
            status: entry.status,
            headers: entry.headers,
            body: entry.body,
            etag: entry.etag,
            tags: entry.tags.into_boxed_slice(),
            rare,
        }
    }
}

/// A shared handle on an entry held by a [`MemoryStore`](super::MemoryStore):
/// cloning it is one reference count, and it derefs to the [`Stored`] entry.
#[derive(Debug, Clone)]
pub struct EntryRef(pub(super) Arc<Resident>);

impl EntryRef {
    /// How long ago the entry stopped being fresh; `None` while it is fresh.
    pub fn stale_age(&self) -> Option<Duration> {
        let now = self.0.shared.clock.now();
        let deadline = self.0.deadline.load(Ordering::Relaxed);
        (deadline <= now).then(|| Duration::from_nanos(now - deadline))
    }

    /// The whole entry, with what is left of its life: to put into another
    /// store, or to hand to a caller of [`Store::get`](crate::Store::get).
    pub fn to_entry(&self) -> Entry {
        let (now, wall) = (self.0.shared.clock.now(), SystemTime::now());
        let deadline = self.0.deadline.load(Ordering::Relaxed);
        let keep_until = self.0.keep_until.load(Ordering::Relaxed);
        let stale_for = Duration::from_nanos(keep_until.saturating_sub(deadline));
        let (stored_at, ttl) = if deadline > now {
            (wall, Duration::from_nanos(deadline - now))
        } else {
            // Stale: stored with no ttl as long ago as it stopped being
            // fresh (how a store reads an entry with no ttl left).
            let age = Duration::from_nanos(now - deadline);
            (wall.checked_sub(age).unwrap_or(wall), Duration::ZERO)
        };
        self.0.stored.with_life(stored_at, ttl, stale_for)
    }

    /// The entry's compressed variants, and the byte count of the store
    /// that holds it, which the variants made add to.
    #[cfg(feature = "compression-core")]
    pub(crate) fn variants(&self) -> (&crate::compression::variants::Variants, &AtomicU64) {
        (&self.0.variants, &self.0.shared.bytes)
    }
}

impl std::ops::Deref for EntryRef {
    type Target = Stored;

    fn deref(&self) -> &Stored {
        &self.0.stored
    }
}

/// A small entry's ETag text and body copied into one allocation of their
/// size. A serializer's buffer grows by doubling (axum's `Json` starts at
/// 128 bytes), so a stored 7-byte body would otherwise hold 128, and the
/// tag's text and the body would each take an allocation of their own and,
/// on the first hit, a second one for the shared handle `Bytes` makes when
/// first cloned: four allocations become two. Copied once, as the entry
/// enters the store.
pub(super) fn packed(mut entry: Entry) -> Entry {
    const PACKED_UP_TO: usize = 16 << 10;
    let tag = entry.etag.to_header_value();
    // Packed already (an entry renewed with its stored body): the body
    // starts where the tag's text ends, in one buffer.
    let packed = tag.as_bytes().as_ptr_range().end == entry.body.as_ptr();
    if packed || entry.body.len() > PACKED_UP_TO {
        return entry;
    }
    let mut both = Vec::with_capacity(tag.len() + entry.body.len());
    both.extend_from_slice(tag.as_bytes());
    both.extend_from_slice(&entry.body);
    let both = Bytes::from(both);
    if let Ok(value) = HeaderValue::from_maybe_shared(both.slice(..tag.len())) {
        entry.etag = entry.etag.over(value);
        entry.body = both.slice(tag.len()..);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the layout is for: with its reference counts and the
    /// allocator's header, a slot fits a 176-byte size class, where one
    /// holding the whole `Entry` took 256 (compressed variants, when built
    /// in, add their own cell).
    #[test]
    fn a_slot_is_compact() {
        #[cfg(feature = "compression-core")]
        let variants = std::mem::size_of::<crate::compression::variants::Variants>();
        #[cfg(not(feature = "compression-core"))]
        let variants = 0;
        let allocated = std::mem::size_of::<Resident>() + 16 + 8;
        eprintln!("slot: {allocated} bytes allocated, variants {variants}");
        assert!(allocated - variants <= 176, "{allocated} bytes");
    }

    #[test]
    fn a_stale_window_or_a_time_takes_the_box_and_nothing_else_does() {
        let entry = |last_modified, stale_for| Entry {
            status: StatusCode::OK,
            headers: Arc::new(HeaderMap::new()),
            body: Bytes::from_static(b"b"),
            etag: ETag::from_content(b"b"),
            last_modified,
            tags: Vec::new(),
            stored_at: SystemTime::now(),
            ttl: Duration::from_secs(1),
            stale_for,
        };
        let plain = Stored::from(entry(None, Duration::ZERO));
        assert!(plain.rare.is_none());
        assert_eq!(
            (plain.last_modified(), plain.stale_for()),
            (None, Duration::ZERO)
        );
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_732_442_400);
        let dated = Stored::from(entry(Some(time), Duration::from_secs(30)));
        assert_eq!(dated.last_modified(), Some(time));
        assert_eq!(
            dated.last_modified_value().unwrap(),
            "Sun, 24 Nov 2024 10:00:00 GMT"
        );
        assert_eq!(dated.stale_for(), Duration::from_secs(30));
    }
}
