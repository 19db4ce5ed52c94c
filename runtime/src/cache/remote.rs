//! Calls to the remote store, which fail open.
//!
//! A remote store is a network away: an error or a timeout is counted,
//! logged and turned into `None`, so that the request runs its handler
//! instead of failing. A store is a cache, never a source of truth. One
//! request's calls share one store timeout (its [`StoreBudget`]): a frozen
//! store costs a miss the lookup's timeout, and the put after the handler
//! gets what is left, none, instead of a second timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::Cache;
use crate::stats::Counters;
use crate::stats::route::RouteCounters;
use crate::store::StoreError;

/// What is left of one request's time with the remote store, and the
/// route its failures are counted under.
#[derive(Debug)]
pub(super) struct StoreBudget {
    left: Duration,
    pub(super) route: Option<Arc<RouteCounters>>,
}

impl Cache {
    /// A request's budget: one store timeout for all its remote calls.
    pub(super) fn store_budget(&self) -> StoreBudget {
        StoreBudget {
            left: self.inner.store_timeout,
            route: None,
        }
    }

    /// Runs one remote store call under the timeout; errors are counted,
    /// logged, and become `None` so that the request runs its handler.
    pub(super) async fn remote_call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Option<T> {
        self.remote_call_within(op, call, &mut self.store_budget())
            .await
    }

    /// Runs one remote store call in what is left of `budget`, and takes
    /// the time it took from it; with nothing left the call is not made.
    pub(super) async fn remote_call_within<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
        budget: &mut StoreBudget,
    ) -> Option<T> {
        if budget.left.is_zero() {
            budget.failed(&self.inner.counters);
            tracing::debug!(op, "the request's store time is spent; call skipped");
            return None;
        }
        let (started, limit) = (tokio::time::Instant::now(), budget.left);
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(limit)),
        };
        budget.left = budget.left.saturating_sub(started.elapsed());
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                budget.failed(&self.inner.counters);
                tracing::warn!(%error, op, "cache store call failed; serving without it");
                None
            }
        }
    }
}

impl StoreBudget {
    /// Counts a failed call: the cache's total and the request's route.
    fn failed(&self, counters: &Counters) {
        Counters::bump(&counters.store_errors);
        if let Some(route) = &self.route {
            route.store_error();
        }
    }
}
