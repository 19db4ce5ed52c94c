//! Entity-tags (RFC 9110 §8.8.3): the [`ETag`] value, its two comparison
//! functions and the constructors for the ETag styles.
//!
//! An [`ETag`] always holds a valid `entity-tag`: its opaque part contains only
//! `etagc` characters, so [`ETag::to_header_value`] cannot fail and
//! [`Display`](fmt::Display) always renders `W/"…"` or `"…"` that parses back to
//! the same value. Parsing is strict (one entity-tag, optional surrounding
//! whitespace, nothing else) and never panics. The style constructors
//! ([`ETag::from_timestamp`], [`ETag::from_content`], [`ETag::composite`],
//! [`ETag::collection`], [`ETag::from_string`]) are deterministic across
//! processes, never fail, and produce *weak* tags: callers that promise
//! byte-identical representations opt into strong ones with
//! [`ETag::into_strong`]. Derived `==` compares the tag exactly (weakness
//! included); the RFC comparisons are [`ETag::strong_eq`] and [`ETag::weak_eq`].

pub mod style;

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderValue;
use sha2::{Digest as _, Sha256};

pub use style::{
    Collection, Identified, Timestamp, UpdatedAt, collection_of, composite_of, timestamp_of,
};

/// An HTTP entity-tag (RFC 9110 §8.8.3): an opaque string plus a weak flag.
///
/// The opaque part is stored without its quotes and is always made of `etagc`
/// characters, so every `ETag` is a valid `ETag` header value.
///
/// ```
/// use cached_etag_runtime::ETag;
///
/// let tag: ETag = r#"W/"42-1732442400""#.parse()?;
/// assert!(tag.is_weak());
/// assert_eq!(tag.opaque(), "42-1732442400");
/// assert_eq!(tag.to_string(), r#"W/"42-1732442400""#);
/// assert!(tag.weak_eq(&ETag::strong("42-1732442400")?));
/// # Ok::<(), cached_etag_runtime::etag::InvalidETag>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ETag {
    /// The header value, `W/"opaque"` or `"opaque"`, rendered once when the
    /// tag is made: every response that carries the tag clones it (a
    /// reference count) instead of formatting it again. The opaque part is
    /// only `etagc` characters (RFC 9110 §8.8.3) and valid UTF-8. Whether
    /// the tag is weak is read from it (a leading `W/`), so that a tag is one
    /// header value and no more.
    value: HeaderValue,
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ETag")
            .field("opaque", &self.opaque())
            .field("weak", &self.is_weak())
            .finish()
    }
}

/// The input is not a single valid entity-tag (RFC 9110 §8.8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidETag;

impl fmt::Display for InvalidETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid entity-tag: expected `\"opaque\"` or `W/\"opaque\"` (RFC 9110 §8.8.3)")
    }
}

impl std::error::Error for InvalidETag {}

/// An entity-tag borrowed from a header line, compared without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ETagRef<'a> {
    /// The bytes between the quotes; may hold obs-text that is not UTF-8.
    pub(crate) opaque: &'a [u8],
    pub(crate) weak: bool,
}

/// RFC 9110 §8.8.3: `etagc = %x21 / %x23-7E / obs-text`; obs-text is
/// `%x80-FF`. Excludes SP, DQUOTE, DEL and controls.
pub(crate) const fn is_etagc(b: u8) -> bool {
    b == 0x21 || (b >= 0x23 && b <= 0x7E) || b >= 0x80
}

/// [`is_etagc`] for every byte value. The scan of a header's tags is the hot
/// loop of a 304; a lookup per byte made a five-tag evaluation about 10%
/// faster than the range tests.
static ETAGC: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_etagc(b as u8);
        b += 1;
    }
    table
};

/// RFC 9110 §5.6.3: `OWS = *( SP / HTAB )`.
pub(crate) const fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Strips leading `OWS` (RFC 9110 §5.6.3).
pub(crate) fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    s
}

