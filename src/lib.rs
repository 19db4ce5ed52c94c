//! HTTP caching with ETags for [axum] handlers, in one attribute.
//!
//! ```
//! use axum::{Json, Router, extract::Path, routing::get};
//! use cached_etag::{Cache, cached_etag};
//!
//! #[derive(serde::Serialize, cached_etag::Resource)]
//! struct Camera {
//!     id: i64,
//!     name: String,
//!     updated_at: std::time::SystemTime,
//! }
//!
//! // Cached for 5 minutes; ETag `"{id}-{updated_at}"`; invalidated by
//! // `cache.invalidate_tag("camera:7")`; a matching `If-None-Match` gets a
//! // 304 without running the body.
//! #[cached_etag(ttl = "5m", etag = "composite", tags("cameras", "camera:{id}"))]
//! async fn camera(Path(id): Path<i64>) -> Json<Camera> {
//!     Json(Camera { id, name: "Garden".into(), updated_at: std::time::UNIX_EPOCH })
//! }
//!
//! let cache = Cache::new();
//! let app: Router = Router::new()
//!     .route("/cameras/{id}", get(camera))
//!     .layer(axum::Extension(cache.clone()));
//! ```
//!
//! - [`cached_etag`](macro@cached_etag): the attribute and every argument.
//! - [`Cache`]: the engine: bounds, invalidation by key, tag and [`Event`],
//!   [`Stats`]; [`Cache::respond`] and [`CacheRequest`] for handlers written
//!   without the attribute.
//! - [`invalidates`](macro@invalidates) and [`WriteGuard`]: writes, with
//!   `If-Match` (412, or 428 when required) and the tags a 2xx invalidates;
//!   [`invalidate_after_write`] for handlers written without the attribute.
//! - [`ETag`] and [`conditional`]: RFC 9110 entity tags and preconditions,
//!   for your own handlers.
//! - [`MemoryStore`], [`Store`] and, with the `redis` feature, `RedisStore`.
//! - With the `compression` feature, `compression`: the br, zstd and gzip
//!   variants of stored entries, made once and served by `Accept-Encoding`.
//! - [`source`]: changes made outside the service as events: PostgreSQL
//!   `LISTEN/NOTIFY` with the `postgres` feature, a polled version (SQLite's
//!   `PRAGMA data_version`) always.
//! - Seeing what the cache does: [`Cache::stats`] and, per route,
//!   [`Cache::route_stats`]; with the `metrics` feature the same counts,
//!   histograms and gauges through the `metrics` facade (`metrics`
//!   module); with the `utoipa` feature what caching adds to an OpenAPI
//!   document (`openapi` module).
//!
//! [axum]: https://docs.rs/axum
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use cached_etag_macros::{Resource, cached_etag, invalidates};
pub use cached_etag_runtime::*;

#[doc(hidden)]
pub mod __private {
    pub use cached_etag_runtime::__private::*;
}

/// The README's Rust snippets, compiled as doctests so that the quick start
/// keeps working when pasted.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
