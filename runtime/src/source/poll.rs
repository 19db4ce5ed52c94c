//! A version that can be read but not subscribed to, polled: SQLite's
//! `PRAGMA data_version`, a file's modification time, a row counter.
//!
//! The stream reads the version every interval and yields the event
//! whenever it differs from the previous reading, and once at the first
//! reading, since what was cached before the poller started may already be
//! stale. A reading that fails yields the event too: the poller cannot tell
//! what changed, and the next reading that succeeds is compared with the
//! last one that did.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use futures_core::Stream;

use crate::Event;

/// Every `interval`, reads `version`; yields `event` at the first reading,
/// when the reading differs from the one before, and when it fails.
///
/// With SQLite, `PRAGMA data_version` read on one connection held for the
/// purpose changes when any other connection, in this process or another,
/// commits to the file (SQLite documentation, `PRAGMA data_version`); a
/// pool's connections each count on their own, so a pool does not do.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use cached_etag_runtime::{Cache, Event, source};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let version = Arc::new(AtomicU64::new(1));
/// let read = version.clone();
/// let changes = source::poll(
///     Duration::from_millis(10),
///     move || {
///         let v = read.load(Ordering::Relaxed);
///         async move { Ok::<_, std::io::Error>(v) }
///     },
///     Event::tags(["images"]),
/// );
/// let cache = Cache::new();
/// let listener = cache.listen(changes);
/// version.store(2, Ordering::Relaxed); // seen within 10 ms
/// # listener.abort();
/// # }
/// ```
pub fn poll<F, Fut, V, E>(
    interval: Duration,
    version: F,
    event: Event,
) -> impl Stream<Item = Event> + Send + 'static
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, E>> + Send,
    V: PartialEq + Send + 'static,
    E: Display,
{
    let mut ticks = tokio::time::interval(interval);
    // A slow reading delays the next one rather than bunching them up.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let last: Option<V> = None;
    futures_util::stream::unfold(
        (ticks, version, last, event),
        |(mut ticks, mut version, mut last, event)| async move {
            loop {
                ticks.tick().await;
                match version().await {
                    Ok(now) if last.as_ref() == Some(&now) => {}
                    Ok(now) => {
                        last = Some(now);
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the version failed; invalidating");
                        break;
                    }
                }
            }
            Some((event.clone(), (ticks, version, last, event)))
        },
    )
}
