//! The event bus: how changes reach a cache.
//!
//! Three entry points cover every use. [`Cache::apply`] applies one change
//! made in this process, here and in the remote store, whose announcement
//! reaches the other instances. [`Cache::listen`] does the same for every
//! change of a stream (database notifications, a message queue). And
//! [`Cache::follow`] mirrors what other instances already applied to the
//! shared store and announced (the Redis store's
//! [`announcements`](crate::RedisStore::announcements)), into this
//! instance's memory only, so that the store does not do the work twice.
//! [`Event`] itself is plain data, which stores may name.

use super::{Cache, Invalidation};
use crate::{Event, Removed};

impl Cache {
    /// Applies one change: its key and tags are invalidated here and in the
    /// remote store, keeping entries whose ETag equals the event's. When it
    /// returns, this cache no longer serves what the event invalidated
    /// (read-your-writes for the writer's next request).
    ///
    /// ```
    /// use cached_etag_runtime::{Cache, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let removed = cache.apply(&Event::tags(["camera:2"])).await;
    /// assert!(removed.is_complete());
    /// # }
    /// ```
    pub async fn apply(&self, event: &Event) -> Removed {
        let mut removed = Removed::default();
        for invalidation in invalidations(event) {
            removed += self.invalidate_everywhere(invalidation).await;
        }
        if self.inner.applied.receiver_count() > 0 {
            // A receiver gone since the count is not an error: nobody needed
            // to hear it.
            let _ = self.inner.applied.send(event.clone());
        }
        removed
    }

    /// Applies every change of `changes`, as [`apply`](Self::apply) does,
    /// in a task of its own, until the stream ends. Drive it from a
    /// database notification, a message queue or a channel.
    ///
    /// ```
    /// use cached_etag_runtime::{Cache, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::new();
    /// let changes = futures_util::stream::iter([Event::tags(["camera:2"])]);
    /// cache.listen(changes).await.unwrap();
    /// # }
    /// ```
    pub fn listen<S>(&self, changes: S) -> tokio::task::JoinHandle<()>
    where
        S: futures_core::Stream<Item = Event> + Send + 'static,
    {
        self.spawn_listener(changes, Scope::Everywhere)
    }

    /// Mirrors every announcement of `announcements` into this cache's
    /// memory, in a task of its own: for changes another instance already
    /// applied to the shared store, which only this instance's copies still
    /// hold.
    pub fn follow<S>(&self, announcements: S) -> tokio::task::JoinHandle<()>
    where
        S: futures_core::Stream<Item = Event> + Send + 'static,
    {
        self.spawn_listener(announcements, Scope::Memory)
    }

    /// Applies an announced change to memory only.
    fn mirror(&self, event: &Event) -> Removed {
        let mut removed = Removed::default();
        for invalidation in invalidations(event) {
            removed += self.invalidate_locally(&invalidation);
        }
        self.count(removed)
    }

    fn spawn_listener<S>(&self, events: S, scope: Scope) -> tokio::task::JoinHandle<()>
    where
        S: futures_core::Stream<Item = Event> + Send + 'static,
    {
        use futures_util::StreamExt;
        let cache = self.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                let removed = match scope {
                    Scope::Everywhere => cache.apply(&event).await,
                    Scope::Memory => cache.mirror(&event),
                };
                tracing::debug!(
                    ?event,
                    removed = removed.removed,
                    skipped = removed.skipped,
                    "event applied"
                );
            }
        })
    }
}

/// Where a listener applies what it hears.
#[derive(Clone, Copy)]
enum Scope {
    /// Here and in the remote store: a change nobody applied yet.
    Everywhere,
    /// Memory only: the shared store already holds the change.
    Memory,
}

/// What an event invalidates, in the order it is applied.
fn invalidations(event: &Event) -> impl Iterator<Item = Invalidation> + '_ {
    let keep = event.etag.as_ref();
    let key = event.key.as_ref().map(|key| Invalidation::Key {
        key: key.clone(),
        keep: keep.cloned(),
        soft: event.soft,
    });
    let tags = (!event.tags.is_empty()).then(|| Invalidation::Tags {
        tags: event.tags.iter().map(|t| t.as_str().into()).collect(),
        keep: keep.cloned(),
        soft: event.soft,
    });
    let clear = event.clear.then_some(Invalidation::Clear);
    key.into_iter().chain(tags).chain(clear)
}
