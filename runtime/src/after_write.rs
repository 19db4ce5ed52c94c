//! Invalidation declared on a write: once a write handler's response is
//! made, a 2xx invalidates the tags the write touched, keeping entries that
//! already show the response's `ETag`; any other status invalidates nothing,
//! since a refused or failed write changed nothing. The invalidation is one
//! [`Cache::apply`], so it reaches the remote store (and through it the
//! other instances) and is complete before the response goes out: the
//! writer's next read sees its write.
//!
//! A `202 Accepted` is a 2xx too, but its change happens later (RFC 9110
//! §15.3.3): whatever completes it should apply its own event then.
//!
//! `#[invalidates(...)]` expands to one call of [`invalidate_after_write`];
//! hand-written handlers call it themselves.

use std::future::Future;

use http::Response;
use http::header::ETAG;

use crate::{Cache, ETag, Event, Removed};

/// Invalidates `tags` in `cache` if `response` is a 2xx, with the
/// response's `ETag` (when it carries one that parses) as the version to
/// keep. Returns what was removed, or `None` when the status was not 2xx.
///
/// ```
/// use cached_etag_runtime::{Cache, ETag, invalidate_after_write};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::new();
/// let mut response = http::Response::new(());
/// response.headers_mut().insert("etag", ETag::from_string("7-2").to_header_value());
/// let removed = invalidate_after_write(&cache, ["camera:7", "cameras:list"], &response).await;
/// assert!(removed.is_some());
///
/// *response.status_mut() = http::StatusCode::PRECONDITION_FAILED;
/// assert!(invalidate_after_write(&cache, ["camera:7"], &response).await.is_none());
/// # }
/// ```
///
/// The future borrows neither the cache nor the response (an axum body is
/// not `Sync`), so a handler can hold it across its own awaits.
pub fn invalidate_after_write<B, I, T>(
    cache: &Cache,
    tags: I,
    response: &Response<B>,
) -> impl Future<Output = Option<Removed>> + Send + use<B, I, T>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    let event = written(tags, response);
    let cache = event.is_some().then(|| cache.clone());
    async move {
        let (event, cache) = (event?, cache?);
        let removed = cache.apply(&event).await;
        tracing::debug!(
            ?event,
            removed = removed.removed,
            skipped = removed.skipped,
            "write invalidated"
        );
        Some(removed)
    }
}

/// The event a write's response stands for, if it succeeded.
fn written<B, I, T>(tags: I, response: &Response<B>) -> Option<Event>
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    if !response.status().is_success() {
        return None;
    }
    let event = Event::tags(tags);
    // The handler made this header; reading it back is how its new version
    // reaches the cache without the handler naming it twice. A header that
    // does not parse keeps nothing: every tagged entry goes.
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|value| ETag::parse(value.as_bytes()).ok());
    Some(match etag {
        Some(etag) => event.with_etag(etag),
        None => event,
    })
}

/// The cache an `#[invalidates]` handler invalidates in: the request's
/// `Extension<Cache>`, else [`default_cache`](crate::default_cache), unless
/// the attribute names one. The attribute injects it; not a public API.
#[cfg(feature = "axum")]
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct WriteCache(Option<Cache>);

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for WriteCache {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(WriteCache(parts.extensions.get::<Cache>().cloned()))
    }
}

#[cfg(feature = "axum")]
impl WriteCache {
    /// Uses `cache` instead of the request's or the default one.
    pub fn with_cache(self, cache: impl crate::AsCache) -> Self {
        WriteCache(Some(cache.as_cache()))
    }

    /// Makes the handler's response and invalidates `tags` after a 2xx.
    pub async fn after<I, T>(
        self,
        tags: I,
        output: impl axum::response::IntoResponse,
    ) -> axum::response::Response
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let response = output.into_response();
        let cache = self.0.as_ref().unwrap_or_else(|| crate::default_cache());
        invalidate_after_write(cache, tags, &response).await;
        response
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderValue, StatusCode};

    use super::*;

    fn response(status: u16, etag: Option<&'static str>) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        if let Some(etag) = etag {
            response
                .headers_mut()
                .insert(ETAG, HeaderValue::from_static(etag));
        }
        response
    }

    #[test]
    fn only_a_2xx_invalidates() {
        for status in [200, 201, 204] {
            assert!(written(["a"], &response(status, None)).is_some());
        }
        for status in [304, 400, 404, 412, 428, 500] {
            assert_eq!(written(["a"], &response(status, None)), None);
        }
    }

    #[test]
    fn the_responses_etag_is_the_version_to_keep() {
        let event = written(["a", "b"], &response(200, Some("\"7\""))).unwrap();
        assert_eq!(event.tags, ["a", "b"]);
        assert_eq!(event.etag, Some(ETag::from_string("7").into_strong()));
        let event = written(["a"], &response(200, Some("not a tag"))).unwrap();
        assert_eq!(event.etag, None);
    }
}
