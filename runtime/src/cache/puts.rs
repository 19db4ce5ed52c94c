//! Remote puts in flight, and the invalidations that overtook them.
//!
//! A fill enters memory behind the fence, then goes to the remote store. An
//! invalidation can land between the two: it removes the memory copy and
//! the store's old entry, and then the put writes the fill, made from the
//! old state, into the store, where this instance's next miss would find
//! it. So every put is registered here when its entry is committed (under
//! the fence, so no invalidation can slip between the two), an invalidation
//! that names it dooms it, and a doomed put is undone once it returns: the
//! key is invalidated again. Until every doomed put of the key is undone,
//! a remote read of that key is refused. Each put carries a ticket, so that
//! a put begun after the invalidation is told apart from the doomed ones
//! still under way, whichever returns first. (A store shared by many
//! instances should also refuse late puts itself, as the Redis store does,
//! for the instances that do not see this one's registry.)

use std::collections::HashMap;
use std::sync::Arc;

use super::outbox::Invalidation;
use super::sync::{AtomicBool, Mutex, Ordering};
use crate::Key;

#[derive(Debug, Default)]
pub(crate) struct Puts {
    /// Whether any put is registered: read without the lock by every
    /// invalidation and remote read.
    busy: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The next put's ticket: tickets grow with time.
    next: u64,
    /// Hashed like the memory store's own table (see `flight.rs`).
    keys: HashMap<Key, InFlight, quick_cache::DefaultHashBuilder>,
}

/// The registered puts of one key.
#[derive(Debug, Default)]
struct InFlight {
    tags: Vec<Arc<str>>,
    /// The tickets of the puts under way.
    running: Vec<u64>,
    /// Puts with a ticket below this began before an invalidation that
    /// named them: each is undone when it returns. One that began after is
    /// fresh, however the others end.
    doomed_below: u64,
    /// Overtaken puts that returned and are being undone.
    undoing: usize,
}

/// One registered put, handed back to [`Puts::end`] when it returns.
#[derive(Debug)]
pub(crate) struct Ticket(u64);

impl InFlight {
    fn is_idle(&self) -> bool {
        self.running.is_empty() && self.undoing == 0
    }
}

impl Puts {
    /// Registers a put of `key`, carrying `tags`, about to start.
    pub(crate) fn begin(&self, key: &Key, tags: &[Arc<str>]) -> Ticket {
        let mut state = self.state.lock();
        let ticket = state.next;
        state.next += 1;
        let put = state.keys.entry(key.clone()).or_default();
        put.running.push(ticket);
        put.tags = tags.to_vec();
        self.busy.store(true, Ordering::Release);
        Ticket(ticket)
    }

    /// Dooms the registered puts `invalidation` names.
    pub(crate) fn doom(&self, invalidation: &Invalidation) {
        if !self.busy.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state.lock();
        let now = state.next;
        for (key, put) in state.keys.iter_mut() {
            let named = match invalidation {
                Invalidation::Key { key: k, .. } => k == key,
                Invalidation::Tags { tags, .. } => {
                    put.tags.iter().any(|t| tags.iter().any(|n| **n == **t))
                }
                Invalidation::Clear => true,
            };
            if named {
                put.doomed_below = now;
            }
        }
    }

    /// Whether a remote read of `key` must be refused: a put of it was
    /// overtaken and is not undone yet.
    pub(crate) fn blocks(&self, key: &Key) -> bool {
        if !self.busy.load(Ordering::Acquire) {
            return false;
        }
        self.state
            .lock()
            .keys
            .get(key)
            .is_some_and(|put| put.undoing > 0 || put.running.iter().any(|&t| t < put.doomed_below))
    }

    /// The put of `key` with `ticket` returned; says whether it was
    /// overtaken and the key must be invalidated again (then call
    /// [`settle`](Self::settle) once it was).
    pub(crate) fn end(&self, key: &Key, Ticket(ticket): Ticket) -> bool {
        let mut state = self.state.lock();
        let Some(put) = state.keys.get_mut(key) else {
            return false;
        };
        put.running.retain(|&t| t != ticket);
        let overtaken = ticket < put.doomed_below;
        if overtaken {
            put.undoing += 1;
        } else if put.is_idle() {
            state.keys.remove(key);
            self.busy.store(!state.keys.is_empty(), Ordering::Release);
        }
        overtaken
    }