/// Strips leading and trailing `OWS` (RFC 9110 §5.6.3).
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let mut s = trim_ows_start(s);
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Reads one `entity-tag` at the very start of `s` and returns it with the
/// bytes after its closing quote, or `None` if `s` does not start with one.
///
/// RFC 9110 §8.8.3: `entity-tag = [ weak ] opaque-tag`, `weak = %s"W/"`
/// (case-sensitive), `opaque-tag = DQUOTE *etagc DQUOTE`.
pub(crate) fn split_entity_tag(s: &[u8]) -> Option<(ETagRef<'_>, &[u8])> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let s = s.strip_prefix(b"\"")?;
    let end = s.iter().position(|&b| !ETAGC[usize::from(b)])?;
    // The first non-etagc byte must be the closing quote.
    if s.get(end) != Some(&b'"') {
        return None;
    }
    let opaque = s.get(..end)?;
    let rest = s.get(end + 1..)?;
    Some((ETagRef { opaque, weak }, rest))
}

/// Every byte is `etagc` (RFC 9110 §8.8.3).
fn validate_opaque(opaque: &str) -> Result<(), InvalidETag> {
    if opaque.bytes().all(is_etagc) {
        Ok(())
    } else {
        Err(InvalidETag)
    }
}

/// The bytes a style constructor emits unescaped: `etagc` minus obs-text and
/// minus `%`, which introduces an escape. Keeping `%` out makes the escaping
/// injective; keeping obs-text out keeps the tag ASCII for every client.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii() && is_etagc(b) && b != b'%'
}

/// Appends `s` with every byte that is not [`is_unreserved`] written as `%XX`
/// (uppercase hex), like URI percent-encoding (RFC 3986 §2.1). Percent-decoding
/// the output gives back `s`, so distinct inputs give distinct outputs.
fn escape_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if is_unreserved(b) {
            continue;
        }
        // Runs of unreserved bytes are ASCII, so these slices sit on char
        // boundaries; `get` keeps the no-panic promise regardless.
        out.push_str(s.get(start..i).unwrap_or_default());
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// A `fmt::Write` sink that escapes what is written into a `String`, so a
/// `Display` id is escaped without an intermediate allocation.
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// Appends `t` as a decimal number of seconds relative to the Unix epoch:
/// whole seconds, then `.` and the nanoseconds with trailing zeros trimmed when
/// they are not zero, with a leading `-` before the epoch. The text is the
/// exact decimal value of the time, so distinct times give distinct texts.
pub(crate) fn write_timestamp(out: &mut String, t: SystemTime) {
    let (negative, magnitude) = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => (false, after),
        // Strictly before the epoch: the magnitude is never zero, so `-0`
        // cannot appear and `0` stays the epoch's only rendering.
        Err(before) => (true, before.duration()),
    };
    if negative {
        out.push('-');
    }
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", magnitude.as_secs());
    let nanos = magnitude.subsec_nanos();
    if nanos != 0 {
        let mut digits = 9;
        let mut frac = nanos;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{frac:0digits$}");
    }
}

impl ETag {
    /// Parses exactly one entity-tag, `"opaque"` or `W/"opaque"`, with optional
    /// surrounding spaces or tabs (RFC 9110 §8.8.3, §5.6.3).
    ///
    /// A list, `*`, a lowercase `w/`, a missing quote or any byte that is not
    /// `etagc` is an error. So is obs-text that is not UTF-8, since the opaque
    /// part is kept as a `str` ([`Preconditions`](crate::Preconditions) still
    /// compares such tags by their bytes).
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// assert!(ETag::parse(br#" "abc" "#)?.strong_eq(&ETag::strong("abc")?));
    /// assert!(ETag::parse(br#""a", "b""#).is_err());
    /// # Ok::<(), cached_etag_runtime::etag::InvalidETag>(())
    /// ```
    pub fn parse(value: &[u8]) -> Result<ETag, InvalidETag> {
        let (tag, rest) = split_entity_tag(trim_ows(value)).ok_or(InvalidETag)?;
        if !rest.is_empty() {
            return Err(InvalidETag);
        }
        let opaque = std::str::from_utf8(tag.opaque).map_err(|_| InvalidETag)?;
        Ok(ETag::render(opaque, tag.weak))
    }

    /// A strong tag with this opaque part (given without quotes).
    ///
    /// Fails unless every character is `etagc` (RFC 9110 §8.8.3): printable
    /// ASCII except space and `"`, or non-ASCII.
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// assert_eq!(ETag::strong("v1")?.to_string(), r#""v1""#);
    /// assert!(ETag::strong("has space").is_err());
    /// # Ok::<(), cached_etag_runtime::etag::InvalidETag>(())
    /// ```
    pub fn strong(opaque: &str) -> Result<ETag, InvalidETag> {
        validate_opaque(opaque)?;
        Ok(ETag::render(opaque, false))
    }

