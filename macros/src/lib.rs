//! The `#[cached_etag]` attribute and `#[derive(Resource)]`. Use them through
//! the `cached-etag` crate, which re-exports them with the runtime they call.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod duration;
mod expand;
mod handler;
mod model;
mod template;

use proc_macro::TokenStream;

/// Caches an async axum handler's response and answers conditional requests.
#[proc_macro_attribute]
pub fn cached_etag(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(args.into(), item.into()).into()
}
