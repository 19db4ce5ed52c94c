//! A future run in its caller's task that finishes in a task of its own if
//! the caller goes away first.
//!
//! A leader's fill serves the key's waiters and stores the entry, so a
//! client that disconnects mid-fill must not cancel it. Spawning every fill
//! would ensure that too, but costs every miss a task, the wake-up of another
//! worker thread and a hop back to the request's task; here the fill runs in
//! place, and a task is spawned only for the rare fill whose caller was
//! dropped before it finished.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Instrument;

/// Runs `future` in place; see the module docs. Its output is the future's,
/// or the payload of a panic in it, as a spawned task's `JoinHandle` gives.
pub(super) struct Detachable<F: Future + Send + 'static>
where
    F::Output: Send,
{
    /// Boxed so that a pinned future can still move into a task of its own.
    future: Option<Pin<Box<F>>>,
    /// The span the future was made in, to run it in if it is detached.
    span: tracing::Span,
}

/// A panic's payload.
pub(super) type Panic = Box<dyn Any + Send>;

impl<F: Future + Send + 'static> Detachable<F>
where
    F::Output: Send,
{
    pub(super) fn new(future: F) -> Self {
        Detachable {
            future: Some(Box::pin(future)),
            span: tracing::Span::current(),
        }
    }
}

impl<F: Future + Send + 'static> Future for Detachable<F>
where
    F::Output: Send,
{
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let future = this
            .future
            .as_mut()
            .expect("a Detachable is not polled after it finished");
        // A panicking fill is caught here, as a task would catch it, so that
        // the caller can answer with a stale entry instead (RFC 5861 §4).
        let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(panic) => Err(panic),
        };
        this.future = None;
        Poll::Ready(output)
    }
}

impl<F: Future + Send + 'static> Drop for Detachable<F>
where
    F::Output: Send,
{
    fn drop(&mut self) {
        // Outside a runtime (it is gone) there is nowhere to finish; the
        // future is dropped, which its guards are made for.
        if let Some(future) = self.future.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(future.instrument(self.span.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_finished_future_gives_its_output_and_spawns_nothing() {
        assert_eq!(Detachable::new(async { 7 }).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_panic_is_caught_and_given_back() {
        let panicked = Detachable::new(async { panic!("fill bug") }).await;
        let payload = panicked.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"fill bug"));
    }

    #[tokio::test]
    async fn a_future_dropped_mid_way_finishes_in_a_task() {
        let finished = Arc::new(AtomicBool::new(false));
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let detachable = {
            let finished = finished.clone();
            Detachable::new(async move {
                wait.await.ok();
                finished.store(true, Ordering::SeqCst);
            })
        };
        let mut detachable = Box::pin(detachable);
        // Started, then its caller goes away.
        let started = std::future::poll_fn(|cx| Poll::Ready(detachable.as_mut().poll(cx))).await;
        assert!(started.is_pending());
        drop(detachable);
        go.send(()).unwrap();
        for _ in 0..100 {
            if finished.load(Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the detached future never finished");
    }
}
