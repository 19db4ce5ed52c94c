//! What one handler's caching looks like: lifetime, ETag strength, tags, the
//! request headers the response varies on, and the `Cache-Control` it sends.
//!
//! A [`Policy`] is built once per handler (the attribute keeps it in a
//! `static`) and shared by every request, so everything that can be computed
//! ahead of time is: the `Cache-Control` and `Vary` header values, the parsed
//! header names.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::RwLock;

use crate::stats::route::RouteSlot;

/// The lifetime used when a policy does not set one.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// How one handler is cached. Built with [`Policy::builder`].
///
/// ```
/// use std::time::Duration;
/// use cached_etag_runtime::Policy;
///
/// let policy = Policy::builder("images::get")
///     .ttl(Duration::from_secs(300))
///     .tags(&["images"])
///     .vary(&["accept-language"])
///     .build();
/// assert_eq!(policy.cache_control(), "private, max-age=300");
/// assert_eq!(policy.ttl(), Duration::from_secs(300));
/// ```
#[derive(Debug)]
pub struct Policy {
    name: &'static str,
    id: Box<str>,
    ttl: Duration,
    stale: StaleWindows,
    strong: bool,
    shared: bool,
    surrogate_keys: bool,
    tags: Vec<Arc<str>>,
    vary: Vec<HeaderName>,
    vary_value: Option<HeaderValue>,
    cache_control: HeaderValue,
    private_cache_control: HeaderValue,
    learned_vary: LearnedVary,
    replayed: ReplayedHeaders,
    route: RouteSlot,
}

/// The replayed headers of the handler's last stored entry, for the next
/// to share when its own are the same: they usually are (Content-Type,
/// Cache-Control, Vary), and a header map with its buckets is several
/// hundred bytes, more than many bodies.
#[derive(Debug, Default)]
struct ReplayedHeaders(parking_lot::Mutex<Option<Arc<HeaderMap>>>);

/// Request headers that the handler's responses named in their own `Vary`
/// beyond the policy's `vary`: from the first such response on, they are
/// part of every key of the handler (RFC 9111 §4.1: a stored response
/// answers only requests that agree on every header its `Vary` names).
/// The list only grows, so a key made with its first `n` names stays
/// meaningful; the count is read without the lock on the hot path.
#[derive(Debug, Default)]
struct LearnedVary {
    len: AtomicUsize,
    names: RwLock<Vec<HeaderName>>,
}

impl Policy {
    /// Starts a policy for the handler called `name` (the attribute passes
    /// `module_path!()::fn_name`). The name is for stats and logs; the
    /// policy's [`id`](Self::id), the name and its [`site`](PolicyBuilder::site),
    /// is part of every cache key, so two handlers never share entries.
    pub fn builder(name: &'static str) -> PolicyBuilder {
        PolicyBuilder {
            name,
            site: None,
            ttl: DEFAULT_TTL,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            advertise_stale: false,
            strong: false,
            shared: false,
            surrogate_keys: false,
            tags: &[],
            vary: &[],
            cache_control: None,
            max_age: None,
            public: false,
            no_cache: false,
            immutable: false,
        }
    }

    /// The handler's readable name, as given to [`Policy::builder`]: for
    /// stats and logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The handler's identity in cache keys: the name, then `@` and the
    /// [`site`](PolicyBuilder::site) when one was given. Two same-named
    /// functions (associated functions of two `impl` blocks, say) differ
    /// by site.
    ///
    /// ```
    /// use cached_etag_runtime::Policy;
    ///
    /// let policy = Policy::builder("app::get").site("src/app.rs:12:5").build();
    /// assert_eq!(policy.id(), "app::get@src/app.rs:12:5");
    /// assert_eq!(Policy::builder("app::get").build().id(), "app::get");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long a stored response stays fresh in the server-side cache.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long past its ttl a stored response may still be served, and
    /// when (see [`StaleWindows`]).
    pub fn stale(&self) -> StaleWindows {
        self.stale
    }

    /// Whether ETags are sent strong (`"x"`) rather than weak (`W/"x"`).
    pub fn is_strong(&self) -> bool {
        self.strong
    }

    /// Whether the response is declared not to depend on the user, so that
    /// requests carrying credentials (see
    /// [`CacheBuilder::credential_headers`](crate::CacheBuilder::credential_headers))
    /// may share entries.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether responses carry their tags in `Surrogate-Key` and `Cache-Tag`.
    pub fn surrogate_keys(&self) -> bool {
        self.surrogate_keys
    }

    /// The literal tags of every response of this handler.
    pub fn tags(&self) -> &[Arc<str>] {
        &self.tags
    }

