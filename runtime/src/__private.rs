//! What the attribute's expansion names, and nothing else: the runtime items
//! it calls and the std items it uses, so that a user's own `Result`, `Vec`
//! or `Option` cannot change what generated code means. Not a public API.

pub use core::{column, concat, file, line, module_path};
pub use std::fmt::Display;
pub use std::option::Option::{self, None, Some};
pub use std::string::String;
pub use std::sync::{Arc, LazyLock};
pub use std::time::{Duration, SystemTime};
pub use std::vec::Vec;
pub use std::{format, vec};

pub use crate::etag::style::{Collection, Identified, Timestamp, UpdatedAt};
pub use crate::{AsCache, Cache, ETag, IntoCheck, Policy, check};

#[cfg(feature = "axum")]
pub use crate::axum::{
    CacheRequest, Representation, collection, composite, custom, hash, timestamp,
};

/// The response every expanded handler returns.
#[cfg(feature = "axum")]
pub type Response = axum::response::Response;

#[cfg(feature = "axum")]
pub use crate::after_write::WriteCache;
