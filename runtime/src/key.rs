//! Cache keys: which stored response answers which request.
//!
//! A key is the handler's identity (unique per annotated item), the method
//! (HEAD shares GET's entry), the authority, the original path (before any
//! router stripped a prefix), the raw query, and the values of every header
//! the policy's `vary` names and the handler's responses named in their own
//! `Vary`. Every part is length-prefixed, so no two different requests can
//! produce the same bytes: `("ab", "c")` and `("a", "bc")` differ.
//!
//! Not in the key, so never a reason for two entries: request
//! `Cache-Control`, `X-Forwarded-Host`, `Forwarded`, and every header that
//! is not varied on (`Accept-Encoding` among them).

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, Method};

use crate::{Policy, RequestHead};

/// The bytes that identify one stored response.
///
/// ```
/// use cached_etag_runtime::Key;
///
/// let a = Key::builder("h").part("ab").part("c").finish();
/// let b = Key::builder("h").part("a").part("bc").finish();
/// assert_ne!(a, b);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(Arc<[u8]>);

impl Key {
    /// Starts a key for the handler called `handler`.
    pub fn builder(handler: &str) -> KeyBuilder {
        let mut bytes = Vec::with_capacity(handler.len() + 96);
        push_part(&mut bytes, handler.as_bytes());
        KeyBuilder(bytes)
    }

    /// The key of a `GET` (or `HEAD`) request to `path_and_query` on `host`
    /// (the authority, port included), for the handler whose policy has the
    /// [`id`](Policy::id) `handler` and varies on nothing: what the engine
    /// computes for such a request, so that hand-written code can name the
    /// entry to invalidate. `path_and_query` is the path the client sent,
    /// with any prefix a nesting router strips.
    /// ```
    /// use cached_etag_runtime::Key;
    ///
    /// let key = Key::for_get("app::get_settings", "example.com", "/api/settings");
    /// assert_eq!(key, Key::for_get("app::get_settings", "example.com", "/api/settings"));
    /// ```
    pub fn for_get(handler: &str, host: &str, path_and_query: &str) -> Key {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        Key::builder(handler)
            .part("GET")
            .part(host)
            .part(path)
            .optional(query)
            .finish()
    }

    /// The key of `request` under `policy`: what the engine stores the
    /// response under, so that hand-written code can name the entry to
    /// invalidate. Requests that differ in the method (but for HEAD and
    /// GET), authority, original path, query, or a varied header's values
    /// get different keys.
    ///
    /// ```
    /// use cached_etag_runtime::{Key, Policy, RequestHead};
    ///
    /// let policy = Policy::builder("app::doc").vary(&["accept-language"]).build();
    /// let request = http::Request::get("/doc?v=1")
    ///     .header("host", "example.com")
    ///     .header("accept-language", "fr")
    ///     .body(())
    ///     .unwrap();
    /// let (parts, ()) = request.into_parts();
    /// let key = Key::for_request(&policy, &RequestHead::from(&parts));
    /// assert_ne!(key, Key::for_get("app::doc", "example.com", "/doc?v=1"));
    /// ```
    pub fn for_request(policy: &Policy, request: &RequestHead<'_>) -> Key {
        Key::of(policy, request, policy.learned_vary_len())
    }

    /// The key of `request` with the policy's first `learned` learned
    /// `Vary` names.
    pub(crate) fn of(policy: &Policy, request: &RequestHead<'_>, learned: usize) -> Key {
        // RFC 9110 §9.3.2: HEAD is GET without content, so it shares GET's entry.
        let method = if request.method == Method::HEAD {
            "GET"
        } else {
            request.method.as_str()
        };
        let uri = request.uri;
        let builder = Key::builder(policy.id())
            .part(method)
            .part(request.authority())
            .part(uri.path())
            .optional(uri.query());
        let builder = varied(builder, policy.vary(), request.headers);
        policy
            .learned_vary(learned, |names| varied(builder, names, request.headers))
            .finish()
    }

    /// The key's bytes: what a remote store keys on.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key's bytes, shared: a miss keys its flight, its put and its
    /// memory slot with them, each a reference count rather than a copy.
    pub(crate) fn shared(&self) -> &Arc<[u8]> {
        &self.0
    }