    /// The request headers the response varies on; their values are part of
    /// the cache key and their names are sent in `Vary`.
    pub fn vary(&self) -> &[HeaderName] {
        &self.vary
    }

    /// The `Cache-Control` value sent with responses (and their 304s).
    pub fn cache_control(&self) -> &HeaderValue {
        &self.cache_control
    }

    /// The `Vary` value sent with responses, if the policy varies on anything.
    pub fn vary_header(&self) -> Option<&HeaderValue> {
        self.vary_value.as_ref()
    }

    /// `headers` as an entry of this policy keeps them: the copy the last
    /// entry kept when they are equal, else a new one that later entries
    /// may share.
    pub(crate) fn share_headers(&self, headers: HeaderMap) -> Arc<HeaderMap> {
        let mut last = self.replayed.0.lock();
        match &*last {
            Some(shared) if **shared == headers => shared.clone(),
            _ => {
                let shared = Arc::new(headers);
                *last = Some(shared.clone());
                shared
            }
        }
    }

    /// Whether a request carrying the credential header `name` may be
    /// served from and stored into the shared cache: when the policy is
    /// `shared`, or keys on that very header (`vary("authorization")` opens
    /// `Authorization`, never `Cookie`).
    pub(crate) fn opens(&self, name: &HeaderName) -> bool {
        self.shared || self.vary.contains(name)
    }

    /// The `Cache-Control` of a response to a request that carries
    /// credentials, when the policy is not `shared`: never `public`.
    pub(crate) fn private_cache_control(&self) -> &HeaderValue {
        &self.private_cache_control
    }

    /// The counters slot of the first cache that served this policy.
    pub(crate) fn route_slot(&self) -> &RouteSlot {
        &self.route
    }

    /// How many names [`learned_vary`](Self::learned_vary) holds now.
    pub(crate) fn learned_vary_len(&self) -> usize {
        self.learned_vary.len.load(Ordering::Acquire)
    }

    /// Calls `f` with the first `n` learned `Vary` names.
    pub(crate) fn learned_vary<R>(&self, n: usize, f: impl FnOnce(&[HeaderName]) -> R) -> R {
        if n == 0 {
            return f(&[]);
        }
        let names = self.learned_vary.names.read();
        f(&names[..n.min(names.len())])
    }

    /// Whether a key made when `known` names had been learned covers every
    /// header in `names` (a response's own `Vary`); names it does not
    /// cover are learned, so that the next request's key includes them.
    pub(crate) fn covers_vary(&self, names: &[HeaderName], known: usize) -> bool {
        let uncovered = |learned: &[HeaderName]| {
            names
                .iter()
                .filter(|n| !self.vary.contains(n) && !learned.contains(n))
                .count()
        };
        if self.learned_vary(known, uncovered) == 0 {
            return true;
        }
        let mut learned = self.learned_vary.names.write();
        for name in names {
            if !self.vary.contains(name) && !learned.contains(name) {
                learned.push(name.clone());
            }
        }
        self.learned_vary
            .len
            .store(learned.len(), Ordering::Release);
        false
    }
}

/// The `Cache-Control` for a request that carries credentials: `private`
/// in place of `public`, the other directives kept.
fn private_of(cache_control: &HeaderValue) -> HeaderValue {
    let text = cache_control.to_str().unwrap_or_default();
    if text
        .split(',')
        .any(|d| d.trim().eq_ignore_ascii_case("private"))
    {
        return cache_control.clone();
    }
    let rest: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("public"))
        .collect();
    let value = if rest.is_empty() {
        "private".to_owned()
    } else {
        format!("private, {}", rest.join(", "))
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("private"))
}

/// How long past its ttl a stored response may still be served: while one
/// background refresh replaces it, or when the handler fails.
///
/// ```
/// use std::time::Duration;
/// use cached_etag_runtime::Policy;
///
/// let policy = Policy::builder("counts::get")
///     .ttl(Duration::from_secs(60))
///     .stale_while_revalidate(Duration::from_secs(30))
///     .stale_if_error(Duration::from_secs(600))
///     .build();
/// let stale = policy.stale();
/// assert!(stale.serves_while_revalidating(Duration::from_secs(29)));
/// assert!(!stale.serves_while_revalidating(Duration::from_secs(30)));
/// assert!(stale.serves_on_error(Duration::from_secs(599)));
/// assert_eq!(stale.longest(), Duration::from_secs(600));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StaleWindows {
    /// How long after the ttl a response is served while it is refreshed.
    pub while_revalidate: Duration,
    /// How long after the ttl a response is served when its refresh fails.
    pub if_error: Duration,
}

