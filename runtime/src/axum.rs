//! axum glue: the extractor the attribute injects, and the traits that reach
//! a handler's typed value through axum's wrappers (`Json`, `Result`,
//! tuples). All axum code lives here; the engine speaks `http` types, and
//! what any adapter shares (the default cache, [`AsCache`], [`IntoCheck`])
//! lives beside the engine, so that another framework's adapter is one file
//! like this one.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::etag::style::{self, Collection, Identified, UpdatedAt};
use crate::{AsCache, Cache, ETag, Fresh, Policy, RequestHead, default_cache};

/// The request, as the cache needs it, and the [`Cache`] to use: the one an
/// `Extension<Cache>` layer put in the request, else [`default_cache`].
///
/// The attribute injects this extractor; hand-written handlers take it as an
/// argument and call [`respond`](Self::respond).
///
/// ```
/// use std::sync::{Arc, LazyLock};
/// use axum::{Json, Router, routing::get, response::Response};
/// use cached_etag_runtime::{CacheRequest, Fresh, Policy};
///
/// static POLICY: LazyLock<Arc<Policy>> =
///     LazyLock::new(|| Policy::builder("hello").tags(&["greetings"]).build());
///
/// async fn hello(request: CacheRequest) -> Response {
///     request
///         .respond(&POLICY, Vec::new(), None, async {
///             cached_etag_runtime::hash(Json("hello"))
///         })
///         .await
/// }
///
/// let app: Router = Router::new().route("/hello", get(hello));
/// ```
#[derive(Debug, Clone)]
pub struct CacheRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    cache: Option<Cache>,
}

impl<S: Send + Sync> FromRequestParts<S> for CacheRequest {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CacheRequest {
            method: parts.method.clone(),
            // The key is built from the path the client sent, not the one
            // a nesting router left for this handler.
            uri: crate::request::original_uri(parts).clone(),
            headers: parts.headers.clone(),
            cache: parts.extensions.get::<Cache>().cloned(),
        })
    }
}

impl CacheRequest {
    /// Uses `cache` instead of the request's or the default one.
    pub fn with_cache(mut self, cache: impl AsCache) -> Self {
        self.cache = Some(cache.as_cache());
        self
    }

    /// The cache this request will use.
    pub fn cache(&self) -> &Cache {
        self.cache.as_ref().unwrap_or_else(|| default_cache())
    }

    /// Answers the request through the cache; see [`Cache::respond`].
    pub async fn respond<F>(
        self,
        policy: &Arc<Policy>,
        tags: Vec<String>,
        check: Option<ETag>,
        fill: F,
    ) -> Response
    where
        F: Future<Output = Fresh<Body>> + Send + 'static,
    {
        let head = RequestHead {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
        };
        self.cache().respond(head, policy, tags, check, fill).await
    }

    /// Answers the request through the cache, making the tags and the fill
    /// only on a miss; see [`Cache::respond_with`].
    pub async fn respond_with<M, F>(
        self,
        policy: &Arc<Policy>,
        check: Option<ETag>,
        make: M,
    ) -> Response
    where
        M: FnOnce() -> (Vec<String>, F) + Send,
        F: Future<Output = Fresh<Body>> + Send + 'static,
    {
        let head = RequestHead {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
        };
        self.cache().respond_with(head, policy, check, make).await
    }
}

/// A handler's output whose typed value an ETag style can read: `Json<T>`,
/// and `Result`s and tuples around it.
#[diagnostic::on_unimplemented(
    message = "this ETag style needs a typed value, which `{Self}` does not expose",
    label = "the return type must expose the value the ETag is computed from",
    note = "return `Json<T>`, `Result<Json<T>, E>` or `(StatusCode, Json<T>)`, implement `cached_etag::Representation`, or use `etag = \"hash\"`"
)]
pub trait Representation: IntoResponse {
    /// The value.
    type Value: ?Sized;

    /// The value, when the output carries one (an `Err` does not).
    fn value(&self) -> Option<&Self::Value>;
}

impl<T> Representation for Json<T>
where
    Json<T>: IntoResponse,
{
    type Value = T;

    fn value(&self) -> Option<&T> {
        Some(&self.0)
    }
}

impl<R: Representation, E: IntoResponse> Representation for Result<R, E> {
    type Value = R::Value;

    fn value(&self) -> Option<&R::Value> {
        self.as_ref().ok()?.value()
    }
}

impl<R: Representation> Representation for (StatusCode, R) {
    type Value = R::Value;

    fn value(&self) -> Option<&R::Value> {
        self.1.value()
    }
}

impl<R: Representation> Representation for (HeaderMap, R) {
    type Value = R::Value;

    fn value(&self) -> Option<&R::Value> {
        self.1.value()
    }
}

impl<R: Representation> Representation for (StatusCode, HeaderMap, R) {
    type Value = R::Value;

    fn value(&self) -> Option<&R::Value> {
        self.2.value()
    }
}

fn fresh<R: Representation>(
    output: R,
    validators: impl FnOnce(&R::Value) -> (ETag, Option<std::time::SystemTime>),
) -> Fresh<Body> {
    let validators = output.value().map(validators);
    let fresh = Fresh::new(output.into_response());
    match validators {
        Some(v) => fresh.with_validators(v),
        None => fresh,
    }
}

/// The `hash` style: the ETag is a SHA-256 of the body, computed once when
/// the response is stored.
pub fn hash<R: IntoResponse>(output: R) -> Fresh<Body> {
    Fresh::new(output.into_response())
}

/// The `timestamp` style: the ETag and `Last-Modified` come from the value's
/// [`UpdatedAt`].
pub fn timestamp<R>(output: R) -> Fresh<Body>
where
    R: Representation,
    R::Value: UpdatedAt,
{
    fresh(output, style::timestamp_of)
}

/// The `composite` style: `"{id}-{updated_at}"` from [`Identified`] and [`UpdatedAt`].
pub fn composite<R>(output: R) -> Fresh<Body>
where
    R: Representation,
    R::Value: Identified + UpdatedAt,
{
    fresh(output, style::composite_of)
}

/// The `collection` style: the count and latest change of a [`Collection`].
pub fn collection<R>(output: R) -> Fresh<Body>
where
    R: Representation,
    R::Value: Collection,
{
    fresh(output, style::collection_of)
}

/// A custom style: `etag` computes the ETag from the value.
pub fn custom<R, F>(output: R, etag: F) -> Fresh<Body>
where
    R: Representation,
    F: FnOnce(&R::Value) -> ETag,
{
    fresh(output, |value| (etag(value), None))
}

/// An [`ETag`] in a response tuple sets the `ETag` header: a write handler
/// answers `(etag, Json(updated))` with the version the next read shows,
/// which `#[invalidates]` then keeps.
///
/// ```
/// use axum::{Json, response::IntoResponse};
/// use cached_etag_runtime::ETag;
///
/// let response = (ETag::from_string("7-2").into_strong(), Json("updated")).into_response();
/// assert_eq!(response.headers()["etag"], "\"7-2\"");
/// ```
impl axum::response::IntoResponseParts for ETag {
    type Error = Infallible;

    fn into_response_parts(
        self,
        mut parts: axum::response::ResponseParts,
    ) -> Result<axum::response::ResponseParts, Self::Error> {
        parts
            .headers_mut()
            .insert(http::header::ETAG, self.to_header_value());
        Ok(parts)
    }
}
