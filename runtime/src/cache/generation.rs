//! Discarding fills that an invalidation overtook.
//!
//! A response that began before its key or one of its tags was invalidated
//! describes the old state and must not be stored as fresh. Every
//! invalidation bumps a global epoch and stamps it into a fixed array of
//! slots picked by hashing the key or tag; a fill remembers the epoch at its
//! start and may commit only if none of its slots was stamped since. The
//! array is fixed (no growth with the number of tags); two names sharing a
//! slot only cost an extra miss. Invalidations hold the fence exclusively
//! while stamping, commits hold it shared while checking and inserting, so an
//! invalidation either sees the committed entry (and removes it) or the fill
//! sees the stamp (and discards itself).

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use super::sync::{AtomicU64, Ordering, ReadGuard, RwLock};

#[cfg(not(cached_etag_loom))]
const SLOTS: usize = 4096;
// Two slots keep the model small and still let names collide.
#[cfg(cached_etag_loom)]
const SLOTS: usize = 2;

#[derive(Debug)]
pub(crate) struct Generations {
    epoch: AtomicU64,
    cleared: AtomicU64,
    slots: Box<[AtomicU64]>,
    fence: RwLock,
}

/// A fill's snapshot of the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start(u64);

impl Default for Generations {
    fn default() -> Self {
        Generations {
            epoch: AtomicU64::new(0),
            cleared: AtomicU64::new(0),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            fence: RwLock::new(()),
        }
    }
}

fn slot(name: &[u8]) -> usize {
    // A fixed hasher: slots must be the same for the whole process, and a
    // collision costs one extra miss, nothing more.
    (BuildHasherDefault::<DefaultHasher>::default().hash_one(name) as usize) % SLOTS
}

impl Generations {
    pub(crate) fn start(&self) -> Start {
        Start(self.epoch.load(Ordering::SeqCst))
    }

    /// Marks `names` (keys or tags) as invalidated now.
    pub(crate) fn bump<'a>(&self, names: impl IntoIterator<Item = &'a [u8]>) {
        let _fence = self.fence.write();
        let now = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        for name in names {
            self.slots[slot(name)].store(now, Ordering::SeqCst);
        }
    }

    /// Marks everything as invalidated now.
    pub(crate) fn bump_all(&self) {
        let _fence = self.fence.write();
        let now = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.cleared.store(now, Ordering::SeqCst);
    }

    /// Holds the fence open for a commit, if no name (key or tag) was
    /// invalidated since `start`: what is inserted while the guard lives
    /// is found by every invalidation that follows (it waits for the
    /// guard), and none that came before is missed (it was seen here).
    pub(crate) fn admit<'a>(
        &self,
        start: Start,
        names: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<ReadGuard<'_>> {
        let fence = self.fence.read();
        if self.cleared.load(Ordering::SeqCst) > start.0 {
            return None;
        }
        if names
            .into_iter()
            .any(|name| self.slots[slot(name)].load(Ordering::SeqCst) > start.0)
        {
            return None;
        }
        Some(fence)
    }

    /// Runs `insert` under the fence if no name was invalidated since
    /// `start`; says whether it ran.
    #[cfg(test)]
    pub(crate) fn commit<'a>(
        &self,
        start: Start,
        names: impl IntoIterator<Item = &'a [u8]>,
        insert: impl FnOnce(),
    ) -> bool {
        let Some(_fence) = self.admit(start, names) else {
            return false;
        };
        insert();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidation_after_start_blocks_commit() {
        let g = Generations::default();
        let start = g.start();
        g.bump([b"tag:1".as_slice()]);
        assert!(!g.commit(start, [b"tag:1".as_slice()], || ()));
        assert!(g.commit(g.start(), [b"tag:1".as_slice()], || ()));
    }

    #[test]
    fn unrelated_invalidation_does_not_block() {
        let g = Generations::default();
        let start = g.start();
        g.bump([b"a".as_slice()]);
        let other = (0..100u32)
            .map(|i| format!("b{i}"))
            .find(|n| slot(n.as_bytes()) != slot(b"a"))
            .unwrap();
        assert!(g.commit(start, [other.as_bytes()], || ()));
    }

    #[test]
    fn clear_blocks_everything_started_before() {
        let g = Generations::default();
        let start = g.start();
        g.bump_all();
        assert!(!g.commit(start, [b"x".as_slice()], || ()));
    }
}

/// Model checks of the fence with loom, over every interleaving of a fill
/// and an invalidation: `RUSTFLAGS="--cfg cached_etag_loom" cargo test -p
/// cached-etag-runtime --lib loom` (a target dir of its own keeps the usual
/// build cached).
#[cfg(all(test, cached_etag_loom))]
mod loom_models {
    use super::*;
    use loom::sync::{Arc, Mutex};

    /// A fill commits into "memory" while an invalidation of its name
    /// stamps and then removes from it. Whatever the interleaving, an
    /// invalidation that began after the fill began leaves nothing behind.
    #[test]
    fn no_entry_outlives_an_invalidation_that_began_after_its_fill() {
        loom::model(|| {
            let g = Arc::new(Generations::default());
            let memory = Arc::new(Mutex::new(false));
            // The fill's start is taken first, so the invalidation began
            // after it.
            let start = g.start();
            let fill = {
                let (g, memory) = (g.clone(), memory.clone());
                loom::thread::spawn(move || {
                    g.commit(start, [b"doc".as_slice()], || {
                        *memory.lock().unwrap() = true
                    })
                })
            };
            g.bump([b"doc".as_slice()]);
            *memory.lock().unwrap() = false;
            fill.join().unwrap();
            assert!(!*memory.lock().unwrap(), "an overtaken fill is readable");
        });
    }

    /// A clear overtakes every fill that began before it.
    #[test]
    fn a_clear_overtakes_every_earlier_fill() {
        loom::model(|| {
            let g = Arc::new(Generations::default());
            let memory = Arc::new(Mutex::new(0u8));
            let start = g.start();
            let fills: Vec<_> = [b"a".as_slice(), b"b".as_slice()]
                .into_iter()
                .map(|name| {
                    let (g, memory) = (g.clone(), memory.clone());
                    loom::thread::spawn(move || {
                        g.commit(start, [name], || *memory.lock().unwrap() += 1)
                    })
                })
                .collect();
            g.bump_all();
            *memory.lock().unwrap() = 0;
            for fill in fills {
                fill.join().unwrap();
            }
            assert_eq!(*memory.lock().unwrap(), 0);
        });
    }

    /// A fill that began after the invalidation finished commits.
    #[test]
    fn a_fill_after_an_invalidation_commits() {
        loom::model(|| {
            let g = Arc::new(Generations::default());
            let invalidation = {
                let g = g.clone();
                loom::thread::spawn(move || g.bump([b"doc".as_slice()]))
            };
            invalidation.join().unwrap();
            let start = g.start();
            assert!(g.commit(start, [b"doc".as_slice()], || ()));
        });
    }
}