    /// A weak tag with this opaque part (given without quotes); the same
    /// validation as [`ETag::strong`].
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// assert_eq!(ETag::weak("v1")?.to_string(), r#"W/"v1""#);
    /// # Ok::<(), cached_etag_runtime::etag::InvalidETag>(())
    /// ```
    pub fn weak(opaque: &str) -> Result<ETag, InvalidETag> {
        validate_opaque(opaque)?;
        Ok(ETag::render(opaque, true))
    }

    /// The opaque part, without quotes and without `W/`.
    pub fn opaque(&self) -> &str {
        // Every constructor checked the opaque part is UTF-8.
        std::str::from_utf8(self.opaque_bytes()).unwrap_or_default()
    }

    /// The opaque part's bytes: the value less `W/` and the quotes.
    fn opaque_bytes(&self) -> &[u8] {
        let value = self.value.as_bytes();
        let start = if self.is_weak() { 3 } else { 1 };
        value.get(start..value.len() - 1).unwrap_or_default()
    }

    /// This tag over another copy of its rendered text, which the memory
    /// store keeps in the allocation of the body; a value that is not this
    /// tag's text leaves the tag as it is.
    pub(crate) fn over(&self, value: HeaderValue) -> ETag {
        if value == self.value {
            ETag { value }
        } else {
            self.clone()
        }
    }

    /// Whether this is a weak validator (`W/"…"`).
    pub fn is_weak(&self) -> bool {
        self.value.as_bytes().starts_with(b"W/")
    }

    /// The same opaque part with the given weakness.
    pub fn with_weak(self, weak: bool) -> ETag {
        if weak == self.is_weak() {
            return self;
        }
        ETag::render(self.opaque(), weak)
    }

    /// The same opaque part as a strong tag.
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// let tag = ETag::from_content(b"hello").into_strong();
    /// assert!(!tag.is_weak());
    /// ```
    pub fn into_strong(self) -> ETag {
        self.with_weak(false)
    }

    /// The same opaque part as a weak tag.
    pub fn into_weak(self) -> ETag {
        self.with_weak(true)
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): both tags are strong and their
    /// opaque parts are identical. Used by `If-Match`.
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// let a = ETag::strong("1")?;
    /// assert!(a.strong_eq(&ETag::strong("1")?));
    /// assert!(!a.strong_eq(&ETag::weak("1")?));
    /// # Ok::<(), cached_etag_runtime::etag::InvalidETag>(())
    /// ```
    pub fn strong_eq(&self, other: &ETag) -> bool {
        !self.is_weak() && !other.is_weak() && self.opaque_bytes() == other.opaque_bytes()
    }

    /// Weak comparison (RFC 9110 §8.8.3.2): the opaque parts are identical,
    /// whatever either tag's weakness. Used by `If-None-Match`.
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// assert!(ETag::weak("1")?.weak_eq(&ETag::strong("1")?));
    /// # Ok::<(), cached_etag_runtime::etag::InvalidETag>(())
    /// ```
    pub fn weak_eq(&self, other: &ETag) -> bool {
        self.opaque_bytes() == other.opaque_bytes()
    }

    /// The `ETag` header value, `W/"…"` or `"…"`.
    ///
    /// Never fails: every constructor keeps the opaque part to `etagc`
    /// characters, all of which a [`HeaderValue`] accepts. The value was
    /// rendered when the tag was made; this is a reference count.
    pub fn to_header_value(&self) -> HeaderValue {
        self.value.clone()
    }

    /// `W/"opaque"` or `"opaque"` as a header value, for a valid opaque part.
    fn render(opaque: &str, weak: bool) -> ETag {
        let mut text = String::with_capacity(opaque.len() + 4);
        if weak {
            text.push_str("W/");
        }
        text.push('"');
        text.push_str(opaque);
        text.push('"');
        match HeaderValue::from_maybe_shared(bytes::Bytes::from(text.into_bytes())) {
            Ok(value) => ETag { value },
            // Unreachable while the etagc invariant holds; an empty strong tag
            // keeps the no-panic promise if it ever did not.
            Err(_) => ETag {
                value: HeaderValue::from_static("\"\""),
            },
        }
    }