    /// An overtaken put of `key` was undone. Other overtaken puts of it
    /// still under way keep remote reads of it refused until they are
    /// undone in turn.
    pub(crate) fn settle(&self, key: &Key) {
        let mut state = self.state.lock();
        if let Some(put) = state.keys.get_mut(key) {
            put.undoing = put.undoing.saturating_sub(1);
            if put.is_idle() {
                state.keys.remove(key);
            }
        }
        self.busy.store(!state.keys.is_empty(), Ordering::Release);
    }
}

#[cfg(all(test, not(cached_etag_loom)))]
mod tests {
    use super::*;

    fn tags(tag: &str) -> Invalidation {
        Invalidation::Tags {
            tags: vec![tag.into()],
            keep: None,
            soft: false,
        }
    }

    #[test]
    fn an_overtaken_put_blocks_reads_until_settled() {
        let puts = Puts::default();
        let key = Key::from(&b"k"[..]);
        let put = puts.begin(&key, &["doc".into()]);
        assert!(!puts.blocks(&key));
        puts.doom(&tags("doc"));
        assert!(puts.blocks(&key));
        assert!(puts.end(&key, put), "the put must be undone");
        assert!(puts.blocks(&key), "still blocked while it is undone");
        puts.settle(&key);
        assert!(!puts.blocks(&key));
        // An unrelated invalidation dooms nothing.
        let put = puts.begin(&key, &["doc".into()]);
        puts.doom(&tags("other"));
        assert!(!puts.end(&key, put));
        assert!(!puts.blocks(&key));
    }

    /// Two overtaken puts of one key: undoing the first to return must not
    /// clear the second, still under way, which could land the old entry
    /// in the store after the undo removed it there.
    #[test]
    fn every_overtaken_put_is_undone_whichever_returns_first() {
        let puts = Puts::default();
        let key = Key::from(&b"k"[..]);
        let first = puts.begin(&key, &["doc".into()]);
        let second = puts.begin(&key, &["doc".into()]);
        puts.doom(&tags("doc"));
        assert!(puts.end(&key, first));
        puts.settle(&key);
        assert!(puts.blocks(&key), "an overtaken put is still under way");
        assert!(
            puts.end(&key, second),
            "the second overtaken put is undone too"
        );
        puts.settle(&key);
        assert!(!puts.blocks(&key));
    }

    /// A put that began after the invalidation is fresh: it is not undone,
    /// even when it returns before an overtaken one.
    #[test]
    fn a_put_begun_after_the_invalidation_is_not_undone() {
        let puts = Puts::default();
        let key = Key::from(&b"k"[..]);
        let old = puts.begin(&key, &["doc".into()]);
        puts.doom(&tags("doc"));
        let fresh = puts.begin(&key, &["doc".into()]);
        assert!(!puts.end(&key, fresh));
        assert!(puts.blocks(&key), "the overtaken put is still under way");
        assert!(puts.end(&key, old));
        puts.settle(&key);
        assert!(!puts.blocks(&key));
        assert!(
            !puts.busy.load(Ordering::Acquire),
            "nothing left registered"
        );
    }
}

/// Model checks of the put registry against the fence with loom:
/// `RUSTFLAGS="--cfg cached_etag_loom" cargo test -p cached-etag-runtime
/// --lib loom` (a target dir of its own keeps the usual build cached).
#[cfg(all(test, cached_etag_loom))]
mod loom_models {
    use super::*;
    use crate::cache::generation::Generations;

    /// A fill commits, registering its remote put under the fence (as
    /// `Cache::store_fresh` does), while an invalidation of its key stamps the
    /// fence and later dooms puts (as `Cache::invalidate_locally` does). Whatever
    /// the interleaving, a put whose commit the invalidation did not refuse
    /// is doomed, so that it is undone once it returns: otherwise it could
    /// land in the remote store after the invalidation removed the key
    /// there, and the next miss would read the old entry back.
    #[test]
    fn every_put_an_invalidation_overtakes_is_undone() {
        loom::model(|| {
            let generations = Arc::new(Generations::default());
            let puts = Arc::new(Puts::default());
            let key = Key::from(&b"k"[..]);
            let invalidation = Invalidation::Key {
                key: key.clone(),
                keep: None,
                soft: false,
            };
            let start = generations.start();
            let fill = {
                let (generations, puts, key) = (generations.clone(), puts.clone(), key.clone());
                loom::thread::spawn(move || {
                    let mut put = None;
                    generations.commit(start, [key.as_bytes()], || {
                        put = Some(puts.begin(&key, &[]))
                    });
                    put
                })
            };
            generations.bump([key.as_bytes()]);
            puts.doom(&invalidation);
            if let Some(put) = fill.join().unwrap() {
                assert!(puts.end(&key, put), "an overtaken put is not undone");
            }
        });
    }
}
