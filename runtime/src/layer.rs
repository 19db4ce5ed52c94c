//! A tower layer that caches whole routes: ETags, 304s and the server-side
//! store for routes whose handlers know nothing of caching.
//!
//! [`CacheLayer`] runs every GET and HEAD of the routes it wraps through the
//! same engine path as the attribute ([`Cache::respond`]), so both behave
//! identically: the same key rules and per-user bypass, only 200s stored,
//! single flight, fail-open, RFC 9110 preconditions. Other methods pass
//! untouched. The ETag is the one the inner service sent (a handler's own,
//! or `tower_http::services::ServeDir`'s), kept exactly as sent, else a
//! SHA-256 of the body (weak unless the policy is `strong`); a
//! `Last-Modified` it sent is kept and judged. These are the layer's two
//! ETag styles: it sees bytes, not the handler's typed value, so the
//! attribute's timestamp, composite and collection styles are for a handler
//! to apply itself (by setting `ETag`) or through the attribute. With the
//! `compression` feature, its hits are served in the coding the request
//! prefers, as the attribute's are (see the `compression` module). A body
//! is buffered (to hash and store it) when its length is known, from its
//! size hint or a `Content-Length` as `ServeDir`'s file bodies declare, and
//! within the cache's body limit; a longer one, or one of unknown length (a
//! stream), passes through unbuffered and is not stored.
//!
//! Which policy applies is decided per request after routing, by the route's
//! pattern ([`MatchedPath`]), so attach the layer with `Router::route_layer`
//! (or on one route's method router); tags may be templates over the
//! route's path parameters (`"image:{id}"` on `/images/{id}`). Writes to a
//! route can invalidate tags too ([`CacheLayer::invalidate_on_write`]): after
//! a 2xx to any method but GET and HEAD, as `#[invalidates]` does.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use http::header::ETAG;
use http::{Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::{AsCache, Cache, ETag, Fresh, Policy, RequestHead, default_cache};

/// Caches the routes it wraps, on the attribute's engine: GET and HEAD are
/// answered from the store, with 304s and the same key rules, per-user
/// bypass, single flight and fail-open; other methods pass untouched.
///
/// The layer sees the inner service's bytes, not a typed value, so it has
/// two ETag styles: the `ETag` the inner service sent (a handler's own,
/// `ServeDir`'s), kept exactly as sent, else a SHA-256 of the body, weak
/// unless the policy is `strong`. A `Last-Modified` the inner service sent
/// is kept and judged. For a timestamp, composite or collection tag, set
/// `ETag` in the handler, or use the attribute. A body is stored when its
/// length is known (a size hint, or `Content-Length`) and within the
/// cache's body limit; others stream through untouched.
///
/// Three ways to attach it:
///
/// - **A group of routes**, with a policy per route pattern and a default
///   for the others: `Router::route_layer`, below. Routes added after the
///   call, and requests that match no route, are not wrapped.
/// - **One route**: `get(handler).layer(CacheLayer::new(policy))`. The
///   policy is the layer's default, so no pattern needs naming.
/// - **A whole router, its fallback included**: `Router::layer`; for a
///   nested `ServeDir`, for instance.
///
/// A group of routes:
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use cached_etag_runtime::{CacheLayer, Policy};
///
/// let images = Policy::builder("images").ttl(Duration::from_secs(300)).build();
/// let app: Router = Router::new()
///     .route("/images/{id}", get(|| async { "an image" }))
///     .route("/about", get(|| async { "about" }))
///     // `/about` gets the default policy, `/images/{id}` its own with a tag per image.
///     .route_layer(
///         CacheLayer::new(Policy::builder("pages").build())
///             .route("/images/{id}", images, &["images", "image:{id}"]),
///     );
/// ```
///
/// One route, and a router with a nested service:
///
/// ```
/// use axum::{Router, routing::get};
/// use cached_etag_runtime::{CacheLayer, Policy};
///
/// let one: Router = Router::new().route(
///     "/report",
///     get(|| async { "a report" }).layer(CacheLayer::new(Policy::builder("report").build())),
/// );
/// let all: Router = Router::new()
///     .nest_service("/files", get(|| async { "a file" }))
///     .layer(CacheLayer::new(Policy::builder("files").build()));
/// ```
#[derive(Clone, Debug)]
pub struct CacheLayer {
    config: Arc<Config>,
}

#[derive(Debug)]
struct Config {
    cache: Option<Cache>,
    default: Option<Route>,
    routes: HashMap<Box<str>, Route>,
    writes: HashMap<Box<str>, Vec<Template>>,
}

/// What the layer does for one route pattern.
#[derive(Debug, Clone)]
struct Route {
    policy: Arc<Policy>,
    tags: Vec<Template>,
}

/// A tag, literal or with `{name}` holes filled from the path parameters.
#[derive(Debug, Clone)]
struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(Box<str>),
    Param(Box<str>),
}