    /// A tag for a point in time, sub-second precision kept, so two updates in
    /// one second give two tags. Weak.
    ///
    /// The opaque part is the time in seconds since the Unix epoch as an exact
    /// decimal: `1732442400`, `1732442400.5`, `1732442400.000000001`, and
    /// `-1.5` for 1.5 seconds before the epoch.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use cached_etag_runtime::ETag;
    ///
    /// let t = UNIX_EPOCH + Duration::from_millis(1_732_442_400_500);
    /// assert_eq!(ETag::from_timestamp(t).to_string(), r#"W/"1732442400.5""#);
    /// ```
    pub fn from_timestamp(t: impl Timestamp) -> ETag {
        let mut opaque = String::with_capacity(24);
        write_timestamp(&mut opaque, t.to_system_time());
        ETag::trusted(opaque, true)
    }

    /// A tag for content: the first 128 bits of the SHA-256 of `bytes`,
    /// base64url without padding (22 characters). Weak.
    ///
    /// Deterministic across processes and restarts (no salt, no key), and it
    /// depends on `bytes` only. 128 bits make an accidental collision between
    /// two versions of one resource negligible.
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// let tag = ETag::from_content(b"hello");
    /// assert_eq!(tag.opaque().len(), 22);
    /// assert_eq!(tag, ETag::from_content(b"hello"));
    /// ```
    pub fn from_content(bytes: &[u8]) -> ETag {
        let digest = Sha256::digest(bytes);
        let prefix = digest.get(..16).unwrap_or(&digest[..]);
        let opaque = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(prefix);
        // The base64url alphabet (A-Z a-z 0-9 - _) is all etagc.
        ETag::trusted(opaque, true)
    }

    /// A tag for an identified, timestamped value: `{id}-{timestamp}`, with the
    /// id escaped as in [`ETag::from_string`] and the timestamp as in
    /// [`ETag::from_timestamp`]. Weak.
    ///
    /// An id that ends in `-` has that last `-` written as `%2D`, so that the
    /// id never ends in `-` and the separator stays unambiguous even before a
    /// negative (pre-epoch) timestamp: `("a-", 1 s)` gives `a%2D-1` while
    /// `("a", -1 s)` gives `a--1`.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use cached_etag_runtime::ETag;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_732_442_400);
    /// assert_eq!(ETag::composite(42, t).to_string(), r#"W/"42-1732442400""#);
    /// assert_eq!(ETag::composite("a b", t).opaque(), "a%20b-1732442400");
    /// ```
    pub fn composite(id: impl fmt::Display, t: impl Timestamp) -> ETag {
        let mut opaque = String::with_capacity(32);
        // Escaper::write_str never fails; a Display impl that errors leaves
        // what it wrote, which is still valid.
        let _ = write!(Escaper(&mut opaque), "{id}");
        if opaque.ends_with('-') {
            opaque.pop();
            opaque.push_str("%2D");
        }
        opaque.push('-');
        write_timestamp(&mut opaque, t.to_system_time());
        ETag::trusted(opaque, true)
    }

    /// A tag for a collection: `{count}-{timestamp}` of its newest item, or
    /// `{count}` alone when no item has a time (an empty collection gives
    /// `W/"0"`). Weak.
    ///
    /// The count catches deletions that leave the newest time unchanged. A
    /// missing time is not written as `0`, which would collide with a
    /// collection whose newest item is dated exactly at the epoch.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// use cached_etag_runtime::ETag;
    ///
    /// let t = UNIX_EPOCH + Duration::from_secs(1_732_442_400);
    /// assert_eq!(ETag::collection(3, Some(t)).opaque(), "3-1732442400");
    /// assert_eq!(ETag::collection(0, None::<SystemTime>).opaque(), "0");
    /// ```
    pub fn collection(count: u64, latest: Option<impl Timestamp>) -> ETag {
        let mut opaque = String::with_capacity(32);
        let _ = write!(opaque, "{count}");
        if let Some(t) = latest {
            opaque.push('-');
            write_timestamp(&mut opaque, t.to_system_time());
        }
        ETag::trusted(opaque, true)
    }

