//! `#[invalidates("camera:{id}", "cameras:list")]` on a write handler, in
//! the same three stages as `#[cached_etag]`: [`args`] reads the tags and
//! the named arguments, [`model`] checks them against the handler and
//! reports every mistake at once, [`expand`] writes the code.

mod args;
mod expand;
mod model;

pub(crate) use expand::attribute;
