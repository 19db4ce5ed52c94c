//! The `#[cached_etag]` and `#[invalidates]` attributes and
//! `#[derive(Resource)]`. Use them through the `cached-etag` crate, which
//! re-exports them with the runtime they call.
//!
//! The attribute works in three stages: `args` and `handler` read the
//! arguments and the function, `model` checks them together and reports
//! every mistake at once, `expand` writes the code.
//!
//! The arguments are parsed over plain syn (its `Meta` types and parse
//! streams, in `nested`), not darling, for compile cost: darling adds crates
//! that build only for this one and turns on syn's `extra-traits` feature,
//! which slows the build of the syn every proc-macro in a user's tree waits
//! for.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod derive;
mod duration;
mod errors;
mod expand;
mod flag;
mod handler;
mod invalidates;
mod model;
mod nested;
mod template;

use proc_macro::TokenStream;

/// Caches an async axum handler's response server-side and answers
/// conditional requests with `304 Not Modified`.
///
/// ```rust,ignore
/// use cached_etag::cached_etag;
///
/// #[cached_etag(ttl = 300, etag = "composite", tags("images", "image:{id}"))]
/// async fn get_image(Path(id): Path<i64>, State(db): State<Db>) -> Result<Json<Image>, AppError> {
///     Ok(Json(db.image(id).await?))
/// }
/// ```
///
/// The handler stays an ordinary axum handler: route it with
/// `get(get_image)`. On a miss it runs and its response is stored with its
/// ETag; on a hit it does not run; when the client already holds the current
/// version the answer is a 304. Which cache is used: `cache = …` if given,
/// else an `Extension<Cache>` layer on the router, else a process-wide
/// default.
///
/// # The handler
///
/// An `async fn` without `self` and without generic parameters. Its
/// attributes, doc comments, visibility and `where` clause are kept. Put
/// `#[cached_etag]` first, above `#[axum::debug_handler]` or
/// `#[tracing::instrument]`, so that those see the handler as it is routed
/// (`#[tracing::instrument]` then records the injected argument too: add
/// `skip_all` or `skip(__cached_etag)` if you do not want it).
///
/// A return type with `impl Trait` (`-> impl IntoResponse`) works with
/// `etag = "hash"`, the default; the other styles read the typed value and
/// need a named type such as `Json<Image>` or `Result<Json<Image>, E>`.
///
/// # Arguments
///
/// All are optional: a bare `#[cached_etag]` keeps responses 60 seconds with
/// a weak ETag hashed from the body, and sends
/// `Cache-Control: private, max-age=60`.
///
/// | argument | meaning |
/// |---|---|
/// | `ttl = 300` or `ttl = "5m"` | How long the server keeps a response. An integer is seconds; a string is numbers with units `ms`, `s`, `m`, `h`, `d`, largest first (`"1h30m"`, `"250ms"`). Must be more than zero. Default 60 s. |
/// | `stale_while_revalidate = 30` or `= "30s"` | For this long after the ttl, a request is answered at once from the stale response while one background refresh replaces it. A duration as for `ttl`; zero (the default) turns it off. |
/// | `stale_if_error = 600` or `= "10m"` | For this long after the ttl, the stale response is served instead of a failed refresh: a 5xx, a panic, or a wait for another request's refresh that timed out. The failure is not stored. A duration as for `ttl`; zero (the default) turns it off. |
/// | `advertise_stale` | Also send the windows to clients and shared caches, as `stale-while-revalidate=N` and `stale-if-error=N` in `Cache-Control` (whole seconds). Off by default: downstream caches never see this cache's invalidations, so an invalidated response could live on there for the window. Needs one of the two windows; cannot be combined with `cache_control`. |
/// | `etag = "hash"` | SHA-256 of the body. The default; works with any response. |
/// | `etag = "timestamp"` | From the value's update time: the value (inside `Json`, `Result`, a `(StatusCode, _)` tuple…) implements `UpdatedAt`. Also sends `Last-Modified`. |
/// | `etag = "composite"` | `"{id}-{updated_at}"`: the value implements `Identified` and `UpdatedAt`. |
/// | `etag = "collection"` | `"{count}-{latest}"`: the value implements `Collection` (a `Vec` or slice of `UpdatedAt` items does). |
/// | `etag = path::to::function` | Your own `fn(&T) -> ETag`, given the value. |
/// | `strong` | Send strong ETags (`"…"`) instead of weak ones (`W/"…"`): only when the bytes are the identity. |
/// | `tags("images", "image:{id}")` | Invalidation tags. A tag with `{name}` (or `{name:spec}`) is formatted per request from a name the handler's argument patterns bind (`Path(id)`, `Query(Params { page, .. })`…); `{{` and `}}` are literal braces. |
/// | `vary("accept-language")` | Request headers the response depends on: they are part of the cache key and of the `Vary` header. Lower-case header names. |
/// | `shared` | The response does not depend on the user: requests with credential headers (`Authorization`, `Cookie`, or the cache's own list) may share the cache. |
/// | `check = expr` | An async expression over the handler's bound names (`check = db.image_version(id)`) awaited before the body, yielding the current `ETag` (or `Option<ETag>`, or a `Result` of either). A match with the client's `If-None-Match` is a 304 without running the body; a stored entry with another ETag is stale. |
/// | `cache_control = "…"` | The whole `Cache-Control` header. Cannot be combined with `max_age`, `public`, `no_cache`, `immutable` or `advertise_stale`. |
/// | `max_age = 600` or `max_age = "10m"` | `max-age` in whole seconds, instead of the ttl. |
/// | `public` | `Cache-Control: public` instead of `private`. |
/// | `no_cache` | `Cache-Control: no-cache`: clients revalidate every time. Cannot be combined with `immutable`. |
/// | `immutable` | `Cache-Control: immutable`. |
/// | `surrogate_keys` | Send the tags in `Surrogate-Key` and `Cache-Tag` headers for a CDN. |
/// | `cache = expr` | The `Cache` to use, an expression over the handler's bound names or globals (`cache = state.cache.clone()`, `cache = &*CACHE`). |
/// | `crate = path` | Where the `cached-etag` crate is, for crates that re-export it. Default `::cached_etag`. |
///
/// # Compile-time checks
///
/// Every mistake is reported at the token that causes it, all in one build:
/// an unknown argument (with the closest name), a repeated or conflicting
/// argument, a value of the wrong kind, a zero `ttl`, a duration that does not
/// parse, a duration sent to clients that is not whole seconds,
/// `advertise_stale` without a window, an unknown ETag style (with the closest one), a tag template naming
/// something no argument binds, a header name that is not a lower-case token,
/// a function that is not `async`, takes `self` or is generic. The function is
/// still emitted unchanged beside the errors, so routes naming it do not
/// fail too. A style whose trait the returned value lacks is a trait error on
/// the return type that says what to implement.
///
/// # What it expands to
///
/// The handler above becomes the following (`cargo expand` shows the same).
/// The extractor and the locals the expansion adds cannot clash with your
/// names; the user's body is moved unchanged into the future that runs on a
/// miss.
///
/// ```rust,ignore
#[doc = include_str!("../tests/expand/composite_tags.expanded.rs")]
/// ```
#[proc_macro_attribute]
pub fn cached_etag(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(args.into(), item.into()).into()
}