    /// A tag from any caller-supplied string, which never fails. Weak.
    ///
    /// Printable ASCII other than space, `"` and `%` is kept; every other byte
    /// (space, `"`, `%`, controls, DEL and each byte of a non-ASCII character's
    /// UTF-8) becomes `%XX` in uppercase hex. Percent-decoding the opaque part
    /// gives `s` back, so distinct strings give distinct tags.
    ///
    /// ```
    /// use cached_etag_runtime::ETag;
    ///
    /// assert_eq!(ETag::from_string("v2").opaque(), "v2");
    /// assert_eq!(ETag::from_string("a \"b\" 100%").opaque(), "a%20%22b%22%20100%25");
    /// assert_eq!(ETag::from_string("é").opaque(), "%C3%A9");
    /// ```
    pub fn from_string(s: &str) -> ETag {
        let mut opaque = String::with_capacity(s.len());
        escape_into(&mut opaque, s);
        ETag::trusted(opaque, true)
    }

    /// Wraps an opaque part that the caller built from etagc characters only.
    fn trusted(opaque: String, weak: bool) -> ETag {
        debug_assert!(opaque.bytes().all(is_etagc), "not etagc: {opaque:?}");
        ETag::render(&opaque, weak)
    }

    /// The borrowed form used by the precondition evaluator.
    pub(crate) fn as_ref(&self) -> ETagRef<'_> {
        ETagRef {
            opaque: self.opaque_bytes(),
            weak: self.is_weak(),
        }
    }
}

impl fmt::Display for ETag {
    /// `W/"opaque"` for a weak tag, `"opaque"` for a strong one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value is ASCII or UTF-8 obs-text, checked when it was made.
        f.write_str(std::str::from_utf8(self.value.as_bytes()).unwrap_or_default())
    }
}

impl FromStr for ETag {
    type Err = InvalidETag;

    /// The same as [`ETag::parse`].
    fn from_str(s: &str) -> Result<ETag, InvalidETag> {
        ETag::parse(s.as_bytes())
    }
}

impl TryFrom<&HeaderValue> for ETag {
    type Error = InvalidETag;

    /// The same as [`ETag::parse`] over the value's bytes.
    fn try_from(value: &HeaderValue) -> Result<ETag, InvalidETag> {
        ETag::parse(value.as_bytes())
    }
}

impl From<&ETag> for HeaderValue {
    fn from(tag: &ETag) -> HeaderValue {
        tag.to_header_value()
    }
}

impl From<ETag> for HeaderValue {
    fn from(tag: ETag) -> HeaderValue {
        tag.to_header_value()
    }
}