impl CacheLayer {
    /// A layer that caches every route it wraps under `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        CacheLayer {
            config: Arc::new(Config {
                cache: None,
                default: Some(Route {
                    policy,
                    tags: Vec::new(),
                }),
                routes: HashMap::new(),
                writes: HashMap::new(),
            }),
        }
    }

    /// A layer that caches only the routes given with [`route`](Self::route);
    /// the others pass through untouched.
    pub fn routes_only() -> Self {
        CacheLayer {
            config: Arc::new(Config {
                cache: None,
                default: None,
                routes: HashMap::new(),
                writes: HashMap::new(),
            }),
        }
    }

    /// Uses `cache` (default: the request's `Extension<Cache>`, else
    /// [`default_cache`]).
    #[must_use]
    pub fn cache(mut self, cache: impl AsCache) -> Self {
        self.config_mut().cache = Some(cache.as_cache());
        self
    }

    /// Caches the route whose pattern is `pattern` (as written in
    /// `Router::route`, nest prefixes included) under `policy`, with `tags`
    /// in addition to the policy's own: literal, or templates whose
    /// `{name}` is one of the pattern's path parameters.
    ///
    /// # Panics
    /// If a template names a parameter the pattern does not have, or has an
    /// unclosed `{`: a programming error, caught when the layer is built.
    #[must_use]
    pub fn route(mut self, pattern: &str, policy: Arc<Policy>, tags: &[&str]) -> Self {
        let params = parameters(pattern);
        let tags = tags
            .iter()
            .map(|tag| Template::parse(tag, &params).unwrap_or_else(|why| panic!("{why}")))
            .collect();
        self.config_mut()
            .routes
            .insert(pattern.into(), Route { policy, tags });
        self
    }

    /// After a 2xx response to any method but GET and HEAD on the route
    /// `pattern`, invalidates `tags` (templates over the pattern's path
    /// parameters, as in [`route`](Self::route)), keeping entries that
    /// already show the response's `ETag`; after any other status, nothing.
    /// The invalidation completes before the response is sent, so the
    /// writer's next read sees its write.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use cached_etag_runtime::{CacheLayer, Policy};
    ///
    /// let app: Router = Router::new()
    ///     .route("/cameras/{id}", get(|| async { "camera" }).put(|| async { "saved" }))
    ///     .route_layer(
    ///         CacheLayer::routes_only()
    ///             .route("/cameras/{id}", Policy::builder("camera").build(), &["camera:{id}"])
    ///             .invalidate_on_write("/cameras/{id}", &["camera:{id}", "cameras:list"]),
    ///     );
    /// ```
    ///
    /// # Panics
    /// As [`route`](Self::route), on a template the pattern cannot fill.
    #[must_use]
    pub fn invalidate_on_write(mut self, pattern: &str, tags: &[&str]) -> Self {
        let params = parameters(pattern);
        let tags = tags
            .iter()
            .map(|tag| Template::parse(tag, &params).unwrap_or_else(|why| panic!("{why}")))
            .collect();
        self.config_mut().writes.insert(pattern.into(), tags);
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::get_mut(&mut self.config).expect("a layer is configured before it is cloned")
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`CacheLayer`] wraps around a route.
#[derive(Clone, Debug)]
pub struct CacheService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CacheService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The inner service was made ready for this call: take it, and leave
        // a clone for the next one (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            let cacheable = request.method() == Method::GET || request.method() == Method::HEAD;
            let matched = request.extensions().get::<MatchedPath>();
            if !cacheable {
                let writes = matched.and_then(|path| config.writes.get(path.as_str()));
                let Some(templates) = writes else {
                    let response = inner.call(request).await?;
                    return Ok(response.map(Body::new));
                };
                let (mut parts, body) = request.into_parts();
                let tags = render(templates, &mut parts).await;
                let cache = config.cache_for(&parts);
                let response = inner.call(Request::from_parts(parts, body)).await?;
                crate::invalidate_after_write(&cache, tags, &response).await;
                return Ok(response.map(Body::new));
            }
            let Some(route) = config.route(matched) else {
                let response = inner.call(request).await?;
                return Ok(response.map(Body::new));
            };
            let (mut parts, body) = request.into_parts();
            let tags = render(&route.tags, &mut parts).await;
            let cache = config.cache_for(&parts);
            let (method, uri, headers) = (
                parts.method.clone(),
                crate::request::original_uri(&parts).clone(),
                parts.headers.clone(),
            );
            let fill = async move {
                let Ok(response) = inner.call(Request::from_parts(parts, body)).await;
                fresh(response.map(Body::new))
            };
            let head = RequestHead {
                method: &method,
                uri: &uri,
                headers: &headers,
            };
            Ok(cache.respond(head, &route.policy, tags, None, fill).await)
        })
    }
}

