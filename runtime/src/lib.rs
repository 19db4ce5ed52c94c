//! The runtime of [cached-etag](https://docs.rs/cached-etag): everything that runs.
//!
//! - [`etag`]: the [`ETag`] value (RFC 9110 §8.8.3), its comparison functions and
//!   the constructors for the ETag styles.
//! - [`conditional`]: RFC 9110 §13 preconditions (`If-Match`, `If-None-Match`,
//!   `If-Modified-Since`, `If-Unmodified-Since`) parsed and evaluated.
//!
//! Most users depend on the `cached-etag` facade crate and its attribute; this
//! crate is what the attribute calls into, and what hand-written handlers use.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod conditional;
pub mod etag;

pub use conditional::{Outcome, Preconditions};
pub use etag::ETag;
