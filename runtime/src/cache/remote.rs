//! Calls to the remote store, which fail open.
//!
//! A remote store is a network away: every call runs under the cache's store
//! timeout, and an error or a timeout is counted, logged and turned into
//! `None`, so that the request runs its handler instead of failing. A store
//! is a cache, never a source of truth.

use std::future::Future;

use super::Cache;
use crate::stats::Counters;
use crate::store::StoreError;

impl Cache {
    /// Runs one remote store call under the timeout; errors are counted,
    /// logged, and become `None` so that the request runs its handler.
    pub(super) async fn remote_call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Option<T> {
        let result = match tokio::time::timeout(self.inner.store_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(self.inner.store_timeout)),
        };
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                Counters::bump(&self.inner.counters.store_errors);
                tracing::warn!(%error, op, "cache store call failed; serving without it");
                None
            }
        }
    }
}
