//! Turning a handler's response into a cacheable one, and back.
//!
//! A [`Fresh`] response (what the handler made) is finished once, by the
//! policy's `Stamp`: its ETag computed (from the typed value, a `check`, or
//! a SHA-256 of the body), its `ETag`/`Cache-Control`/`Last-Modified`/`Vary`
//! headers stamped, and its storability decided, which gives a `Prepared`
//! response: an entry to store, or a response to pass through with its
//! validators. Hits replay the stored headers (shared by the handler's
//! entries) and body, with the entry's own validators added.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;

use crate::conditional::not_modified_headers;
use crate::store::{Entry, Stored};
use crate::{ETag, Policy};

/// A response the handler just made, with the validators its ETag style
/// computed from the typed value (none for the hash style, which hashes the
/// body).
///
/// ```
/// use cached_etag_runtime::{ETag, Fresh};
///
/// let response = http::Response::new(String::from("hello"));
/// let fresh = Fresh::new(response).with_etag(ETag::from_string("v1"));
/// assert_eq!(fresh.etag().unwrap().to_string(), "W/\"v1\"");
/// ```
#[derive(Debug)]
pub struct Fresh<B> {
    pub(crate) response: Response<B>,
    pub(crate) etag: Option<ETag>,
    pub(crate) last_modified: Option<SystemTime>,
    /// The ETag is one the response already carried, sent as it is.
    pub(crate) etag_as_sent: bool,
}

impl<B> Fresh<B> {
    /// A response whose ETag is the hash of its body.
    pub fn new(response: Response<B>) -> Self {
        Fresh {
            response,
            etag: None,
            last_modified: None,
            etag_as_sent: false,
        }
    }

    /// Sets the ETag (weak or strong as the policy says).
    pub fn with_etag(mut self, etag: ETag) -> Self {
        self.etag = Some(etag);
        self
    }

    /// Keeps `etag`, which the response already carries, exactly as it is,
    /// weak or strong, whatever the policy says: the validator of a service
    /// that made its own (a handler, `ServeDir`).
    pub fn with_etag_as_sent(mut self, etag: ETag) -> Self {
        self.etag = Some(etag);
        self.etag_as_sent = true;
        self
    }

    /// Sets the time of the last change, sent as `Last-Modified`.
    pub fn with_last_modified(mut self, time: SystemTime) -> Self {
        self.last_modified = Some(time);
        self
    }

    /// Sets both validators at once, as the style functions return them.
    pub fn with_validators(mut self, (etag, last_modified): (ETag, Option<SystemTime>)) -> Self {
        self.etag = Some(etag);
        self.last_modified = last_modified;
        self
    }

    /// The ETag set so far, if any.
    pub fn etag(&self) -> Option<&ETag> {
        self.etag.as_ref()
    }

    /// The response.
    pub fn response(&self) -> &Response<B> {
        &self.response
    }
}

/// The validators of a prepared 200, carried as values to where the answer
/// is built (never written into headers and parsed back).
#[derive(Debug, Clone)]
pub(crate) struct Validators {
    pub etag: ETag,
    pub last_modified: Option<SystemTime>,
}

/// A finished response: an entry to store, or one to pass through.
pub(crate) enum Prepared<B> {
    /// A response that may be stored: its body is in memory.
    Storable(Entry),
    /// A response that must not be stored; a 200 carries its validators.
    Unstorable {
        response: Response<B>,
        validators: Option<Validators>,
    },
}

impl<B> Prepared<B> {
    fn unstorable(response: Response<B>) -> Self {
        Prepared::Unstorable {
            response,
            validators: None,
        }
    }
}

/// What the policy stamps on a fresh response, and how it decides
/// storability.
pub(crate) struct Stamp<'a> {
    pub policy: &'a Policy,
    pub tags: &'a [Arc<str>],
    pub check: Option<&'a ETag>,
    /// The request carried credentials the policy does not key on.
    pub per_user: bool,
    /// How many learned `Vary` names the request's key includes.
    pub known_vary: usize,
    /// The largest body to buffer (hash it, store it).
    pub max_body: usize,
}

