//! The circuit breaker in front of every Redis call.
//!
//! A call asks [`Breaker::admit`] first and reports its outcome on the
//! [`Ticket`] it got. While the circuit is closed every call is admitted;
//! `threshold` consecutive failures open it, and for `cool_down` no call is
//! admitted at all, so a Redis that keeps failing costs a request nothing
//! instead of a timeout. Then one call at a time is admitted as a probe: its
//! success closes the circuit, its failure opens it for another cool-down,
//! and a probe dropped unfinished (its caller gave up) lets the next call
//! probe instead, so the circuit never stays stuck half-open.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// The circuit of one store, shared by its clones.
pub(super) struct Breaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<Circuit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Closed { failures: u32 },
    Open { until: Instant },
    Probing,
}

/// Permission for one call; a probe dropped unfinished (its caller gave up)
/// lets the next call probe instead of leaving the circuit stuck.
pub(super) struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

impl Breaker {
    pub(super) fn new(threshold: u32, cool_down: Duration) -> Self {
        Breaker {
            threshold,
            cool_down,
            state: Mutex::new(Circuit::Closed { failures: 0 }),
        }
    }

    /// How long the circuit stays open once it opens.
    pub(super) fn cool_down(&self) -> Duration {
        self.cool_down
    }

    /// A ticket for one call, or `None` while the circuit is open or a
    /// probe is out.
    pub(super) fn admit(&self) -> Option<Ticket<'_>> {
        let mut state = self.state.lock();
        let probe = match *state {
            Circuit::Closed { .. } => false,
            Circuit::Open { until } if Instant::now() >= until => {
                *state = Circuit::Probing;
                true
            }
            Circuit::Open { .. } | Circuit::Probing => return None,
        };
        Some(Ticket {
            breaker: self,
            probe,
            settled: false,
        })
    }
}

impl Ticket<'_> {
    /// Records a success: the circuit closes.
    pub(super) fn succeeded(mut self) {
        self.settled = true;
        let mut state = self.breaker.state.lock();
        if !matches!(*state, Circuit::Closed { failures: 0 }) {
            if !matches!(*state, Circuit::Closed { .. }) {
                tracing::info!("redis answers again; calling it");
            }
            *state = Circuit::Closed { failures: 0 };
        }
    }

    /// Records a failure; true if it opened the circuit.
    pub(super) fn failed(mut self) -> bool {
        self.settled = true;
        let breaker = self.breaker;
        let mut state = breaker.state.lock();
        let open = Circuit::Open {
            until: Instant::now() + breaker.cool_down,
        };
        match *state {
            Circuit::Closed { failures } if failures + 1 >= breaker.threshold => {
                *state = open;
                true
            }
            Circuit::Closed { failures } => {
                *state = Circuit::Closed {
                    failures: failures + 1,
                };
                false
            }
            Circuit::Probing if self.probe => {
                *state = open;
                true
            }
            Circuit::Open { .. } | Circuit::Probing => false,
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            let mut state = self.breaker.state.lock();
            if *state == Circuit::Probing {
                *state = Circuit::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_probes_and_closes() {
        let breaker = Breaker::new(2, Duration::ZERO);
        assert!(!breaker.admit().unwrap().failed());
        assert!(breaker.admit().unwrap().failed(), "second failure opens");
        let probe = breaker.admit().expect("cool-down of zero: probe");
        assert!(breaker.admit().is_none(), "one probe at a time");
        drop(probe);
        let probe = breaker.admit().expect("abandoned probe frees the slot");
        probe.succeeded();
        assert_eq!(*breaker.state.lock(), Circuit::Closed { failures: 0 });
    }

    #[test]
    fn open_circuit_refuses_until_the_cool_down_ends() {
        let breaker = Breaker::new(1, Duration::from_secs(3600));
        assert!(breaker.admit().unwrap().failed());
        assert!(breaker.admit().is_none());
    }
}