/// The inner service's response, with the ETag it sent kept as sent.
fn fresh(response: Response<Body>) -> Fresh<Body> {
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|value| ETag::try_from(value).ok());
    let fresh = Fresh::new(response);
    match etag {
        Some(etag) => fresh.with_etag_as_sent(etag),
        None => fresh,
    }
}

impl Config {
    /// The layer's cache, else the request's `Extension<Cache>`, else the
    /// default one.
    fn cache_for(&self, parts: &http::request::Parts) -> Cache {
        self.cache
            .clone()
            .or_else(|| parts.extensions.get::<Cache>().cloned())
            .unwrap_or_else(|| default_cache().clone())
    }

    fn route(&self, matched: Option<&MatchedPath>) -> Option<Route> {
        matched
            .and_then(|path| self.routes.get(path.as_str()))
            .or(self.default.as_ref())
            .cloned()
    }
}

/// The tags of `templates` for this request, its path parameters filled in.
async fn render(templates: &[Template], parts: &mut http::request::Parts) -> Vec<String> {
    if templates.is_empty() {
        return Vec::new();
    }
    let params = RawPathParams::from_request_parts(parts, &()).await.ok();
    let value = |name: &str| {
        params
            .as_ref()
            .and_then(|p| p.iter().find(|(n, _)| *n == name).map(|(_, v)| v))
    };
    templates
        .iter()
        .filter_map(|template| template.render(value))
        .collect()
}

impl Template {
    fn parse(tag: &str, params: &[&str]) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = tag;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].into()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("tag template `{tag}` has an unclosed `{{`"))?;
            let name = &rest[open + 1..open + close];
            if !params.contains(&name) {
                return Err(format!(
                    "tag template `{tag}` names `{{{name}}}`, which its route has no path parameter for"
                ));
            }
            pieces.push(Piece::Param(name.into()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.into()));
        }
        Ok(Template { pieces })
    }

    /// The tag, or `None` when a parameter is missing (the route matched
    /// without it): such a request simply lacks that tag.
    fn render<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        let mut tag = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => tag.push_str(text),
                Piece::Param(name) => tag.push_str(value(name)?),
            }
        }
        Some(tag)
    }
}

/// The names of a route pattern's parameters: `{id}` and `{*rest}`.
fn parameters(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| name.trim_start_matches('*'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_path_parameters() {
        let params = parameters("/cameras/{camera}/images/{id}");
        assert_eq!(params, ["camera", "id"]);
        let template = Template::parse("camera:{camera}:image:{id}", &params).unwrap();
        let value = |name: &str| match name {
            "camera" => Some("2"),
            "id" => Some("9"),
            _ => None,
        };
        assert_eq!(template.render(value).unwrap(), "camera:2:image:9");
        assert!(Template::parse("image:{nope}", &params).is_err());
        assert!(Template::parse("image:{id", &params).is_err());
        assert_eq!(parameters("/files/{*path}"), ["path"]);
    }
}