impl Stamp<'_> {
    pub(crate) async fn finish<B>(&self, fresh: Fresh<B>) -> Prepared<B>
    where
        B: Body<Data = Bytes> + From<Bytes> + Send,
        B::Error: std::fmt::Display,
    {
        let Fresh {
            response,
            etag,
            last_modified,
            etag_as_sent,
        } = fresh;
        let (mut parts, body) = response.into_parts();
        // Only a 200 gets validators and a place in the store: a cached error
        // page would deny service to everyone.
        if parts.status != StatusCode::OK {
            return Prepared::unstorable(Response::from_parts(parts, body));
        }
        // RFC 9111 §4.1: a response is stored only under a key that holds
        // every request header its own `Vary` names; one that names others
        // teaches the policy to key on them from the next request on.
        let storable = !self.per_user
            && storable_headers(&parts.headers)
            && vary_names(&parts.headers)
                .is_some_and(|names| self.policy.covers_vary(&names, self.known_vary));
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let Some(buffered) = buffer(body, declared, self.max_body).await else {
            parts.status = StatusCode::INTERNAL_SERVER_ERROR;
            parts.headers.clear();
            return Prepared::unstorable(Response::from_parts(parts, B::from(Bytes::new())));
        };
        let etag = match (self.check, etag, &buffered) {
            (Some(check), _, _) => check.clone(),
            (None, Some(etag), _) => etag,
            (None, None, Ok(bytes)) => ETag::from_content(bytes),
            (None, None, Err(_)) => {
                let body = buffered.expect_err("matched Err");
                return Prepared::unstorable(Response::from_parts(parts, body));
            }
        };
        let etag = if etag_as_sent && self.check.is_none() {
            etag
        } else {
            etag.with_weak(!self.policy.is_strong())
        };
        // A Last-Modified the handler set itself is what the client sees,
        // so it is the date preconditions are judged by, stored or not.
        let last_modified = match parts.headers.get(header::LAST_MODIFIED) {
            Some(value) => parse_http_date(value),
            None => last_modified,
        };
        self.stamp(&mut parts.headers, &etag, last_modified);
        match buffered {
            Ok(body) if storable => Prepared::Storable(Entry {
                status: parts.status,
                headers: self.policy.share_headers(replayed(without_validators(
                    parts.headers,
                    last_modified.is_some(),
                ))),
                body,
                etag,
                last_modified,
                tags: self.tags.to_vec(),
                stored_at: SystemTime::now(),
                ttl: self.policy.ttl(),
                stale_for: self.policy.stale().longest(),
            }),
            buffered => {
                let body = match buffered {
                    Ok(bytes) => B::from(bytes),
                    Err(body) => body,
                };
                Prepared::Unstorable {
                    response: Response::from_parts(parts, body),
                    validators: Some(Validators {
                        etag,
                        last_modified,
                    }),
                }
            }
        }
    }

    /// The headers a 200 of this policy carries besides the handler's own:
    /// `ETag`, `Cache-Control` (the handler's wins), `Last-Modified` (the
    /// handler's wins), `Vary`, and the surrogate keys. The one place that
    /// writes them, for the 200 and for a 304 answered before any handler
    /// ran, so that the two cannot drift apart (RFC 9110 §15.4.5).
    pub(crate) fn stamp(
        &self,
        headers: &mut HeaderMap,
        etag: &ETag,
        last_modified: Option<SystemTime>,
    ) {
        headers.insert(header::ETAG, etag.to_header_value());
        if !headers.contains_key(header::CACHE_CONTROL) {
            let value = if self.per_user {
                self.policy.private_cache_control()
            } else {
                self.policy.cache_control()
            };
            headers.insert(header::CACHE_CONTROL, value.clone());
        }
        if let Some(value) = last_modified.and_then(http_date)
            && !headers.contains_key(header::LAST_MODIFIED)
        {
            headers.insert(header::LAST_MODIFIED, value);
        }
        if let Some(vary) = self.policy.vary_header() {
            headers.append(header::VARY, vary.clone());
        }
        if self.policy.surrogate_keys() {
            // `self.tags` already holds the policy's literal tags.
            let tags: Vec<&str> = self
                .tags
                .iter()
                .map(|t| &**t)
                // Surrogate-Key separates by spaces, Cache-Tag by commas:
                // a tag containing either cannot be sent.
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic() && b != b','))
                .collect();
            if !tags.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&tags.join(" ")) {
                    headers.insert(HeaderName::from_static("surrogate-key"), v);
                }
                if let Ok(v) = HeaderValue::from_str(&tags.join(",")) {
                    headers.insert(HeaderName::from_static("cache-tag"), v);
                }
            }
        }
    }
}

