//! Remote puts in flight, and the invalidations that overtook them.
//!
//! A fill enters memory behind the fence, then goes to the remote store. An
//! invalidation can land between the two: it removes the memory copy and
//! the store's old entry, and then the put writes the fill, made from the
//! old state, into the store, where this instance's next miss would find
//! it. So every put is registered here when its entry is committed (under
//! the fence, so no invalidation can slip between the two), an invalidation
//! that names it dooms it, and a doomed put is undone once it returns: the
//! key is invalidated again. Until then, a remote read of that key is
//! refused. (A store shared by many instances should also refuse late puts
//! itself, as the Redis store does, for the instances that do not see this
//! one's registry.)

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::outbox::Invalidation;
use crate::Key;

#[derive(Debug, Default)]
pub(crate) struct Puts {
    /// Whether any put is registered: read without the lock by every
    /// invalidation and remote read.
    busy: AtomicBool,
    map: Mutex<HashMap<Key, InFlight>>,
}

#[derive(Debug)]
struct InFlight {
    tags: Vec<Arc<str>>,
    count: usize,
    doomed: bool,
}

impl Puts {
    /// Registers a put of `key`, carrying `tags`, about to start.
    pub(crate) fn begin(&self, key: &Key, tags: &[Arc<str>]) {
        let mut map = self.map.lock();
        let put = map.entry(key.clone()).or_insert_with(|| InFlight {
            tags: Vec::new(),
            count: 0,
            doomed: false,
        });
        put.count += 1;
        put.tags = tags.to_vec();
        self.busy.store(true, Ordering::Release);
    }

    /// Dooms the registered puts `invalidation` names.
    pub(crate) fn doom(&self, invalidation: &Invalidation) {
        if !self.busy.load(Ordering::Acquire) {
            return;
        }
        let mut map = self.map.lock();
        for (key, put) in map.iter_mut() {
            put.doomed |= match invalidation {
                Invalidation::Key { key: k, .. } => k == key,
                Invalidation::Tags { tags, .. } => {
                    put.tags.iter().any(|t| tags.iter().any(|n| **n == **t))
                }
                Invalidation::Clear => true,
            };
        }
    }

    /// Whether a remote read of `key` must be refused: a put of it was
    /// overtaken and is not undone yet.
    pub(crate) fn blocks(&self, key: &Key) -> bool {
        if !self.busy.load(Ordering::Acquire) {
            return false;
        }
        self.map.lock().get(key).is_some_and(|put| put.doomed)
    }

    /// One put of `key` returned; says whether the key must be invalidated
    /// again (then call [`settle`](Self::settle) once it was).
    pub(crate) fn end(&self, key: &Key) -> bool {
        let mut map = self.map.lock();
        let Some(put) = map.get_mut(key) else {
            return false;
        };
        put.count -= 1;
        if put.doomed {
            return true;
        }
        if put.count == 0 {
            map.remove(key);
            self.busy.store(!map.is_empty(), Ordering::Release);
        }
        false
    }

    /// A doomed put of `key` was undone.
    pub(crate) fn settle(&self, key: &Key) {
        let mut map = self.map.lock();
        if map.get(key).is_some_and(|put| put.count == 0) {
            map.remove(key);
        } else if let Some(put) = map.get_mut(key) {
            // Puts begun since still run; they were committed after the
            // invalidation, so they are fresh.
            put.doomed = false;
        }
        self.busy.store(!map.is_empty(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overtaken_put_blocks_reads_until_settled() {
        let puts = Puts::default();
        let key = Key::from(&b"k"[..]);
        puts.begin(&key, &["doc".into()]);
        assert!(!puts.blocks(&key));
        puts.doom(&Invalidation::Tags {
            tags: vec!["doc".into()],
            keep: None,
            soft: false,
        });
        assert!(puts.blocks(&key));
        assert!(puts.end(&key), "the put must be undone");
        assert!(puts.blocks(&key), "still blocked while it is undone");
        puts.settle(&key);
        assert!(!puts.blocks(&key));
        // An unrelated invalidation dooms nothing.
        puts.begin(&key, &["doc".into()]);
        puts.doom(&Invalidation::Tags {
            tags: vec!["other".into()],
            keep: None,
            soft: false,
        });
        assert!(!puts.end(&key));
        assert!(!puts.blocks(&key));
    }
}
