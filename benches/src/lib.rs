//! Benchmarks of cached-etag live in `benches/`; this crate has no library code.
