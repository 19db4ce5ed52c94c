//! HTTP caching with ETags for axum handlers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use cached_etag_macros::{Resource, cached_etag};
pub use cached_etag_runtime::*;

#[doc(hidden)]
pub mod __private {
    pub use cached_etag_runtime::__private::*;
}