/// The body in memory when its length is known and at most `max` (to hash
/// and store it), else the body itself, untouched (a long or streaming body
/// passes through); `None` if it failed while being read.
///
/// The length is the body's exact size hint, else the `Content-Length` the
/// service `declared`: a file body (`ServeDir`) is a stream that knows no
/// size but whose response says it. Reading stops at `max` whatever was
/// declared, and a body that runs past it counts as failed.
async fn buffer<B>(body: B, declared: Option<u64>, max: usize) -> Option<Result<Bytes, B>>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    match body.size_hint().exact().or(declared) {
        Some(len) if len <= max as u64 => read_at_most(body, len, max).await.map(Ok),
        _ => Some(Err(body)),
    }
}

/// The body's bytes, `len` expected, at most `max`; a body of one frame is
/// kept as it is, not copied. Trailers are dropped (a stored response has
/// none).
async fn read_at_most<B>(body: B, len: u64, max: usize) -> Option<Bytes>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<bytes::BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.as_mut().frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_trailers) => continue,
            },
            Err(error) => {
                tracing::warn!(%error, "response body failed while being buffered");
                return None;
            }
        };
        total += data.len();
        if total > max {
            tracing::warn!(declared = len, "response body longer than its length");
            return None;
        }
        match (&first, &mut joined) {
            (None, _) => first = Some(data),
            (Some(first), None) => {
                let mut all = bytes::BytesMut::with_capacity(len as usize);
                all.extend_from_slice(first);
                all.extend_from_slice(&data);
                joined = Some(all);
            }
            (Some(_), Some(all)) => all.extend_from_slice(&data),
        }
    }
    Some(match joined {
        Some(all) => all.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// `time` as an HTTP-date (RFC 9110 §5.6.7), or `None` outside the years
/// 1970 to 9999: an IMF-fixdate has four year digits, and the formatter
/// panics outside that range. A style may well carry such a time (a
/// timestamp of 0001-01-01 as a "never" marker); the ETag does not need the
/// date, so the header is left out and nothing else changes.
pub(crate) fn http_date(time: SystemTime) -> Option<HeaderValue> {
    // 10000-01-01T00:00:00Z.
    const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);
    let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
    if since_epoch >= YEAR_10000 {
        return None;
    }
    HeaderValue::from_str(&httpdate::fmt_http_date(time)).ok()
}

/// A `Last-Modified` value as a time; `None` if it is not one HTTP-date.
pub(crate) fn parse_http_date(value: &HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()
}

/// Whether the handler's own headers allow storing the response in a shared
/// cache (RFC 9111 §3: `no-store`, `private`; §4.1: `Vary: *`), and it sets
/// no cookie, which would hand one user's session to another.
pub(crate) fn storable_headers(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::SET_COOKIE) {
        return false;
    }
    let directive = |name: &str| {
        headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
            v.as_bytes().split(|b| *b == b',').any(|d| {
                let d = d.trim_ascii();
                let d = d.split(|b| *b == b'=').next().unwrap_or(d);
                d.eq_ignore_ascii_case(name.as_bytes())
            })
        })
    };
    if directive("no-store") || directive("private") {
        return false;
    }
    !headers.get_all(header::VARY).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|d| d.trim_ascii() == b"*")
    })
}

