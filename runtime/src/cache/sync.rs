//! The primitives the cache's shared state is made of: parking_lot's locks,
//! std's atomics and tokio's `watch` channel, or, when the models in
//! [`generation`](super::generation), [`flight`](super::flight) and
//! [`puts`](super::puts) are checked (`--cfg cached_etag_loom`), loom's
//! locks and atomics and a `watch` of the same shape built on loom's mutex
//! and condvar, whose every interleaving loom can explore (it cannot see
//! inside tokio). The usual build re-exports the real primitives, so the
//! seam costs the request path nothing.

#[cfg(not(cached_etag_loom))]
pub(super) use parking_lot::Mutex;
#[cfg(not(cached_etag_loom))]
pub(super) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(cached_etag_loom))]
pub(super) use tokio::sync::watch;
/// The fence's lock guards nothing but its own exclusion.
#[cfg(not(cached_etag_loom))]
pub(super) type RwLock = parking_lot::RwLock<()>;
/// A commit's hold on the fence.
#[cfg(not(cached_etag_loom))]
pub(super) type ReadGuard<'a> = parking_lot::RwLockReadGuard<'a, ()>;

#[cfg(cached_etag_loom)]
pub(super) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(cached_etag_loom)]
pub(super) use model::{Mutex, ReadGuard, RwLock, watch};

#[cfg(cached_etag_loom)]
mod model {
    use std::fmt;

    pub(crate) type ReadGuard<'a> = loom::sync::RwLockReadGuard<'a, ()>;

    /// loom's lock with parking_lot's signature (no poisoning), guarding
    /// nothing.
    #[derive(Debug)]
    pub(crate) struct RwLock(loom::sync::RwLock<()>);

    impl RwLock {
        pub(crate) fn new(value: ()) -> Self {
            RwLock(loom::sync::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> ReadGuard<'_> {
            self.0.read().expect("never poisoned")
        }
        pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, ()> {
            self.0.write().expect("never poisoned")
        }
    }

    /// loom's mutex with parking_lot's signature (no poisoning).
    #[derive(Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().expect("never poisoned")
        }
    }

    impl<T> fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Mutex").finish_non_exhaustive()
        }
    }

    /// The part of tokio's `watch` a flight uses, with its semantics: one
    /// sender, a value every receiver can wait on, and receivers released
    /// with an error when the sender is dropped.
    pub(crate) mod watch {
        use std::fmt;
        use std::ops::Deref;

        use loom::sync::{Arc, Condvar, Mutex};

        struct Shared<T> {
            slot: Mutex<Slot<T>>,
            changed: Condvar,
        }

        struct Slot<T> {
            value: T,
            closed: bool,
        }

        /// The sending half; dropping it releases every receiver.
        pub(crate) struct Sender<T>(Arc<Shared<T>>);

        /// A receiving half.
        pub(crate) struct Receiver<T>(Arc<Shared<T>>);

        /// The value a wait ended on (a copy: the model holds no lock
        /// across the caller's code).
        pub(crate) struct Ref<T>(T);

        /// The sender was dropped and the value never matched.
        #[derive(Debug)]
        pub(crate) struct RecvError;

        pub(crate) fn channel<T>(value: T) -> (Sender<T>, Receiver<T>) {
            let shared = Arc::new(Shared {
                slot: Mutex::new(Slot {
                    value,
                    closed: false,
                }),
                changed: Condvar::new(),
            });
            (Sender(shared.clone()), Receiver(shared))
        }

        impl<T> Sender<T> {
            pub(crate) fn subscribe(&self) -> Receiver<T> {
                Receiver(self.0.clone())
            }

            pub(crate) fn send_replace(&self, value: T) -> T {
                let old = std::mem::replace(&mut self.0.slot.lock().unwrap().value, value);
                self.0.changed.notify_all();
                old
            }
        }

        impl<T> Drop for Sender<T> {
            fn drop(&mut self) {
                self.0.slot.lock().unwrap().closed = true;
                self.0.changed.notify_all();
            }
        }

        impl<T: Clone> Receiver<T> {
            /// As tokio's: the current value is checked first, so a value
            /// sent before the sender was dropped is still seen.
            pub(crate) async fn wait_for(
                &mut self,
                mut matches: impl FnMut(&T) -> bool,
            ) -> Result<Ref<T>, RecvError> {
                let mut slot = self.0.slot.lock().unwrap();
                loop {
                    if matches(&slot.value) {
                        return Ok(Ref(slot.value.clone()));
                    }
                    if slot.closed {
                        return Err(RecvError);
                    }
                    slot = self.0.changed.wait(slot).unwrap();
                }
            }
        }

        impl<T> Deref for Ref<T> {
            type Target = T;

            fn deref(&self) -> &T {
                &self.0
            }
        }

        impl<T> fmt::Debug for Sender<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Sender").finish_non_exhaustive()
            }
        }

        impl<T> fmt::Debug for Receiver<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Receiver").finish_non_exhaustive()
            }
        }
    }
}
