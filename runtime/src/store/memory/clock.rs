//! The clock a [`MemoryStore`](super::MemoryStore) judges expiry by.
//!
//! Every hit reads it, so it must be cheap: `Instant::now` is a
//! `clock_gettime(CLOCK_MONOTONIC)` that some VMs serve by a system call,
//! while `CLOCK_MONOTONIC_COARSE` (through the `coarsetime` crate) is read
//! from the vDSO's data page everywhere, in a few nanoseconds, at the
//! kernel tick's resolution (1-4 ms): an entry may outlive its TTL by a
//! tick, which no TTL in seconds notices.
//!
//! Tests that pause tokio's clock need expiry to follow it, and only
//! tokio's own `Instant::now` knows the paused time. A paused clock exists
//! only on a current-thread runtime (`tokio::time::pause` panics
//! elsewhere), so a store made on one reads tokio's clock, and any other
//! (a multi-threaded server, or no runtime at all) the coarse one.

use std::time::Duration;

/// Nanoseconds since a year before the clock was made: an entry read back
/// from a remote store can have stopped being fresh before this store
/// existed, and its deadline is still a plain number.
#[derive(Debug, Clone, Copy)]
pub(super) enum Clock {
    /// tokio's, which a paused test clock moves.
    Tokio(tokio::time::Instant),
    /// The kernel's coarse monotonic clock.
    Coarse(coarsetime::Instant),
}

impl Clock {
    /// tokio's clock on a current-thread runtime, the coarse one elsewhere.
    pub(super) fn for_this_runtime() -> Clock {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::CurrentThread) => Clock::Tokio(tokio::time::Instant::now()),
            _ => Clock::Coarse(coarsetime::Instant::now()),
        }
    }

    /// The time now, in nanoseconds since a year before the clock was made.
    pub(super) fn now(&self) -> u64 {
        let since_made = match self {
            Clock::Tokio(start) => saturating_nanos(start.elapsed()),
            Clock::Coarse(start) => coarsetime::Instant::now().duration_since(*start).as_nanos(),
        };
        since_made.saturating_add(ORIGIN)
    }

    /// Whether this is tokio's clock.
    #[cfg(test)]
    pub(super) fn is_tokio(&self) -> bool {
        matches!(self, Clock::Tokio(_))
    }
}

/// Where a clock starts: a year, in nanoseconds.
const ORIGIN: u64 = 365 * 24 * 3600 * 1_000_000_000;

/// `d` in nanoseconds, saturating (584 years).
fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The longest an entry is kept when its TTL is too large for the clock.
const MAX_LIFE: Duration = Duration::from_secs(365 * 24 * 3600);

/// A lifetime in nanoseconds on the clock, held to a year: lifetimes can
/// come from outside data (a remote store).
pub(super) fn nanos(d: Duration) -> u64 {
    saturating_nanos(d.min(MAX_LIFE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_current_thread_runtime_gets_tokios_clock_which_pausing_moves() {
        let clock = Clock::for_this_runtime();
        assert!(clock.is_tokio());
        let before = clock.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(clock.now() - before, 5_000_000_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_multi_threaded_runtime_gets_the_coarse_clock() {
        assert!(!Clock::for_this_runtime().is_tokio());
    }

    #[test]
    fn no_runtime_gets_the_coarse_clock_which_moves() {
        let clock = Clock::for_this_runtime();
        assert!(!clock.is_tokio());
        let before = clock.now();
        std::thread::sleep(Duration::from_millis(30));
        // At least the sleep less one kernel tick of resolution.
        assert!(clock.now() - before >= 20_000_000);
    }
}
