//! Single-flight: concurrent misses on one key run the handler once.
//!
//! The first miss becomes the leader and registers a flight; later misses
//! subscribe to it and wait (bounded) for its outcome. The leader's fill runs
//! in its own task holding a [`LeaderGuard`]; whatever way that task ends
//! (stored, not storable, panicked), dropping the leader publishes the
//! outcome and unregisters the flight, so no waiter can hang and no key can
//! stay stuck.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::watch;

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
    map: Mutex<HashMap<Key, watch::Sender<State>>>,
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
    pub(crate) fn stored(&mut self, entry: EntryRef) {
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

#[cfg(test)]
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