/// ETags travel as their header text (`W/"…"`), so that events and stats
/// can cross a message bus as JSON.
#[cfg(feature = "serde")]
mod serde_impl {
    use crate::ETag;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    impl Serialize for ETag {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for ETag {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            text.parse()
                .map_err(|_| D::Error::custom("invalid entity-tag"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    fn before_epoch(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH - Duration::new(secs, nanos)
    }

    /// Percent-decodes an opaque part made by `escape_into`.
    fn unescape(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn rfc9110_8_8_3_2_comparison_table() {
        // (a, b, strong comparison, weak comparison), RFC 9110 §8.8.3.2.
        let table = [
            (r#"W/"1""#, r#"W/"1""#, false, true),
            (r#"W/"1""#, r#"W/"2""#, false, false),
            (r#"W/"1""#, r#""1""#, false, true),
            (r#""1""#, r#""1""#, true, true),
        ];
        for (a, b, strong, weak) in table {
            let (a, b): (ETag, ETag) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(a.strong_eq(&b), strong, "strong {a} vs {b}");
            assert_eq!(b.strong_eq(&a), strong, "strong {b} vs {a}");
            assert_eq!(a.weak_eq(&b), weak, "weak {a} vs {b}");
            assert_eq!(b.weak_eq(&a), weak, "weak {b} vs {a}");
        }
    }

    #[test]
    fn rfc9110_8_8_3_parse_accepts_the_grammar() {
        let ok: &[(&[u8], &str, bool)] = &[
            (br#""xyzzy""#, "xyzzy", false),
            (br#"W/"xyzzy""#, "xyzzy", true),
            (br#""""#, "", false),
            (br#"W/"""#, "", true),
            (b" \t\"a\" \t", "a", false),
            // A comma is etagc: this is one tag, not a list.
            (br#""a,b""#, "a,b", false),
            (
                br#""!#$%&'()*+,-./:;<=>?@[\]^_`{|}~""#,
                "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
                false,
            ),
            // obs-text that is UTF-8.
            ("\"caf\u{e9}\"".as_bytes(), "caf\u{e9}", false),
        ];
        for &(input, opaque, weak) in ok {
            let tag = ETag::parse(input).unwrap_or_else(|_| panic!("{input:?}"));
            assert_eq!((tag.opaque(), tag.is_weak()), (opaque, weak), "{input:?}");
        }
    }

    #[test]
    fn rfc9110_8_8_3_parse_rejects_everything_else() {
        let bad: &[&[u8]] = &[
            b"",
            b"   ",
            b"xyzzy",
            b"\"xyzzy",
            b"xyzzy\"",
            b"*",
            b"w/\"a\"",
            b"W/ \"a\"",
            b"W/a",
            b"\"a\" \"b\"",
            b"\"a\", \"b\"",
            b"\"a\",",
            b"\"a b\"",
            b"\"a\tb\"",
            b"\"a\x7Fb\"",
            b"\"a\x01b\"",
            b"\"a\r\nb\"",
            b"\"a\"\"",
            // Unterminated, ending in a byte that is neither etagc nor OWS.
            b"\"ab\x01",
            // obs-text that is not UTF-8 cannot be held as str.
            b"\"\xFF\"",
        ];
        for &input in bad {
            assert_eq!(ETag::parse(input), Err(InvalidETag), "{input:?}");
        }
    }

    #[test]
    fn rfc9110_8_8_3_constructors_validate_etagc() {
        assert!(ETag::strong("abc-123_~!").is_ok());
        assert!(ETag::weak("").is_ok());
        assert!(ETag::strong("caf\u{e9}").is_ok());
        for bad in ["a b", "a\"b", "\"", "a\tb", "a\u{7f}", "a\nb", "a\0"] {
            assert_eq!(ETag::strong(bad), Err(InvalidETag), "{bad:?}");
            assert_eq!(ETag::weak(bad), Err(InvalidETag), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips_and_header_values_match() {
        for tag in [
            ETag::strong("a").unwrap(),
            ETag::weak("a").unwrap(),
            ETag::strong("").unwrap(),
            ETag::weak("caf\u{e9}").unwrap(),
        ] {
            let text = tag.to_string();
            assert_eq!(text.parse::<ETag>().unwrap(), tag);
            let value = tag.to_header_value();
            assert_eq!(value.as_bytes(), text.as_bytes());
            assert_eq!(ETag::try_from(&value).unwrap(), tag);
            assert_eq!(HeaderValue::from(&tag), value);
            assert_eq!(HeaderValue::from(tag), value);
        }
    }

    #[test]
    fn weakness_conversions() {
        let tag = ETag::strong("x").unwrap();
        assert!(tag.clone().into_weak().is_weak());
        assert!(!tag.clone().into_weak().into_strong().is_weak());
        assert!(tag.clone().with_weak(true).is_weak());
        assert_eq!(tag.clone().with_weak(false), tag);
        assert_eq!(tag.into_weak().opaque(), "x");
    }

    #[test]
    fn timestamp_format() {
        let cases = [
            (at(1_732_442_400, 0), "1732442400"),
            (at(1_732_442_400, 500_000_000), "1732442400.5"),
            (at(1_732_442_400, 1), "1732442400.000000001"),
            (at(1_732_442_400, 123_456_789), "1732442400.123456789"),
            (at(1_732_442_400, 120_000_000), "1732442400.12"),
            (UNIX_EPOCH, "0"),
            (at(0, 1), "0.000000001"),
            (before_epoch(1, 0), "-1"),
            (before_epoch(1, 500_000_000), "-1.5"),
            (before_epoch(0, 1), "-0.000000001"),
        ];
        for (t, text) in cases {
            let tag = ETag::from_timestamp(t);
            assert!(tag.is_weak());
            assert_eq!(tag.opaque(), text);
        }
    }

    #[test]
    fn timestamp_two_updates_in_one_second_differ() {
        let first = ETag::from_timestamp(at(1_732_442_400, 100_000_000));
        let second = ETag::from_timestamp(at(1_732_442_400, 100_000_001));
        assert!(!first.weak_eq(&second));
    }

    #[test]
    fn timestamp_around_the_epoch_is_distinct() {
        let times = [
            before_epoch(2, 0),
            before_epoch(1, 500_000_000),
            before_epoch(1, 0),
            before_epoch(0, 500_000_000),
            before_epoch(0, 1),
            UNIX_EPOCH,
            at(0, 1),
            at(0, 500_000_000),
            at(1, 0),
            at(1, 500_000_000),
            at(2, 0),
        ];
        let tags: HashSet<String> = times
            .iter()
            .map(|&t| ETag::from_timestamp(t).opaque().to_owned())
            .collect();
        assert_eq!(tags.len(), times.len());
    }

    #[test]
    fn content_is_sha256_prefix_base64url() {
        // SHA-256("") = e3b0c442 98fc1c14 9afbf4c8 996fb924 ...
        let tag = ETag::from_content(b"");
        assert_eq!(tag.opaque(), "47DEQpj8HBSa-_TImW-5JA");
        assert!(tag.is_weak());
        assert_eq!(tag.opaque().len(), 22);
        assert_ne!(ETag::from_content(b"a"), ETag::from_content(b"b"));
    }

    #[test]
    fn from_string_escapes_to_a_valid_injective_tag() {
        let cases = [
            ("plain-ID_1.2~", "plain-ID_1.2~"),
            ("say \"hi\"", "say%20%22hi%22"),
            ("a\u{1}b\nc\u{7f}", "a%01b%0Ac%7F"),
            ("100%", "100%25"),
            ("%25", "%2525"),
            ("\u{e9}\u{1F600}", "%C3%A9%F0%9F%98%80"),
            ("", ""),
        ];
        for (input, opaque) in cases {
            let tag = ETag::from_string(input);
            assert_eq!(tag.opaque(), opaque, "{input:?}");
            assert!(tag.is_weak());
            assert!(HeaderValue::from_bytes(tag.to_string().as_bytes()).is_ok());
            assert_eq!(unescape(tag.opaque()), input.as_bytes());
        }
        // Without escaping `%`, these two would collide.
        assert_ne!(ETag::from_string("%20"), ETag::from_string(" "));
    }

    #[test]
    fn composite_format_and_escaping() {
        let t = at(1_732_442_400, 0);
        assert_eq!(ETag::composite(42, t).opaque(), "42-1732442400");
        assert_eq!(
            ETag::composite("say \"hi\"", at(1, 5)).opaque(),
            "say%20%22hi%22-1.000000005"
        );
        assert_eq!(ETag::composite("a\u{1}%", t).opaque(), "a%01%25-1732442400");
        assert_eq!(ETag::composite("\u{e9}", t).opaque(), "%C3%A9-1732442400");
        assert_eq!(ETag::composite("x-y", t).opaque(), "x-y-1732442400");
        assert!(ETag::composite(42, t).is_weak());
    }

    #[test]
    fn composite_is_unambiguous_around_negative_timestamps() {
        let pairs = [
            ("a-", at(1, 0)),
            ("a", before_epoch(1, 0)),
            ("", before_epoch(1, 0)),
            ("-", at(1, 0)),
            ("--", at(1, 0)),
            ("-", before_epoch(1, 0)),
            ("a-1", at(2, 0)),
            ("a", at(1, 0)),
        ];
        let tags: HashSet<String> = pairs
            .iter()
            .map(|(id, t)| ETag::composite(id, *t).opaque().to_owned())
            .collect();
        assert_eq!(tags.len(), pairs.len(), "{tags:?}");
        assert_eq!(ETag::composite("a-", at(1, 0)).opaque(), "a%2D-1");
        assert_eq!(ETag::composite("a", before_epoch(1, 0)).opaque(), "a--1");
    }

    #[test]
    fn collection_format() {
        let t = at(1_732_442_400, 250_000_000);
        assert_eq!(ETag::collection(3, Some(t)).opaque(), "3-1732442400.25");
        assert_eq!(ETag::collection(0, None::<SystemTime>).opaque(), "0");
        assert_ne!(
            ETag::collection(1, None::<SystemTime>),
            ETag::collection(1, Some(UNIX_EPOCH))
        );
        assert!(ETag::collection(0, None::<SystemTime>).is_weak());
    }

    #[test]
    fn split_entity_tag_reports_the_rest() {
        let (tag, rest) = split_entity_tag(br#"W/"a,b" , "c""#).unwrap();
        assert_eq!(
            tag,
            ETagRef {
                opaque: b"a,b",
                weak: true
            }
        );
        assert_eq!(rest, br#" , "c""#);
        assert!(split_entity_tag(br#""unterminated"#).is_none());
    }
}