    /// The key's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty (never, for a key made by the builder).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Shows the key's length and a fingerprint, never its bytes: a key holds
/// the values of the headers it varies on, `Authorization` and `Cookie`
/// among them when a policy varies on those, and keys reach logs.
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        // A fixed hasher, so that one key has one fingerprint in every log.
        let fingerprint = BuildHasherDefault::<DefaultHasher>::default().hash_one(&self.0);
        write!(f, "Key({} bytes, {fingerprint:016x})", self.0.len())
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Key {
    fn from(bytes: &[u8]) -> Self {
        Key(bytes.into())
    }
}

/// Appends length-prefixed parts to a [`Key`].
#[derive(Debug, Clone)]
#[must_use]
pub struct KeyBuilder(Vec<u8>);

impl KeyBuilder {
    /// Appends one part.
    pub fn part(mut self, part: impl AsRef<[u8]>) -> Self {
        push_part(&mut self.0, part.as_ref());
        self
    }

    /// Appends a part that may be absent; absent and empty stay distinct.
    pub fn optional(mut self, part: Option<impl AsRef<[u8]>>) -> Self {
        match part {
            None => self.0.push(0),
            Some(part) => {
                self.0.push(1);
                push_part(&mut self.0, part.as_ref());
            }
        }
        self
    }

    /// Appends a count, for parts that are lists.
    pub fn count(mut self, n: usize) -> Self {
        self.0.extend_from_slice(&(n as u64).to_le_bytes());
        self
    }

    /// Finishes the key.
    pub fn finish(self) -> Key {
        Key(Arc::from(self.0))
    }
}

/// Appends the values of each header of `names`.
fn varied(mut builder: KeyBuilder, names: &[HeaderName], headers: &HeaderMap) -> KeyBuilder {
    for name in names {
        // Several lines of one field are one list (RFC 9110 §5.3); keep
        // their count in the key so that line boundaries cannot shift.
        let values = headers.get_all(name);
        builder = builder.count(values.iter().count());
        for value in values {
            builder = builder.part(value.as_bytes());
        }
    }
    builder
}

fn push_part(bytes: &mut Vec<u8>, part: &[u8]) {
    bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
    bytes.extend_from_slice(part);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn request(method: &Method, target: &str, headers: &HeaderMap) -> http::request::Parts {
        let mut request = http::Request::builder().method(method).uri(target);
        *request.headers_mut().unwrap() = headers.clone();
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts
            .headers
            .insert("host", HeaderValue::from_static("host"));
        parts
    }

    fn key(path: &str, query: Option<&str>, headers: &HeaderMap) -> Key {
        let policy = Policy::builder("h").vary(&["accept-language"]).build();
        let target = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let parts = request(&Method::GET, &target, headers);
        Key::for_request(&policy, &RequestHead::from(&parts))
    }

    #[test]
    fn parts_never_run_together() {
        let a = Key::builder("h").part("ab").part("c").finish();
        let b = Key::builder("h").part("a").part("bc").finish();
        assert_ne!(a, b);
        let empty = HeaderMap::new();
        assert_ne!(key("/ab", Some("c"), &empty), key("/a", Some("bc"), &empty));
        assert_ne!(key("/a", None, &empty), key("/a", Some(""), &empty));
    }

    #[test]
    fn head_shares_get() {
        let policy = Policy::builder("h").build();
        let h = HeaderMap::new();
        let get = request(&Method::GET, "/p", &h);
        let head = request(&Method::HEAD, "/p", &h);
        let get = Key::for_request(&policy, &RequestHead::from(&get));
        assert_eq!(get, Key::for_request(&policy, &RequestHead::from(&head)));
        assert_eq!(get, Key::for_get("h", "host", "/p"));
    }

    #[test]
    fn vary_values_are_part_of_the_key() {
        let mut en = HeaderMap::new();
        en.insert("accept-language", HeaderValue::from_static("en"));
        let mut fr = HeaderMap::new();
        fr.insert("accept-language", HeaderValue::from_static("fr"));
        assert_ne!(key("/", None, &en), key("/", None, &fr));
        assert_ne!(key("/", None, &en), key("/", None, &HeaderMap::new()));
        let mut two = HeaderMap::new();
        two.append("accept-language", HeaderValue::from_static("e"));
        two.append("accept-language", HeaderValue::from_static("n"));
        assert_ne!(key("/", None, &en), key("/", None, &two));
    }

    #[test]
    fn debug_never_shows_the_keys_bytes() {
        let key = Key::builder("h").part("Bearer s3cret").finish();
        let shown = format!("{key:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            format!("{:?}", key.clone()),
            "one key, one fingerprint"
        );
        assert_ne!(
            shown,
            format!("{:?}", Key::builder("h").part("other").finish())
        );
    }

    #[test]
    fn handlers_never_share() {
        let a = Key::builder("a").part("/").finish();
        let b = Key::builder("b").part("/").finish();
        assert_ne!(a, b);
    }
}