impl StaleWindows {
    /// Whether a response stale for `age` is served at once while it is
    /// refreshed in the background.
    pub fn serves_while_revalidating(&self, age: Duration) -> bool {
        age < self.while_revalidate
    }

    /// Whether a response stale for `age` is served instead of an error.
    pub fn serves_on_error(&self, age: Duration) -> bool {
        age < self.if_error
    }

    /// How long past its ttl a response is kept: the longer window.
    pub fn longest(&self) -> Duration {
        self.while_revalidate.max(self.if_error)
    }
}

/// Builds a [`Policy`]; see [`Policy::builder`]. Each method mirrors one
/// argument of the `#[cached_etag]` attribute.
#[derive(Debug, Clone)]
#[must_use]
pub struct PolicyBuilder {
    name: &'static str,
    site: Option<&'static str>,
    ttl: Duration,
    stale_while_revalidate: Duration,
    stale_if_error: Duration,
    advertise_stale: bool,
    strong: bool,
    shared: bool,
    surrogate_keys: bool,
    tags: &'static [&'static str],
    vary: &'static [&'static str],
    cache_control: Option<&'static str>,
    max_age: Option<Duration>,
    public: bool,
    no_cache: bool,
    immutable: bool,
}

impl PolicyBuilder {
    /// Where the handler is defined (the attribute passes
    /// `file:line:column` of the annotated function), so that the key of
    /// every annotated item is unique even where names repeat.
    pub fn site(mut self, site: &'static str) -> Self {
        self.site = Some(site);
        self
    }