/// The headers a stored entry replays: all but those that describe one
/// message rather than the representation (RFC 9110 §7.6.1 hop-by-hop
/// fields, `Date`, `Content-Length`, which the server recomputes).
pub(crate) fn replayed(mut headers: HeaderMap) -> HeaderMap {
    for name in [
        header::CONNECTION,
        header::DATE,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::PROXY_AUTHENTICATE,
        header::SET_COOKIE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    // A map grown by inserts keeps room for about twice its fields; a stored
    // entry lives long, so give it exactly what it holds.
    let mut compact = HeaderMap::with_capacity(headers.len());
    compact.extend(headers);
    compact
}

/// The headers less the validators an entry keeps as values and renders on
/// every answer: `ETag`, and `Last-Modified` when the entry has the time.
fn without_validators(mut headers: HeaderMap, has_last_modified: bool) -> HeaderMap {
    headers.remove(header::ETAG);
    if has_last_modified {
        headers.remove(header::LAST_MODIFIED);
    }
    headers
}

/// An entry read back from a remote store, admitted only if it could have
/// been stored here: a remote store is shared and its bytes are outside
/// data, so the storability rules are applied again (a 200, no
/// `Set-Cookie`, no `no-store`, `private` or `Vary: *`), per-message
/// headers are dropped, and its lifetime is clamped to the policy's TTL.
/// The `Cache-Control` the policy itself stamps (`private` by default,
/// addressed to caches downstream) is the one value let through.
pub(crate) fn admit_remote(mut entry: Entry, policy: &Policy, now: SystemTime) -> Option<Entry> {
    if entry.status != StatusCode::OK {
        return None;
    }
    let own = entry
        .headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .eq([policy.cache_control()]);
    let storable = if own {
        let mut others = HeaderMap::clone(&entry.headers);
        others.remove(header::CACHE_CONTROL);
        storable_headers(&others)
    } else {
        storable_headers(&entry.headers)
    };
    if !storable {
        return None;
    }
    // Entries of an older release carried their validators as headers too.
    let headers = Arc::unwrap_or_clone(entry.headers);
    let headers = without_validators(headers, entry.last_modified.is_some());
    entry.headers = policy.share_headers(replayed(headers));
    // Lifetimes come from outside data: held to the policy's, and kept as
    // times relative to `now`, so that a stale entry stays as stale here as
    // it was there.
    entry.stale_for = entry.stale_for.min(policy.stale().longest());
    match entry.stale_age(now) {
        None => {
            entry.ttl = entry.remaining_ttl(now).min(policy.ttl());
            entry.stored_at = now;
        }
        Some(age) if age < entry.stale_for => {
            entry.ttl = Duration::ZERO;
            entry.stored_at = now.checked_sub(age)?;
        }
        Some(_) => return None,
    }
    (!entry.ttl.is_zero() || !entry.stale_for.is_zero()).then_some(entry)
}

/// The request headers a response's own `Vary` names (RFC 9111 §4.1), or
/// `None` when it cannot be keyed on them: `*`, or a member that is not a
/// header name.
pub(crate) fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for line in headers.get_all(header::VARY) {
        for member in line.as_bytes().split(|b| *b == b',') {
            let member = member.trim_ascii();
            if member.is_empty() {
                continue;
            }
            if member == b"*" {
                return None;
            }
            let name = HeaderName::from_bytes(member).ok()?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Some(names)
}

/// A 200 from a stored entry: its replayed headers, then its validators.
pub(crate) fn from_entry<B: From<Bytes>>(entry: &Stored) -> Response<B> {
    let mut headers = HeaderMap::with_capacity(entry.headers.len() + 2);
    for (name, value) in entry.headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    with_validators(&mut headers, entry);
    let mut response = Response::new(B::from(entry.body.clone()));
    *response.status_mut() = entry.status;
    *response.headers_mut() = headers;
    response
}

/// The 304 answering for a stored entry (RFC 9110 §15.4.5).
pub(crate) fn not_modified_entry<B: From<Bytes>>(entry: &Stored) -> Response<B> {
    let mut headers = not_modified_headers(&entry.headers);
    with_validators(&mut headers, entry);
    not_modified_with(headers)
}

/// `ETag`, and `Last-Modified` as rendered when the entry was stored.
fn with_validators(headers: &mut HeaderMap, entry: &Stored) {
    headers.insert(header::ETAG, entry.etag.to_header_value());
    if let Some(value) = entry.last_modified_value() {
        headers.insert(header::LAST_MODIFIED, value);
    }
}

/// A `304 Not Modified` carrying what RFC 9110 §15.4.5 asks of the 200's headers.
pub(crate) fn not_modified<B: From<Bytes>>(headers: &HeaderMap) -> Response<B> {
    not_modified_with(not_modified_headers(headers))
}

fn not_modified_with<B: From<Bytes>>(headers: HeaderMap) -> Response<B> {
    let mut response = Response::new(B::from(Bytes::new()));
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = headers;
    response
}

/// A `412 Precondition Failed` (RFC 9110 §15.5.13).
pub(crate) fn precondition_failed<B: From<Bytes>>() -> Response<B> {
    let mut response = Response::new(B::from(Bytes::new()));
    *response.status_mut() = StatusCode::PRECONDITION_FAILED;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn rfc9111_no_store_private_vary_star_and_cookies_are_not_stored() {
        assert!(storable_headers(&map(&[("cache-control", "max-age=5")])));
        assert!(!storable_headers(&map(&[("cache-control", "no-store")])));
        assert!(!storable_headers(&map(&[(
            "cache-control",
            "max-age=5, Private"
        )])));
        assert!(!storable_headers(&map(&[(
            "cache-control",
            "private=\"x\""
        )])));
        assert!(!storable_headers(&map(&[("vary", "accept, *")])));
        assert!(!storable_headers(&map(&[("set-cookie", "a=b")])));
        assert!(storable_headers(&map(&[("vary", "accept")])));
    }

    /// A body of two frames that knows no size, as a file body is.
    fn stream(chunks: &'static [&'static [u8]]) -> impl Body<Data = Bytes, Error = std::io::Error> {
        let frames = chunks
            .iter()
            .map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(c))));
        http_body_util::StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_stream_with_a_declared_length_is_buffered_within_the_limit() {
        let body = stream(&[b"hello ", b"file"]);
        assert!(body.size_hint().exact().is_none());
        let read = buffer(body, Some(10), 64).await.unwrap();
        assert_eq!(read.ok().unwrap(), "hello file");
        // Undeclared, or declared over the limit: passed through unread.
        assert!(buffer(stream(&[b"x"]), None, 64).await.unwrap().is_err());
        assert!(
            buffer(stream(&[b"x"]), Some(65), 64)
                .await
                .unwrap()
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_body_longer_than_the_limit_fails_whatever_it_declared() {
        let lying = stream(&[b"four", b"more bytes"]);
        assert!(buffer(lying, Some(4), 8).await.is_none());
    }

    #[test]
    fn replayed_headers_drop_per_message_fields() {
        let h = replayed(map(&[
            ("content-type", "application/json"),
            ("date", "x"),
            ("connection", "close"),
            ("x-custom", "kept"),
        ]));
        assert!(h.contains_key("content-type"));
        assert!(h.contains_key("x-custom"));
        assert!(!h.contains_key("date"));
        assert!(!h.contains_key("connection"));
    }
}