/// Invalidates tags after a write handler's 2xx response, before the
/// response is sent.
///
/// ```rust,ignore
/// use cached_etag::invalidates;
///
/// #[invalidates("camera:{id}", "cameras:list")]
/// async fn put_camera(Path(id): Path<i64>, guard: WriteGuard, ...) -> Result<Response, AppError> {
///     ...
/// }
/// ```
///
/// Each argument is a tag, literal or a template over the names the
/// handler's argument patterns bind, as in `tags(...)` on a read. When the
/// handler's response is a 2xx, the tags are invalidated with the response's
/// `ETag` (if it carries one) as the version to keep, so entries already
/// showing the new version stay; after any other status nothing is
/// invalidated. The invalidation is `Cache::apply`: it reaches the remote
/// store and the other instances, and completes before the response is sent.
///
/// `cache = expr` names the `Cache` (default: the request's
/// `Extension<Cache>`, else the process-wide default), `crate = path` the
/// `cached-etag` crate for re-exporters. Unknown names in templates, empty
/// or non-string tags, no tags at all, and a handler that is not a plain
/// `async fn` are compile errors at the offending token; the function is
/// still emitted beside them.
///
/// # What it expands to
///
/// The tags are formatted before the body runs (the body may move the names
/// they insert); the body moves unchanged into a future whose value the
/// runtime turns into the response, invalidating after a 2xx.
///
/// ```rust,ignore
#[doc = include_str!("../tests/expand/invalidates.expanded.rs")]
/// ```
#[proc_macro_attribute]
pub fn invalidates(args: TokenStream, item: TokenStream) -> TokenStream {
    invalidates::attribute(args.into(), item.into()).into()
}

/// Implements the ETag style traits of a struct from its fields.
///
/// ```rust,ignore
/// use cached_etag::Resource;
///
/// #[derive(Resource)]
/// struct Image {
///     id: i64,                                 // -> Identified
///     updated_at: chrono::DateTime<Utc>,       // -> UpdatedAt
///     path: String,
/// }
///
/// #[derive(Resource)]
/// struct Camera {
///     #[resource(id)]
///     slug: String,
///     #[resource(updated_at)]
///     changed: std::time::SystemTime,
/// }
/// ```
///
/// - `UpdatedAt` from the field marked `#[resource(updated_at)]`, else the
///   field named `updated_at`, whose type implements `Timestamp`
///   (`SystemTime`; `chrono` and `time` date-times with their features).
/// - `Identified` from the field marked `#[resource(id)]`, else the field
///   named `id`, whose type implements `Display`.
///
/// Each trait is implemented only when its field exists; a struct with
/// neither is an error. `#[resource(crate = path)]` on the struct names the
/// `cached-etag` crate for re-exporters. Together they give the `timestamp`
/// and `composite` styles; a `Vec` of such values gives `collection`.
#[proc_macro_derive(Resource, attributes(resource))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    derive::resource(input.into()).into()
}