    /// How long a stored response stays fresh (default 60 s). Also the
    /// `max-age` sent to clients unless [`max_age`](Self::max_age) says otherwise.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// For how long after the ttl a stored response is still served, at
    /// once, while one background refresh replaces it (RFC 5861 §3's
    /// `stale-while-revalidate`, applied by the server-side cache). Default
    /// zero: an expired response is a miss.
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = window;
        self
    }

    /// For how long after the ttl a stored response is served instead of
    /// an error when the handler that would replace it fails: a 5xx, a
    /// panic, or a wait for another request's fill that timed out (RFC 5861
    /// §4's `stale-if-error`). The error is not stored. Default zero.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Also tells clients and shared caches about the stale windows, with
    /// `stale-while-revalidate=N` and `stale-if-error=N` in `Cache-Control`.
    /// Off by default: a downstream cache that serves stale is one this
    /// cache's invalidations never reach, so an invalidated response could
    /// live on there for the window.
    pub fn advertise_stale(mut self) -> Self {
        self.advertise_stale = true;
        self
    }

    /// Sends strong ETags. Use it only where the bytes are the identity:
    /// compression layers and proxies that rewrite bodies break strong tags.
    pub fn strong(mut self) -> Self {
        self.strong = true;
        self
    }

    /// Declares that the response does not depend on who asks, so requests
    /// carrying credential headers (`Authorization`, `Cookie`, or the
    /// cache's own list) are served from and stored into the shared cache.
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Sends the response's tags in `Surrogate-Key` (Fastly) and `Cache-Tag`
    /// (Cloudflare) so a CDN can purge by the same tags.
    pub fn surrogate_keys(mut self) -> Self {
        self.surrogate_keys = true;
        self
    }

    /// Literal tags of every response.
    pub fn tags(mut self, tags: &'static [&'static str]) -> Self {
        self.tags = tags;
        self
    }

    /// Request headers the response varies on (lower-case names).
    ///
    /// # Panics
    /// If a name is not a valid lower-case header name; the attribute checks
    /// this at compile time.
    pub fn vary(mut self, names: &'static [&'static str]) -> Self {
        self.vary = names;
        self
    }

    /// The whole `Cache-Control` value, replacing the default.
    pub fn cache_control(mut self, value: &'static str) -> Self {
        self.cache_control = Some(value);
        self
    }

    /// The `max-age` sent to clients, when it differs from the server-side ttl.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// `public` instead of `private`: shared caches (CDNs) may store it.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Adds `no-cache`: clients must revalidate before each use (a 304 is cheap).
    pub fn no_cache(mut self) -> Self {
        self.no_cache = true;
        self
    }

    /// Adds `immutable`: the representation never changes at this URL.
    pub fn immutable(mut self) -> Self {
        self.immutable = true;
        self
    }

    /// Finishes the policy.
    ///
    /// # Panics
    /// On an invalid `vary` name or `cache_control` value; the attribute
    /// rejects both at compile time.
    pub fn build(self) -> Arc<Policy> {
        let vary: Vec<HeaderName> = self
            .vary
            .iter()
            .map(|name| HeaderName::from_static(name))
            .collect();
        let vary_value = (!vary.is_empty()).then(|| {
            let joined = vary
                .iter()
                .map(HeaderName::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            HeaderValue::from_str(&joined).expect("header names are valid header values")
        });
        let cache_control = match self.cache_control {
            Some(value) => HeaderValue::from_static(value),
            None => {
                let mut parts = vec![if self.public { "public" } else { "private" }.to_owned()];
                if self.no_cache {
                    parts.push("no-cache".to_owned());
                }
                let max_age = self.max_age.unwrap_or(self.ttl).as_secs();
                parts.push(format!("max-age={max_age}"));
                if self.immutable {
                    parts.push("immutable".to_owned());
                }
                if self.advertise_stale {
                    // RFC 5861 §3 and §4, in whole seconds like max-age.
                    for (directive, window) in [
                        ("stale-while-revalidate", self.stale_while_revalidate),
                        ("stale-if-error", self.stale_if_error),
                    ] {
                        if !window.is_zero() {
                            parts.push(format!("{directive}={}", window.as_secs()));
                        }
                    }
                }
                HeaderValue::from_str(&parts.join(", ")).expect("directives are ASCII")
            }
        };
        let id = match self.site {
            Some(site) => format!("{}@{site}", self.name).into_boxed_str(),
            None => self.name.into(),
        };
        Arc::new(Policy {
            name: self.name,
            id,
            ttl: self.ttl,
            stale: StaleWindows {
                while_revalidate: self.stale_while_revalidate,
                if_error: self.stale_if_error,
            },
            strong: self.strong,
            shared: self.shared,
            surrogate_keys: self.surrogate_keys,
            tags: self.tags.iter().map(|t| Arc::from(*t)).collect(),
            vary,
            vary_value,
            private_cache_control: private_of(&cache_control),
            cache_control,
            learned_vary: LearnedVary::default(),
            replayed: ReplayedHeaders::default(),
            route: RouteSlot::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cache_control_is_private_with_ttl() {
        let p = Policy::builder("h").build();
        assert_eq!(p.cache_control(), "private, max-age=60");
        assert!(!p.is_strong());
    }

    #[test]
    fn stale_windows_reach_clients_only_when_advertised() {
        let quiet = Policy::builder("q")
            .ttl(Duration::from_secs(60))
            .stale_while_revalidate(Duration::from_secs(30))
            .stale_if_error(Duration::from_secs(600))
            .build();
        assert_eq!(quiet.cache_control(), "private, max-age=60");
        let told = Policy::builder("t")
            .ttl(Duration::from_secs(60))
            .stale_while_revalidate(Duration::from_secs(30))
            .stale_if_error(Duration::from_secs(600))
            .advertise_stale()
            .build();
        assert_eq!(
            told.cache_control(),
            "private, max-age=60, stale-while-revalidate=30, stale-if-error=600"
        );
        let one = Policy::builder("o")
            .stale_if_error(Duration::from_secs(5))
            .advertise_stale()
            .build();
        assert_eq!(one.cache_control(), "private, max-age=60, stale-if-error=5");
    }

    #[test]
    fn directives_compose() {
        let p = Policy::builder("h")
            .ttl(Duration::from_secs(10))
            .max_age(Duration::from_secs(3600))
            .public()
            .immutable()
            .build();
        assert_eq!(p.cache_control(), "public, max-age=3600, immutable");
        let p = Policy::builder("h").no_cache().build();
        assert_eq!(p.cache_control(), "private, no-cache, max-age=60");
        let p = Policy::builder("h").cache_control("no-store").build();
        assert_eq!(p.cache_control(), "no-store");
    }

    #[test]
    fn vary_header_lists_names() {
        let p = Policy::builder("h")
            .vary(&["accept-language", "accept"])
            .build();
        assert_eq!(p.vary_header().unwrap(), "accept-language, accept");
        assert!(!p.opens(&http::header::AUTHORIZATION));
        let p = Policy::builder("h").vary(&["authorization"]).build();
        assert!(p.opens(&http::header::AUTHORIZATION));
        assert!(!p.opens(&http::header::COOKIE));
        assert!(
            Policy::builder("h")
                .shared()
                .build()
                .opens(&http::header::COOKIE)
        );
    }

    #[test]
    fn credentials_never_get_public() {
        let p = Policy::builder("h").public().build();
        assert_eq!(p.private_cache_control(), "private, max-age=60");
        let p = Policy::builder("h").build();
        assert_eq!(p.private_cache_control(), "private, max-age=60");
    }
}
