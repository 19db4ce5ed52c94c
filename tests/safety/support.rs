//! What the safety tests share: requests through a real axum `Router`, and
//! a remote store whose failures and timing the test controls.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use cached_etag::store::BoxFuture;
use cached_etag::{ETag, Entry, Removed, Store, StoreError};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A response as the tests read it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` through `app`, as axum's server would.
pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A GET of `target` with these headers (and `Host: test` unless given).
pub fn get(target: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(target);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        && target.starts_with('/')
    {
        request = request.header("host", "test");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).expect("request")
}

/// A counter of handler runs.
#[derive(Clone, Default)]
pub struct Runs(Arc<AtomicU64>);

impl Runs {
    pub fn bump(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A remote store in a map, shared like Redis would be. It can be told to
/// fail every call, and to hold each `get` answer back until released.
#[derive(Clone, Default)]
pub struct FakeStore {
    pub entries: Arc<std::sync::Mutex<HashMap<Vec<u8>, Entry>>>,
    pub failing: Arc<AtomicBool>,
    /// When set, `get` reads the entry, then waits for `release`.
    pub hold_gets: Arc<AtomicBool>,
    pub release: Arc<tokio::sync::Notify>,
    pub gets_held: Arc<tokio::sync::Notify>,
    /// When set, `remove_tags` waits for `release_removes` before acting.
    pub hold_removes: Arc<AtomicBool>,
    /// When set, `put` waits for `release_puts` before acting.
    pub hold_puts: Arc<AtomicBool>,
    pub release_puts: Arc<tokio::sync::Notify>,
    pub puts_held: Arc<tokio::sync::Notify>,
    /// How long every `get` and `put` takes (a frozen store: longer than
    /// the cache's store timeout).
    pub delay: Arc<std::sync::Mutex<Duration>>,
    pub release_removes: Arc<tokio::sync::Notify>,
    pub removes_held: Arc<tokio::sync::Notify>,
}

impl FakeStore {
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }

    async fn wait(&self) {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

impl Store for FakeStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            self.wait().await;
            self.check()?;
            let entry = self.entries.lock().unwrap().get(key).cloned();
            if self.hold_gets.load(Ordering::SeqCst) {
                self.gets_held.notify_one();
                self.release.notified().await;
            }
            Ok(entry)
        })
    }

    fn put<'a>(&'a self, key: &'a [u8], entry: &'a Entry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.wait().await;
            if self.hold_puts.load(Ordering::SeqCst) {
                self.puts_held.notify_one();
                self.release_puts.notified().await;
            }
            self.check()?;
            self.entries
                .lock()
                .unwrap()
                .insert(key.to_vec(), entry.clone());
            Ok(())
        })
    }

    fn remove<'a>(
        &'a self,
        key: &'a [u8],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            self.check()?;
            let mut entries = self.entries.lock().unwrap();
            let kept = entries
                .get(key)
                .is_some_and(|e| keep.is_some_and(|k| k.weak_eq(&e.etag)));
            let mut removed = Removed::default();
            if kept {
                removed.skipped = 1;
            } else if entries.remove(key).is_some() {
                removed.removed = 1;
            }
            Ok(removed)
        })
    }

    fn remove_tags<'a>(
        &'a self,
        tags: &'a [&'a str],
        keep: Option<&'a ETag>,
    ) -> BoxFuture<'a, Result<Removed, StoreError>> {
        Box::pin(async move {
            if self.hold_removes.load(Ordering::SeqCst) {
                self.removes_held.notify_one();
                self.release_removes.notified().await;
            }
            self.check()?;
            let mut entries = self.entries.lock().unwrap();
            let mut removed = Removed::default();
            entries.retain(|_, e| {
                let tagged = e.tags.iter().any(|t| tags.contains(&&**t));
                let kept = keep.is_some_and(|k| k.weak_eq(&e.etag));
                if tagged && kept {
                    removed.skipped += 1;
                }
                if tagged && !kept {
                    removed.removed += 1;
                }
                !tagged || kept
            });
            Ok(removed)
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.check()?;
            self.entries.lock().unwrap().clear();
            Ok(())
        })
    }
}

/// Waits until `condition` holds, for at most two seconds.
pub async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}
