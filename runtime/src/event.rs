//! Invalidation events: a description of a change, applied by
//! [`Cache::apply`](crate::Cache::apply) or streamed into
//! [`Cache::listen`](crate::Cache::listen).
//!
//! An event names what changed (tags, a key, or everything) and, where the
//! writer knows it, the new ETag. Entries whose ETag equals the new one are
//! kept: a write that did not change the representation costs no miss.

use crate::{ETag, Key};

/// A change to apply to a cache.
///
/// ```
/// use cached_etag_runtime::{ETag, Event};
///
/// // Camera 2 changed; entries already holding the new version stay.
/// let event = Event::tags(["cameras", "camera:2"]).with_etag(ETag::from_string("2-1732442400"));
/// assert_eq!(event.tags, ["cameras", "camera:2"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Event {
    /// Tags whose entries are invalidated.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tags: Vec<String>,
    /// One entry to invalidate.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub key: Option<Key>,
    /// The representation's new ETag: entries that already carry it are kept.
    #[cfg_attr(feature = "serde", serde(default))]
    pub etag: Option<ETag>,
    /// Invalidate everything.
    #[cfg_attr(feature = "serde", serde(default))]
    pub clear: bool,
    /// Mark the key's and tags' entries stale rather than remove them (a
    /// soft purge, see [`Cache::invalidate_soft`](crate::Cache::invalidate_soft)).
    /// A clear is never soft.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "std::ops::Not::not")
    )]
    pub soft: bool,
}

impl Event {
    /// Invalidates every entry carrying any of `tags`.
    pub fn tags<I, T>(tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Event {
            tags: tags.into_iter().map(Into::into).collect(),
            ..Event::default()
        }
    }

    /// Invalidates the entry under `key`.
    pub fn key(key: Key) -> Self {
        Event {
            key: Some(key),
            ..Event::default()
        }
    }

    /// Invalidates everything.
    pub fn clear() -> Self {
        Event {
            clear: true,
            ..Event::default()
        }
    }

    /// Marks the entries stale instead of removing them: they are served
    /// while one refresh replaces them, and kept if it finds the same ETag.
    ///
    /// ```
    /// use cached_etag_runtime::Event;
    ///
    /// let event = Event::tags(["counts"]).soft();
    /// assert!(event.soft);
    /// ```
    pub fn soft(mut self) -> Self {
        self.soft = true;
        self
    }

    /// Keeps entries whose ETag equals `etag` (the representation did not change).
    pub fn with_etag(mut self, etag: ETag) -> Self {
        self.etag = Some(etag);
        self
    }
}
