//! Event sources: changes made outside this process, as streams of
//! [`Event`](crate::Event)s for [`Cache::listen`](crate::Cache::listen).
//!
//! - `postgres` (feature `postgres`): `LISTEN/NOTIFY` fed by triggers
//!   that name the touched rows' tags and new ETags.
//! - [`poll`]: a version that can only be read (SQLite's
//!   `PRAGMA data_version`), polled, invalidating broadly when it moves.
//!
//! With the Redis store, run a source on one instance only: `listen`
//! applies each change to Redis, whose announcement reaches every
//! instance that `follow`s it, so a source on every instance would do each
//! invalidation once per instance for nothing.

mod poll;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use poll::poll;
