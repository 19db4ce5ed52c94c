//! Invalidations the remote store has not confirmed.
//!
//! An invalidation that the remote store refused (an error, a timeout, an
//! open circuit) has still happened: the data changed. It is kept here and
//! replayed, oldest first, until the store accepts it, so that it reaches the
//! store, and through the store's announcements every other instance, once
//! the store is back. Meanwhile this instance must not read back from the
//! store what the invalidation names, or its own next read would undo its
//! own write: [`Outbox::blocks`] says which remote entries to refuse. The
//! queue is bounded; past the bound its contents collapse into one clear,
//! which names everything.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::{ETag, Key};

/// The most invalidations kept before they collapse into a clear.
const MAX_PENDING: usize = 1024;

/// One invalidation, as it is replayed.
#[derive(Debug, Clone)]
pub(crate) enum Invalidation {
    /// The entry under `key`, unless its ETag is `keep`; with `soft`,
    /// marked stale rather than removed.
    Key {
        key: Key,
        keep: Option<ETag>,
        soft: bool,
    },
    /// Every entry of `tags`, unless its ETag is `keep`; with `soft`,
    /// marked stale rather than removed.
    Tags {
        tags: Vec<Box<str>>,
        keep: Option<ETag>,
        soft: bool,
    },
    /// Everything.
    Clear,
}

impl Invalidation {
    /// Whether this invalidation removes an entry stored under `key` with
    /// these tags and this ETag.
    fn names(&self, key: &[u8], tags: &[Arc<str>], etag: &ETag) -> bool {
        let kept = |keep: &Option<ETag>| keep.as_ref().is_some_and(|k| k.weak_eq(etag));
        match self {
            Invalidation::Key { key: k, keep, .. } => k.as_bytes() == key && !kept(keep),
            Invalidation::Tags {
                tags: names, keep, ..
            } => !kept(keep) && names.iter().any(|n| tags.iter().any(|t| **t == **n)),
            Invalidation::Clear => true,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Whether anything is pending, read without the lock on every remote
    /// hit.
    busy: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<Invalidation>,
    replaying: bool,
}

impl Outbox {
    /// Keeps `invalidation` for replay; returns whether the caller must
    /// start the replay (none is running).
    pub(crate) fn push(&self, invalidation: Invalidation) -> bool {
        let mut state = self.state.lock();
        if state.pending.len() >= MAX_PENDING {
            state.pending.clear();
            state.pending.push_back(Invalidation::Clear);
        } else {
            state.pending.push_back(invalidation);
        }
        self.busy.store(true, Ordering::Release);
        !std::mem::replace(&mut state.replaying, true)
    }

    /// Whether a remote entry under `key` is one a pending invalidation
    /// removes, and must not be served.
    pub(crate) fn blocks(&self, key: &[u8], tags: &[Arc<str>], etag: &ETag) -> bool {
        if !self.busy.load(Ordering::Acquire) {
            return false;
        }
        let state = self.state.lock();
        state.pending.iter().any(|i| i.names(key, tags, etag))
    }

    /// The oldest pending invalidation; `None` ends the replay.
    pub(crate) fn next(&self) -> Option<Invalidation> {
        let mut state = self.state.lock();
        let next = state.pending.front().cloned();
        if next.is_none() {
            state.replaying = false;
            self.busy.store(false, Ordering::Release);
        }
        next
    }

    /// The oldest pending invalidation reached the store.
    pub(crate) fn confirmed(&self) {
        self.state.lock().pending.pop_front();
    }

    /// How many invalidations wait for the store.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_event(tag: &str) -> Invalidation {
        Invalidation::Tags {
            tags: vec![tag.into()],
            keep: None,
            soft: false,
        }
    }

    #[test]
    fn pending_invalidations_block_what_they_name() {
        let outbox = Outbox::default();
        let etag = ETag::from_string("v1");
        let tags: Vec<Arc<str>> = vec!["doc:1".into()];
        assert!(!outbox.blocks(b"k", &tags, &etag));
        assert!(outbox.push(tag_event("doc:1")));
        assert!(!outbox.push(tag_event("doc:2")), "one replay at a time");
        assert!(outbox.blocks(b"k", &tags, &etag));
        assert!(!outbox.blocks(b"k", &["doc:3".into()], &etag));
        outbox.confirmed();
        assert!(!outbox.blocks(b"k", &tags, &etag));
        outbox.confirmed();
        assert!(outbox.next().is_none());
        assert!(outbox.push(tag_event("doc:1")), "a new replay starts");
    }

    #[test]
    fn a_kept_etag_is_not_blocked() {
        let outbox = Outbox::default();
        let etag = ETag::from_string("v1");
        outbox.push(Invalidation::Key {
            key: Key::from(&b"k"[..]),
            keep: Some(etag.clone()),
            soft: false,
        });
        assert!(!outbox.blocks(b"k", &[], &etag));
        assert!(outbox.blocks(b"k", &[], &ETag::from_string("v0")));
    }

    #[test]
    fn overflow_collapses_into_a_clear() {
        let outbox = Outbox::default();
        for i in 0..=MAX_PENDING {
            outbox.push(tag_event(&format!("t{i}")));
        }
        assert_eq!(outbox.len(), 1);
        assert!(matches!(outbox.next(), Some(Invalidation::Clear)));
        assert!(outbox.blocks(b"any", &[], &ETag::from_string("x")));
    }
}
