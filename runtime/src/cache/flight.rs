//! Single-flight: concurrent misses on one key run the handler once.
//!
//! The first miss becomes the leader and registers a flight; later misses
//! subscribe to it and wait (bounded) for its outcome. The leader's fill holds
//! a [`LeaderGuard`] and outlives its request (it finishes in a task of its
//! own if the client goes away); it publishes a stored entry in the commit
//! that stores it, and whatever other way it ends (not storable, overtaken
//! by an invalidation, panicked), dropping the leader publishes that and
//! unregisters the flight, so no waiter can hang and no key can stay stuck.
//!
//! The lock and the channel come from [`sync`](super::sync), so that the
//! state machine below can be model-checked with loom (see `loom_models`).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::sync::{Mutex, watch};

use crate::Key;
use crate::store::EntryRef;

/// A flight's outcome as waiters see it.
#[derive(Debug, Clone)]
pub(crate) enum State {
    Pending,
    /// The leader stored this entry: serve it.
    Stored(EntryRef),
    /// The leader's response was not storable (or it failed): run your own.
    Unusable,
}

#[derive(Debug, Default)]
pub(crate) struct Flights {
    /// Keyed by request data: hashed like the memory store's own table,
    /// with a seeded hasher cheaper than SipHash on keys this long.
    map: Mutex<HashMap<Key, watch::Sender<State>, quick_cache::DefaultHashBuilder>>,
}

pub(crate) enum Role {
    Leader(LeaderGuard),
    Waiter(Receiver),
}

/// A waiter's view of a flight.
pub(crate) type Receiver = watch::Receiver<State>;

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, key: &Key) -> Role {
        let mut map = self.map.lock();
        if let Some(sender) = map.get(key) {
            return Role::Waiter(sender.subscribe());
        }
        let (sender, _) = watch::channel(State::Pending);
        map.insert(key.clone(), sender);
        Role::Leader(LeaderGuard {
            flights: Arc::downgrade(self),
            key: key.clone(),
            outcome: None,
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// Held by the leader's fill; publishes the outcome when dropped.
pub(crate) struct LeaderGuard {
    flights: Weak<Flights>,
    key: Key,
    outcome: Option<EntryRef>,
}

impl LeaderGuard {
    /// Hands `entry` to the waiters and closes the flight: the next miss
    /// leads a fill of its own. Called under the generation fence, in the
    /// commit that stores `entry` (see `Cache::store_fresh`).
    pub(crate) fn publish(mut self, entry: EntryRef) {
        self.outcome = Some(entry);
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        let Some(flights) = self.flights.upgrade() else {
            return;
        };
        let sender = flights.map.lock().remove(&self.key);
        if let Some(sender) = sender {
            let state = match self.outcome.take() {
                Some(entry) => State::Stored(entry),
                None => State::Unusable,
            };
            sender.send_replace(state);
        }
    }
}

// Real primitives only: loom's work inside a loom model alone.
#[cfg(all(test, not(cached_etag_loom)))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_landing_releases_waiters() {
        let flights = Arc::new(Flights::default());
        let key = Key::builder("k").finish();
        let Role::Leader(leader) = flights.join(&key) else {
            panic!("first is leader")
        };
        let Role::Waiter(mut rx) = flights.join(&key) else {
            panic!("second waits")
        };
        drop(leader);
        let state = rx
            .wait_for(|s| !matches!(s, State::Pending))
            .await
            .unwrap()
            .clone();
        assert!(matches!(state, State::Unusable));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join(&key), Role::Leader(_)));
    }
}

