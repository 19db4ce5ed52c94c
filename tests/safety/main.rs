//! Never the wrong response: one test per way a cache could hand a
//! requester a response it was not made for, or answer a precondition
//! wrongly, each over real axum routing.

mod fence;
mod identity;
mod key;
mod key_props;
mod panics;
mod preconditions;
mod remote;
mod support;
