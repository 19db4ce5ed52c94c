//! The runtime of [cached-etag](https://docs.rs/cached-etag): everything that runs.
//!
//! - [`etag`]: the [`ETag`] value (RFC 9110 §8.8.3), its comparisons and the
//!   constructors for the ETag styles.
//! - [`conditional`]: RFC 9110 §13 preconditions (`If-Match`,
//!   `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`).
//! - [`Policy`]: how one handler is cached.
//! - [`Cache`]: the engine: lookup, single-flight fills, 304s, invalidation
//!   by key, tag and event, stats.
//! - [`store`]: the [`Store`] trait and the bounded [`MemoryStore`].
//! - [`WriteGuard`]: `If-Match` and `If-Unmodified-Since` on writes, with
//!   412 and 428; [`invalidate_after_write`]: the tags a 2xx write touched.
//! - [`source`]: changes made elsewhere as event streams: PostgreSQL
//!   `LISTEN/NOTIFY` (feature `postgres`), polled versions (SQLite).
//! - `compression` (feature `compression`): the gzip, br and zstd
//!   variants of stored entries, made once and served by `Accept-Encoding`.
//! - `axum` (feature, default): the [`CacheRequest`] extractor and the style
//!   functions the attribute calls.
//! - [`Cache::route_stats`]: what the cache did per route; `metrics`
//!   (feature): the same through the `metrics` facade; `openapi` (feature
//!   `utoipa`): the conditional headers and 304/412/428 in an OpenAPI
//!   document.
//!
//! Most users depend on the `cached-etag` facade and its attribute; this
//! crate is what the attribute calls into, and what hand-written handlers use.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod after_write;
#[cfg(feature = "axum")]
mod axum;
mod cache;
mod check;
#[cfg(feature = "compression-core")]
pub mod compression;
pub mod conditional;
pub mod etag;
mod event;
mod guard;
mod key;
#[cfg(feature = "axum")]
mod layer;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "utoipa")]
pub mod openapi;
mod policy;
mod request;
mod response;
pub mod source;
mod stats;
pub mod store;

#[doc(hidden)]
pub mod __private;

#[cfg(feature = "axum")]
pub use crate::axum::{
    CacheRequest, Representation, collection, composite, custom, hash, timestamp,
};
pub use after_write::invalidate_after_write;
pub use cache::{
    AsCache, Cache, CacheBuilder, DEFAULT_COALESCE_TIMEOUT, DEFAULT_CREDENTIAL_HEADERS,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_KEY_BYTES, DEFAULT_STORE_TIMEOUT, default_cache,
};
pub use check::{IntoCheck, check};
pub use conditional::{Outcome, Preconditions};
pub use etag::{Collection, ETag, Identified, Timestamp, UpdatedAt};
pub use event::Event;
pub use guard::{PreconditionError, WriteGuard};
pub use key::{Key, KeyBuilder};
#[cfg(feature = "axum")]
pub use layer::{CacheLayer, CacheService};
pub use policy::{DEFAULT_TTL, Policy, PolicyBuilder, StaleWindows};
pub use request::RequestHead;
pub use response::Fresh;
pub use stats::Stats;
pub use stats::route::RouteStats;
#[cfg(feature = "redis")]
pub use store::redis::RedisStore;
pub use store::{Entry, MemoryStore, Removed, Store, StoreError};