/// Model checks of single flight with loom, over the interleavings (every
/// one within `LOOM_MAX_PREEMPTIONS` forced thread switches) of
/// concurrent misses on one key and the ways a leader's fill ends (stored,
/// not storable, panicked, the cache dropped under it) and a waiter's wait
/// ends (served, or given up when its timeout fires):
/// `RUSTFLAGS="--cfg cached_etag_loom" cargo test -p cached-etag-runtime
/// --lib loom` (a target dir of its own keeps the usual build cached).
///
/// Invariants: every request completes (loom fails a model in which a
/// thread blocks forever); at most one leader per key at a time; a waiter is
/// served only the entry its leader stored, and is always served it if it
/// waits; once every request is done no flight is left registered, so the
/// next miss leads.
#[cfg(all(test, cached_etag_loom))]
mod loom_models {
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};
    use loom::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ETag;
    use crate::cache::generation::Generations;
    use crate::store::{Entry, MemoryStore};

    /// How a leader's fill ends.
    #[derive(Clone, Copy, PartialEq)]
    enum End {
        /// The response was storable and stored.
        Stored,
        /// The response was not storable (or failed before it was stored).
        Unusable,
        /// The handler panicked: the guard drops while unwinding.
        Panicked,
    }

    /// How long a waiter waits.
    #[derive(Clone, Copy, PartialEq)]
    enum Patience {
        /// Until the leader publishes.
        Waits,
        /// Its timeout fires before the leader publishes anything.
        GivesUp,
    }

    /// What one request got.
    #[derive(Debug)]
    enum Got {
        /// It led the fill.
        Led,
        /// It was served the leader's entry.
        Served(EntryRef),
        /// It must run its own handler.
        RunsAlone,
    }

    /// The one entry leaders store: made outside the model, since the memory
    /// store's own locks are not loom's.
    fn stored_entry() -> EntryRef {
        static ENTRY: OnceLock<EntryRef> = OnceLock::new();
        ENTRY
            .get_or_init(|| {
                let body = Bytes::from_static(b"the leader's body");
                MemoryStore::new(1, 1 << 20).insert(
                    b"k",
                    Entry {
                        status: StatusCode::OK,
                        headers: Arc::new(HeaderMap::new()),
                        etag: ETag::from_content(&body),
                        body,
                        last_modified: None,
                        tags: Vec::new(),
                        stored_at: SystemTime::UNIX_EPOCH,
                        ttl: Duration::from_secs(60),
                        stale_for: Duration::ZERO,
                    },
                )
            })
            .clone()
    }

    /// The value of a future that never suspends, as the model's
    /// `wait_for` (it blocks on loom's condvar instead).
    fn ready<F: Future>(future: F) -> F::Output {
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(future).poll(&mut context) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => unreachable!("the model's wait blocks, never suspends"),
        }
    }

    fn key() -> Key {
        Key::builder("k").finish()
    }

    /// One miss on the key, as `respond` makes it: join the flight; lead
    /// and end the fill as `end` says, or wait as `respond`'s `wait` does
    /// (for a state other than pending; a closed channel or anything but
    /// an entry means running alone).
    fn miss(flights: &Arc<Flights>, leaders: &AtomicUsize, end: End, patience: Patience) -> Got {
        match flights.join(&key()) {
            Role::Leader(guard) => {
                let at_once = leaders.fetch_add(1, Ordering::SeqCst) + 1;
                assert_eq!(at_once, 1, "two leaders of one key at once");
                match end {
                    End::Stored => {
                        leaders.fetch_sub(1, Ordering::SeqCst);
                        guard.publish(stored_entry());
                    }
                    End::Unusable => {
                        leaders.fetch_sub(1, Ordering::SeqCst);
                        drop(guard);
                    }
                    End::Panicked => {
                        leaders.fetch_sub(1, Ordering::SeqCst);
                        // `resume_unwind` unwinds without the panic hook, so
                        // the model's thousands of runs print nothing.
                        let unwound = catch_unwind(AssertUnwindSafe(move || {
                            let _guard = guard;
                            resume_unwind(Box::new("the handler panicked"))
                        }));
                        assert!(unwound.is_err());
                    }
                }
                Got::Led
            }
            Role::Waiter(mut receiver) => {
                if patience == Patience::GivesUp {
                    drop(receiver);
                    return Got::RunsAlone;
                }
                let state = ready(receiver.wait_for(|state| !matches!(state, State::Pending)))
                    .map(|state| state.clone());
                match state {
                    Ok(State::Stored(entry)) => Got::Served(entry),
                    _ => Got::RunsAlone,
                }
            }
        }
    }

    /// Runs `plans` as concurrent misses on one key (the first on the
    /// model's main thread), and returns what each got, in order.
    fn race(plans: &[(End, Patience)]) -> (Arc<Flights>, Vec<Got>) {
        let flights = Arc::new(Flights::default());
        let leaders = loom::sync::Arc::new(AtomicUsize::new(0));
        let (&(end, patience), others) = plans.split_first().expect("a plan");
        let threads: Vec<_> = others
            .iter()
            .map(|&(end, patience)| {
                let (flights, leaders) = (flights.clone(), leaders.clone());
                loom::thread::spawn(move || miss(&flights, &leaders, end, patience))
            })
            .collect();
        let mut got = vec![miss(&flights, &leaders, end, patience)];
        got.extend(threads.into_iter().map(|t| t.join().unwrap()));
        (flights, got)
    }

    /// Once every request is done, no flight is left behind.
    fn assert_nothing_stuck(flights: &Arc<Flights>) {
        assert_eq!(flights.len(), 0, "a flight outlived its leader");
        assert!(
            matches!(flights.join(&key()), Role::Leader(_)),
            "the next miss does not lead"
        );
    }

    fn is_stored_entry(entry: &EntryRef) -> bool {
        entry.body == stored_entry().body
    }

    #[test]
    fn every_waiter_is_served_what_the_leader_stored() {
        loom::model(|| {
            let plan = (End::Stored, Patience::Waits);
            let (flights, got) = race(&[plan, plan, plan]);
            for got in &got {
                match got {
                    Got::Led => {}
                    Got::Served(entry) => assert!(is_stored_entry(entry)),
                    Got::RunsAlone => panic!("a waiter of a stored fill ran alone"),
                }
            }
            assert_nothing_stuck(&flights);
        });
    }

    #[test]
    fn a_waiter_is_never_served_an_unstorable_response() {
        loom::model(|| {
            let plan = (End::Unusable, Patience::Waits);
            let (flights, got) = race(&[plan, plan, plan]);
            assert!(got.iter().all(|got| !matches!(got, Got::Served(_))));
            assert_nothing_stuck(&flights);
        });
    }

    #[test]
    fn a_panicked_leader_releases_its_waiters() {
        loom::model(|| {
            let plan = (End::Panicked, Patience::Waits);
            let (flights, got) = race(&[plan, plan]);
            assert!(got.iter().all(|got| !matches!(got, Got::Served(_))));
            assert_nothing_stuck(&flights);
        });
    }

    /// A waiter whose timeout fires leaves; the leader still publishes to
    /// the others and the key is not left stuck.
    #[test]
    fn a_waiter_that_gives_up_leaves_the_flight_working() {
        loom::model(|| {
            let (flights, got) = race(&[
                (End::Stored, Patience::Waits),
                (End::Stored, Patience::GivesUp),
                (End::Stored, Patience::Waits),
            ]);
            for got in &got {
                if let Got::Served(entry) = got {
                    assert!(is_stored_entry(entry));
                }
            }
            // Only a request that gave up may run alone.
            assert!(!matches!(got[0], Got::RunsAlone));
            assert!(!matches!(got[2], Got::RunsAlone));
            assert_nothing_stuck(&flights);
        });
    }

    /// A fill commits and publishes while an invalidation of its key
    /// removes it; a request that begins after the invalidation completed
    /// must then miss and lead a fill of its own, never join the old flight
    /// and be handed the entry the invalidation removed.
    #[test]
    fn a_request_after_an_invalidation_never_gets_the_entry_it_removed() {
        loom::model(|| {
            let generations = Arc::new(Generations::default());
            let flights = Arc::new(Flights::default());
            // What memory holds for the key, and whether the invalidation
            // has completed (the floor a request that begins now must see).
            let memory = Arc::new(loom::sync::Mutex::new(None::<EntryRef>));
            let invalidated = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let Role::Leader(guard) = flights.join(&key()) else {
                panic!("the first miss leads")
            };
            let start = generations.start();
            let leader = {
                let (generations, memory) = (generations.clone(), memory.clone());
                // As `Cache::store_fresh` does: insert and publish under the
                // fence.
                loom::thread::spawn(move || {
                    generations.commit(start, [key().as_bytes()], move || {
                        *memory.lock().unwrap() = Some(stored_entry());
                        guard.publish(stored_entry());
                    })
                })
            };
            let invalidation = {
                let (generations, memory) = (generations.clone(), memory.clone());
                let invalidated = invalidated.clone();
                loom::thread::spawn(move || {
                    generations.bump([key().as_bytes()]);
                    *memory.lock().unwrap() = None;
                    invalidated.store(true, Ordering::SeqCst);
                })
            };
            // A request: it reads memory, then joins the flight on a miss.
            let after_invalidation = invalidated.load(Ordering::SeqCst);
            let hit = memory.lock().unwrap().clone();
            let served = match hit {
                Some(entry) => Some(entry),
                None => match flights.join(&key()) {
                    Role::Leader(_) => None,
                    Role::Waiter(mut receiver) => {
                        match ready(receiver.wait_for(|s| !matches!(s, State::Pending)))
                            .map(|s| s.clone())
                        {
                            Ok(State::Stored(entry)) => Some(entry),
                            _ => None,
                        }
                    }
                },
            };
            assert!(
                !(after_invalidation && served.is_some()),
                "a request that began after the invalidation got the entry it removed"
            );
            leader.join().unwrap();
            invalidation.join().unwrap();
        });
    }

    /// The cache dropped while a fill runs: its waiter is released (the
    /// channel closes with the flight map) and the leader's guard, which
    /// holds the flights weakly, drops quietly.
    #[test]
    fn dropping_the_cache_releases_waiters() {
        loom::model(|| {
            let flights = Arc::new(Flights::default());
            let Role::Leader(guard) = flights.join(&key()) else {
                panic!("the first miss leads")
            };
            let Role::Waiter(mut receiver) = flights.join(&key()) else {
                panic!("the second miss waits")
            };
            let leader = loom::thread::spawn(move || guard.publish(stored_entry()));
            let waiter = loom::thread::spawn(move || {
                ready(receiver.wait_for(|state| !matches!(state, State::Pending)))
                    .map(|state| state.clone())
            });
            drop(flights);
            leader.join().unwrap();
            match waiter.join().unwrap() {
                Ok(State::Stored(entry)) => assert!(is_stored_entry(&entry)),
                Ok(State::Pending) => panic!("a waiter ended on a pending flight"),
                Ok(State::Unusable) | Err(_) => {}
            }
        });
    }
}
