//! RFC 9110 §13 preconditions: `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match` and `If-Modified-Since`, evaluated in the order of §13.2.2.
//!
//! [`Preconditions::new`] only looks the four fields up in a [`HeaderMap`];
//! [`Preconditions::evaluate`] reads them in place, as bytes, and allocates
//! nothing, so answering a 304 costs a scan of a few header bytes. Every input
//! is accepted without panicking. A field whose value does not parse (a bad
//! list element, `*` mixed with tags, an unterminated quote, bytes outside the
//! grammar, a date that is not one valid HTTP-date) never turns a request
//! into an error; what it means follows from the RFC's wording for each
//! field: an `If-Match` that lists no valid entity-tag is *false* (412), since
//! §13.1.1 holds it true only when a listed tag matches, and a lost update is
//! worse than a refused one; an `If-None-Match` that does not parse matches
//! nothing, and, being present, still turns `If-Modified-Since` off
//! (§13.1.3); a date that does not parse is ignored (§13.1.3, §13.1.4). A
//! field with no members at all (an empty value, or only commas) counts as
//! not sent, as mainstream servers do. The caller evaluates preconditions
//! only once the response would otherwise be a 2xx (§13.2.1), so a 304 never
//! hides a 401, 403 or 404.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{
    CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, IF_MATCH, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_UNMODIFIED_SINCE, LAST_MODIFIED, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::etag::{ETag, ETagRef, split_entity_tag, trim_ows, trim_ows_start};

/// What the evaluation of a request's preconditions decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every precondition holds (or none was sent): process the request.
    Proceed,
    /// `304 Not Modified` (RFC 9110 §15.4.5): the client's copy is current.
    NotModified,
    /// `412 Precondition Failed` (RFC 9110 §15.5.13).
    PreconditionFailed,
}

/// The current state of the target resource.
///
/// `etag` and `last_modified` describe the selected representation and are
/// ignored when `exists` is false: a resource that does not exist has no
/// representation to match.
///
/// ```
/// use cached_etag_runtime::{ETag, conditional::Current};
///
/// let tag = ETag::from_content(b"body");
/// let current = Current::new(Some(&tag), None);
/// assert!(current.exists);
/// assert!(!Current::missing().exists);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Current<'a> {
    /// Whether the resource has a current representation (RFC 9110 §13.1.1:
    /// `If-Match: *` holds and `If-None-Match: *` matches exactly then).
    pub exists: bool,
    /// The representation's entity-tag, if it has one.
    pub etag: Option<&'a ETag>,
    /// The representation's modification time, if known. Compared at whole
    /// seconds, the precision of HTTP-dates.
    pub last_modified: Option<SystemTime>,
}

impl<'a> Current<'a> {
    /// An existing resource with these validators.
    pub fn new(etag: Option<&'a ETag>, last_modified: Option<SystemTime>) -> Self {
        Current {
            exists: true,
            etag,
            last_modified,
        }
    }

    /// A resource with no current representation.
    pub fn missing() -> Self {
        Current::default()
    }
}

/// The received lines of one field: the first looked up eagerly, the others
/// only when there are some, so the common single-line case costs one lookup.
#[derive(Clone, Copy)]
struct FieldLines<'a> {
    first: Option<&'a HeaderValue>,
    more: bool,
}

impl<'a> FieldLines<'a> {
    fn new(headers: &'a HeaderMap, name: HeaderName) -> Self {
        let mut values = headers.get_all(name).iter();
        let first = values.next();
        FieldLines {
            first,
            more: values.next().is_some(),
        }
    }

    fn is_present(self) -> bool {
        self.first.is_some()
    }
}

/// The request's preconditions, borrowed from its [`HeaderMap`].
///
/// ```
/// use http::{HeaderMap, HeaderValue, Method, header::IF_NONE_MATCH};
/// use cached_etag_runtime::{ETag, Outcome, Preconditions, conditional::Current};
///
/// let tag = ETag::from_content(b"body");
/// let mut headers = HeaderMap::new();
/// headers.insert(IF_NONE_MATCH, tag.to_header_value());
///
/// let preconditions = Preconditions::new(&headers);
/// let current = Current::new(Some(&tag), None);
/// assert_eq!(preconditions.evaluate(&Method::GET, current), Outcome::NotModified);
/// assert_eq!(preconditions.evaluate(&Method::PUT, current), Outcome::PreconditionFailed);
/// ```
#[derive(Clone)]
pub struct Preconditions<'a> {
    headers: &'a HeaderMap,
    if_match: FieldLines<'a>,
    if_none_match: FieldLines<'a>,
    if_modified_since: FieldLines<'a>,
    if_unmodified_since: FieldLines<'a>,
}

impl fmt::Debug for Preconditions<'_> {
    /// Shows the four precondition fields only: the map may hold credentials
    /// (`Authorization`, `Cookie`) that must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = |name: HeaderName| DebugLines(self.headers, name);
        f.debug_struct("Preconditions")
            .field("if_match", &lines(IF_MATCH))
            .field("if_none_match", &lines(IF_NONE_MATCH))
            .field("if_modified_since", &lines(IF_MODIFIED_SINCE))
            .field("if_unmodified_since", &lines(IF_UNMODIFIED_SINCE))
            .finish()
    }
}

struct DebugLines<'a>(&'a HeaderMap, HeaderName);

impl fmt::Debug for DebugLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.get_all(&self.1)).finish()
    }
}

/// A field of the form `"*" / #entity-tag` (RFC 9110 §13.1.1, §13.1.2) as
/// read against one representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagField {
    /// Not sent, or sent with no members (an empty value, only commas).
    Absent,
    /// Sent, but not a valid `"*" / #entity-tag`: it lists nothing that can
    /// match.
    Invalid,
    /// `*`.
    Any,
    /// A list of entity-tags, and whether one of them matched.
    Tags { matched: bool },
}

/// One member of an `If-Match` / `If-None-Match` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member<'a> {
    Any,
    Tag(ETagRef<'a>),
}

/// The members of one field line, read in place.
///
/// RFC 9110 §5.6.1: `#rule` lists tolerate empty elements and OWS around
/// commas. A comma is also a valid `etagc`, so tags are delimited by their
/// quotes, never by splitting on commas. Yields `Err(())` once on the first
/// malformed member and then stops.
struct Members<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<Member<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        // Skip OWS and empty list elements.
        let mut s = self.rest;
        while let [b' ' | b'\t' | b',', rest @ ..] = s {
            s = rest;
        }
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let parsed = match s {
            [b'*', rest @ ..] => Some((Member::Any, rest)),
            _ => split_entity_tag(s).map(|(tag, rest)| (Member::Tag(tag), rest)),
        };
        // A member ends at OWS followed by a comma or the end of the line.
        let next = parsed.and_then(|(member, rest)| match trim_ows_start(rest) {
            [] => Some((member, &[][..])),
            [b',', rest @ ..] => Some((member, rest)),
            _ => None,
        });
        match next {
            Some((member, rest)) => {
                self.rest = rest;
                Some(Ok(member))
            }
            None => {
                self.rest = &[];
                Some(Err(()))
            }
        }
    }
}

/// Reads a `"*" / #entity-tag` field over all its lines, combined as one list
/// (RFC 9110 §5.3), comparing each tag with `matches` until one matches.
///
/// The whole field is validated even after a match: a field with any bad
/// member is invalid. `*` is valid only as the field's single member. A field
/// with no member at all (`If-None-Match: ,`) is treated as absent: an empty
/// `If-Match` list would otherwise fail every request.
fn read_tag_field<'h>(
    lines: impl Iterator<Item = &'h HeaderValue>,
    mut matches: impl FnMut(ETagRef<'_>) -> bool,
) -> TagField {
    let mut any = false;
    let mut tags = false;
    let mut matched = false;
    for line in lines {
        for member in (Members {
            rest: line.as_bytes(),
        }) {
            match member {
                Err(()) => return TagField::Invalid,
                Ok(Member::Any) => {
                    if any || tags {
                        return TagField::Invalid;
                    }
                    any = true;
                }
                Ok(Member::Tag(tag)) => {
                    if any {
                        return TagField::Invalid;
                    }
                    tags = true;
                    matched = matched || matches(tag);
                }
            }
        }
    }
    match (any, tags) {
        (true, _) => TagField::Any,
        (false, true) => TagField::Tags { matched },
        (false, false) => TagField::Absent,
    }
}

/// Reads an HTTP-date field (RFC 9110 §5.6.7) in any of its three formats.
///
/// RFC 9110 §13.1.3, §13.1.4: a value that is not a valid HTTP-date, or that
/// has more than one member (several lines, or a list, which never parses as
/// one date), is ignored.
fn read_date(lines: FieldLines<'_>) -> Option<SystemTime> {
    if lines.more {
        return None;
    }
    let bytes = trim_ows(lines.first?.as_bytes());
    // HTTP-dates are ASCII; obs-text makes the value invalid, not an error.
    let text = std::str::from_utf8(bytes).ok()?;
    httpdate::parse_http_date(text).ok()
}

/// `t` rounded down to a whole second, the precision of an HTTP-date, so that
/// a `Last-Modified` sent as `12:00:00` is not "later" than an
/// `If-Modified-Since: 12:00:00` because of the 0.4 s the date dropped.
fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after.as_secs()),
        Err(before) => {
            let before = before.duration();
            let secs = before.as_secs() + u64::from(before.subsec_nanos() != 0);
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs))
                .unwrap_or(t)
        }
    }
}

/// Whether two entity-tags are equal by strong comparison (RFC 9110 §8.8.3.2).
fn strong_match(current: Option<ETagRef<'_>>, tag: ETagRef<'_>) -> bool {
    current.is_some_and(|c| !c.weak && !tag.weak && c.opaque == tag.opaque)
}

/// Whether two entity-tags are equal by weak comparison (RFC 9110 §8.8.3.2).
fn weak_match(current: Option<ETagRef<'_>>, tag: ETagRef<'_>) -> bool {
    current.is_some_and(|c| c.opaque == tag.opaque)
}

impl<'a> Preconditions<'a> {
    /// Looks up the four precondition fields; nothing is parsed until
    /// [`evaluate`](Preconditions::evaluate).
    pub fn new(headers: &'a HeaderMap) -> Self {
        Preconditions {
            headers,
            if_match: FieldLines::new(headers, IF_MATCH),
            if_none_match: FieldLines::new(headers, IF_NONE_MATCH),
            if_modified_since: FieldLines::new(headers, IF_MODIFIED_SINCE),
            if_unmodified_since: FieldLines::new(headers, IF_UNMODIFIED_SINCE),
        }
    }

    /// Whether the request sent none of the four fields, valid or not: then
    /// [`evaluate`](Preconditions::evaluate) always returns
    /// [`Outcome::Proceed`].
    pub fn is_empty(&self) -> bool {
        !(self.if_match.is_present()
            || self.if_none_match.is_present()
            || self.if_modified_since.is_present()
            || self.if_unmodified_since.is_present())
    }

    /// The request's header fields, for the content negotiation that
    /// chooses which variant of a stored entry these preconditions judge.
    #[cfg(feature = "compression-core")]
    pub(crate) fn request_headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// Whether `If-Unmodified-Since` was sent, valid or not.
    pub(crate) fn has_if_unmodified_since(&self) -> bool {
        self.if_unmodified_since.is_present()
    }

    /// Whether `If-None-Match` was sent and parses (`*` or a non-empty list of
    /// entity-tags). A field that does not parse counts as absent.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::IF_NONE_MATCH};
    /// use cached_etag_runtime::Preconditions;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(IF_NONE_MATCH, HeaderValue::from_static(r#""a", W/"b""#));
    /// assert!(Preconditions::new(&headers).if_none_match_present());
    /// headers.insert(IF_NONE_MATCH, HeaderValue::from_static(r#""a", b"#));
    /// assert!(!Preconditions::new(&headers).if_none_match_present());
    /// ```
    pub fn if_none_match_present(&self) -> bool {
        let field = read_tag_field(self.lines(self.if_none_match, IF_NONE_MATCH), |_| false);
        matches!(field, TagField::Any | TagField::Tags { .. })
    }

    /// All lines of a field, in order, without a second lookup unless there is
    /// more than one.
    fn lines(
        &self,
        lines: FieldLines<'a>,
        name: HeaderName,
    ) -> impl Iterator<Item = &'a HeaderValue> + use<'a> {
        let headers = self.headers;
        let rest = lines
            .more
            .then(move || headers.get_all(name).into_iter().skip(1));
        lines.first.into_iter().chain(rest.into_iter().flatten())
    }

    /// Evaluates the preconditions in the order of RFC 9110 §13.2.2 for a
    /// request with this method on a resource in this state.
    ///
    /// Returns [`Outcome::Proceed`] for CONNECT, OPTIONS and TRACE, which do
    /// not select a representation (§13.2.1). Allocates nothing.
    pub fn evaluate(&self, method: &Method, current: Current<'_>) -> Outcome {
        // RFC 9110 §13.2.1: a server MUST ignore the conditional fields for
        // methods that neither select nor modify a representation.
        if self.is_empty()
            || *method == Method::CONNECT
            || *method == Method::OPTIONS
            || *method == Method::TRACE
        {
            return Outcome::Proceed;
        }
        let get_or_head = *method == Method::GET || *method == Method::HEAD;
        let etag = current.etag.filter(|_| current.exists).map(ETag::as_ref);
        let last_modified = current
            .last_modified
            .filter(|_| current.exists)
            .map(whole_seconds);

        // Step 1: If-Match, strong comparison (§13.1.1).
        let if_match = if self.if_match.is_present() {
            read_tag_field(self.lines(self.if_match, IF_MATCH), |tag| {
                strong_match(etag, tag)
            })
        } else {
            TagField::Absent
        };
        match if_match {
            TagField::Any if !current.exists => return Outcome::PreconditionFailed,
            // §13.1.1: true only if a listed tag matches; a field that lists
            // no valid tag lists none that matches.
            TagField::Tags { matched: false } | TagField::Invalid => {
                return Outcome::PreconditionFailed;
            }
            TagField::Any | TagField::Tags { matched: true } => {}
            // Step 2: If-Unmodified-Since, only without If-Match (§13.1.4),
            // and ignored when there is no modification date.
            TagField::Absent => {
                if self.if_unmodified_since.is_present()
                    && let Some(date) = read_date(self.if_unmodified_since)
                    && last_modified.is_some_and(|lm| lm > date)
                {
                    return Outcome::PreconditionFailed;
                }
            }
        }

        // Step 3: If-None-Match, weak comparison (§13.1.2).
        let if_none_match = if self.if_none_match.is_present() {
            read_tag_field(self.lines(self.if_none_match, IF_NONE_MATCH), |tag| {
                weak_match(etag, tag)
            })
        } else {
            TagField::Absent
        };
        let failed = if get_or_head {
            Outcome::NotModified
        } else {
            Outcome::PreconditionFailed
        };
        match if_none_match {
            TagField::Any if current.exists => return failed,
            TagField::Tags { matched: true } => return failed,
            TagField::Any | TagField::Tags { matched: false } | TagField::Invalid => {}
            // Step 4: If-Modified-Since, only for GET and HEAD and only when
            // the request has no If-None-Match at all (§13.1.3: ignored "if
            // the request contains an If-None-Match header field"), valid or
            // not; a field of only commas was never a condition.
            TagField::Absent => {
                if get_or_head
                    && self.if_modified_since.is_present()
                    && let Some(date) = read_date(self.if_modified_since)
                    && last_modified.is_some_and(|lm| lm <= date)
                {
                    return Outcome::NotModified;
                }
            }
        }

        // Step 5.
        Outcome::Proceed
    }
}

/// The fields a 304 carries (RFC 9110 §15.4.5) taken from the headers the 200
/// would have had: `Cache-Control`, `Content-Location`, `Date`, `ETag`,
/// `Expires`, `Vary`, plus `Last-Modified` where set. Every line of each is
/// kept; nothing else is.
///
/// `Last-Modified` is representation metadata that §15.4.5 asks a sender not
/// to generate "unless said metadata exists for the purpose of guiding cache
/// updates", naming `Last-Modified` as its example. It does here: a cache
/// freshening its stored response from the 304 (RFC 9111 §4.3.4) updates its
/// stored `Last-Modified`, which its next `If-Modified-Since` then sends.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header};
/// use cached_etag_runtime::conditional::not_modified_headers;
///
/// let mut ok = HeaderMap::new();
/// ok.insert(header::ETAG, HeaderValue::from_static(r#"W/"1""#));
/// ok.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
/// let not_modified = not_modified_headers(&ok);
/// assert!(not_modified.contains_key(header::ETAG));
/// assert!(!not_modified.contains_key(header::CONTENT_TYPE));
/// ```
pub fn not_modified_headers(headers: &HeaderMap) -> HeaderMap {
    const KEPT: [HeaderName; 7] = [
        CACHE_CONTROL,
        CONTENT_LOCATION,
        DATE,
        ETAG,
        EXPIRES,
        VARY,
        LAST_MODIFIED,
    ];
    // One pass over the 200's few fields, rather than a lookup per kept
    // name; room for the validators a stored entry adds.
    let mut out = HeaderMap::with_capacity(headers.keys_len().min(KEPT.len()) + 2);
    for (name, value) in headers {
        if KEPT.contains(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE};

    const T0: u64 = 1_732_442_400;
    /// `T0` as an IMF-fixdate.
    const T0_DATE: &str = "Sun, 24 Nov 2024 10:00:00 GMT";

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    fn map(fields: &[(HeaderName, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(name.clone(), HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    fn eval(fields: &[(HeaderName, &[u8])], method: Method, current: Current<'_>) -> Outcome {
        let headers = map(fields);
        Preconditions::new(&headers).evaluate(&method, current)
    }

    fn tag(s: &str) -> ETag {
        s.parse().unwrap()
    }

    use Outcome::{NotModified, PreconditionFailed, Proceed};

    #[test]
    fn t0_date_is_t0() {
        assert_eq!(httpdate::parse_http_date(T0_DATE).unwrap(), at(T0, 0));
    }

    #[test]
    fn rfc9110_13_2_2_no_preconditions_proceed() {
        let headers = map(&[(CONTENT_TYPE, b"text/plain")]);
        let p = Preconditions::new(&headers);
        assert!(p.is_empty());
        assert_eq!(p.evaluate(&Method::GET, Current::default()), Proceed);
        let e = tag(r#""a""#);
        assert_eq!(
            p.evaluate(&Method::PUT, Current::new(Some(&e), None)),
            Proceed
        );
    }

    #[test]
    fn is_empty_counts_invalid_fields_as_sent() {
        for name in [
            IF_MATCH,
            IF_NONE_MATCH,
            IF_MODIFIED_SINCE,
            IF_UNMODIFIED_SINCE,
        ] {
            let headers = map(&[(name.clone(), b"garbage")]);
            assert!(!Preconditions::new(&headers).is_empty(), "{name}");
        }
    }

    #[test]
    fn rfc9110_13_2_2_step1_if_match_strong() {
        let strong = tag(r#""v1""#);
        let weak = tag(r#"W/"v1""#);
        let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, br#""v0", "v1""#)];
        assert_eq!(
            eval(h, Method::PUT, Current::new(Some(&strong), None)),
            Proceed
        );
        // Strong comparison: a weak current tag never matches.
        assert_eq!(
            eval(h, Method::PUT, Current::new(Some(&weak), None)),
            PreconditionFailed
        );
        // A weak tag in the request never matches either.
        let hw: &[(HeaderName, &[u8])] = &[(IF_MATCH, br#"W/"v1""#)];
        assert_eq!(
            eval(hw, Method::PUT, Current::new(Some(&strong), None)),
            PreconditionFailed
        );
        let other = tag(r#""v2""#);
        assert_eq!(
            eval(h, Method::GET, Current::new(Some(&other), None)),
            PreconditionFailed
        );
    }

    #[test]
    fn rfc9110_13_2_2_step1_if_match_star() {
        let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, b"*")];
        assert_eq!(eval(h, Method::PUT, Current::new(None, None)), Proceed);
        assert_eq!(eval(h, Method::PUT, Current::missing()), PreconditionFailed);
    }

    #[test]
    fn rfc9110_13_2_2_step1_if_match_without_current_etag_fails() {
        let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, br#""v1""#)];
        assert_eq!(
            eval(h, Method::PUT, Current::new(None, None)),
            PreconditionFailed
        );
        let e = tag(r#""v1""#);
        // A missing resource has no representation, whatever etag is passed.
        let ghost = Current {
            exists: false,
            etag: Some(&e),
            last_modified: None,
        };
        assert_eq!(eval(h, Method::PUT, ghost), PreconditionFailed);
    }

    #[test]
    fn rfc9110_13_2_2_step1_if_match_failure_wins_over_if_none_match() {
        let e = tag(r#""v1""#);
        let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, br#""v2""#), (IF_NONE_MATCH, br#""v1""#)];
        assert_eq!(
            eval(h, Method::GET, Current::new(Some(&e), None)),
            PreconditionFailed
        );
    }

    #[test]
    fn rfc9110_13_2_2_step2_if_unmodified_since() {
        let h: &[(HeaderName, &[u8])] = &[(IF_UNMODIFIED_SINCE, T0_DATE.as_bytes())];
        let modified_after = Current::new(None, Some(at(T0 + 1, 0)));
        let same_second = Current::new(None, Some(at(T0, 999_999_999)));
        let before = Current::new(None, Some(at(T0 - 1, 0)));
        assert_eq!(eval(h, Method::PUT, modified_after), PreconditionFailed);
        assert_eq!(eval(h, Method::GET, modified_after), PreconditionFailed);
        assert_eq!(eval(h, Method::PUT, same_second), Proceed);
        assert_eq!(eval(h, Method::PUT, before), Proceed);
    }

    #[test]
    fn rfc9110_13_1_4_if_unmodified_since_ignored_without_last_modified() {
        let h: &[(HeaderName, &[u8])] = &[(IF_UNMODIFIED_SINCE, b"Thu, 01 Jan 1970 00:00:00 GMT")];
        assert_eq!(eval(h, Method::PUT, Current::new(None, None)), Proceed);
        assert_eq!(
            eval(h, Method::PUT, Current::new(None, Some(at(T0, 0)))),
            PreconditionFailed
        );
    }

    #[test]
    fn rfc9110_13_1_4_if_unmodified_since_ignored_with_if_match() {
        let e = tag(r#""v1""#);
        let current = Current::new(Some(&e), Some(at(T0 + 10, 0)));
        let h: &[(HeaderName, &[u8])] = &[
            (IF_MATCH, br#""v1""#),
            (IF_UNMODIFIED_SINCE, T0_DATE.as_bytes()),
        ];
        assert_eq!(eval(h, Method::PUT, current), Proceed);
        // An If-Match that does not parse is false, whatever the date says.
        let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, b"v1"), (IF_UNMODIFIED_SINCE, b"")];
        assert_eq!(eval(h, Method::PUT, current), PreconditionFailed);
        // An empty one is no condition: If-Unmodified-Since applies.
        let h: &[(HeaderName, &[u8])] =
            &[(IF_MATCH, b""), (IF_UNMODIFIED_SINCE, T0_DATE.as_bytes())];
        assert_eq!(eval(h, Method::PUT, current), PreconditionFailed);
    }

    #[test]
    fn rfc9110_13_1_4_if_unmodified_since_invalid_or_list_ignored() {
        let current = Current::new(None, Some(at(T0 + 10, 0)));
        let list = format!("{T0_DATE}, {T0_DATE}");
        for value in [b"yesterday".as_slice(), list.as_bytes(), b"", b"\xFFday"] {
            let h: &[(HeaderName, &[u8])] = &[(IF_UNMODIFIED_SINCE, value)];
            assert_eq!(eval(h, Method::PUT, current), Proceed, "{value:?}");
        }
        let two_lines: &[(HeaderName, &[u8])] = &[
            (IF_UNMODIFIED_SINCE, T0_DATE.as_bytes()),
            (IF_UNMODIFIED_SINCE, T0_DATE.as_bytes()),
        ];
        assert_eq!(eval(two_lines, Method::PUT, current), Proceed);
    }

    #[test]
    fn rfc9110_13_2_2_step3_if_none_match_weak() {
        let current_weak = tag(r#"W/"v1""#);
        let current_strong = tag(r#""v1""#);
        for value in [br#""v1""#.as_slice(), br#"W/"v1""#, br#""v0", W/"v1""#] {
            let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, value)];
            for current in [&current_weak, &current_strong] {
                let c = Current::new(Some(current), None);
                assert_eq!(eval(h, Method::GET, c), NotModified, "{value:?} {current}");
                assert_eq!(eval(h, Method::HEAD, c), NotModified, "{value:?} {current}");
                assert_eq!(eval(h, Method::PUT, c), PreconditionFailed, "{value:?}");
                assert_eq!(eval(h, Method::POST, c), PreconditionFailed, "{value:?}");
                assert_eq!(eval(h, Method::DELETE, c), PreconditionFailed, "{value:?}");
            }
        }
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, br#""v2", W/"v3""#)];
        let c = Current::new(Some(&current_weak), None);
        assert_eq!(eval(h, Method::GET, c), Proceed);
        assert_eq!(eval(h, Method::PUT, c), Proceed);
    }

    #[test]
    fn rfc9110_13_2_2_step3_if_none_match_star() {
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, b"*")];
        assert_eq!(eval(h, Method::GET, Current::new(None, None)), NotModified);
        assert_eq!(
            eval(h, Method::PUT, Current::new(None, None)),
            PreconditionFailed
        );
        // The "create only if absent" use of `If-None-Match: *`.
        assert_eq!(eval(h, Method::PUT, Current::missing()), Proceed);
        assert_eq!(eval(h, Method::GET, Current::missing()), Proceed);
    }

    #[test]
    fn rfc9110_13_2_2_step3_if_none_match_without_current_etag_does_not_match() {
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, br#""v1""#)];
        assert_eq!(eval(h, Method::GET, Current::new(None, None)), Proceed);
        let e = tag(r#""v1""#);
        let ghost = Current {
            exists: false,
            etag: Some(&e),
            last_modified: None,
        };
        assert_eq!(eval(h, Method::GET, ghost), Proceed);
    }

    #[test]
    fn rfc9110_13_2_2_step4_if_modified_since() {
        let h: &[(HeaderName, &[u8])] = &[(IF_MODIFIED_SINCE, T0_DATE.as_bytes())];
        // Last-Modified truncated to the second: equal means not modified.
        for lm in [at(T0, 0), at(T0, 999_999_999), at(T0 - 100, 0)] {
            let c = Current::new(None, Some(lm));
            assert_eq!(eval(h, Method::GET, c), NotModified, "{lm:?}");
            assert_eq!(eval(h, Method::HEAD, c), NotModified, "{lm:?}");
        }
        let newer = Current::new(None, Some(at(T0 + 1, 0)));
        assert_eq!(eval(h, Method::GET, newer), Proceed);
        // No modification date: nothing to compare.
        assert_eq!(eval(h, Method::GET, Current::new(None, None)), Proceed);
    }

    #[test]
    fn rfc9110_13_1_3_if_modified_since_only_for_get_and_head() {
        let h: &[(HeaderName, &[u8])] = &[(IF_MODIFIED_SINCE, T0_DATE.as_bytes())];
        let c = Current::new(None, Some(at(T0 - 100, 0)));
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(eval(h, method.clone(), c), Proceed, "{method}");
        }
    }

    #[test]
    fn rfc9110_13_1_3_if_modified_since_ignored_with_if_none_match() {
        let e = tag(r#"W/"v2""#);
        let c = Current::new(Some(&e), Some(at(T0 - 100, 0)));
        let h: &[(HeaderName, &[u8])] = &[
            (IF_NONE_MATCH, br#"W/"v1""#),
            (IF_MODIFIED_SINCE, T0_DATE.as_bytes()),
        ];
        assert_eq!(eval(h, Method::GET, c), Proceed);
        // An If-None-Match that does not parse matches nothing, and is still
        // present: the date is ignored all the same.
        let h: &[(HeaderName, &[u8])] = &[
            (IF_NONE_MATCH, b"W/v1"),
            (IF_MODIFIED_SINCE, T0_DATE.as_bytes()),
        ];
        assert_eq!(eval(h, Method::GET, c), Proceed);
        // A field of only commas lists nothing: the date applies.
        let h: &[(HeaderName, &[u8])] = &[
            (IF_NONE_MATCH, b" , "),
            (IF_MODIFIED_SINCE, T0_DATE.as_bytes()),
        ];
        assert_eq!(eval(h, Method::GET, c), NotModified);
    }

    #[test]
    fn rfc9110_13_1_3_if_modified_since_invalid_or_list_ignored() {
        let c = Current::new(None, Some(at(T0 - 100, 0)));
        let list = format!("{T0_DATE}, {T0_DATE}");
        for value in [b"yesterday".as_slice(), list.as_bytes(), b"-1", b"\x80"] {
            let h: &[(HeaderName, &[u8])] = &[(IF_MODIFIED_SINCE, value)];
            assert_eq!(eval(h, Method::GET, c), Proceed, "{value:?}");
        }
        let two_lines: &[(HeaderName, &[u8])] = &[
            (IF_MODIFIED_SINCE, T0_DATE.as_bytes()),
            (IF_MODIFIED_SINCE, T0_DATE.as_bytes()),
        ];
        assert_eq!(eval(two_lines, Method::GET, c), Proceed);
    }

    #[test]
    fn rfc9110_5_6_7_all_three_date_formats() {
        let c = Current::new(None, Some(at(T0, 0)));
        for value in [
            T0_DATE,
            "Sunday, 24-Nov-24 10:00:00 GMT",
            "Sun Nov 24 10:00:00 2024",
            // Surrounding OWS.
            " Sun, 24 Nov 2024 10:00:00 GMT\t",
        ] {
            let h: &[(HeaderName, &[u8])] = &[(IF_MODIFIED_SINCE, value.as_bytes())];
            assert_eq!(eval(h, Method::GET, c), NotModified, "{value}");
        }
    }

    #[test]
    fn rfc9110_5_3_lines_combine_into_one_list() {
        let e = tag(r#""v3""#);
        let c = Current::new(Some(&e), None);
        let h: &[(HeaderName, &[u8])] = &[
            (IF_NONE_MATCH, br#""v1""#),
            (IF_NONE_MATCH, br#""v2", "v3""#),
        ];
        assert_eq!(eval(h, Method::GET, c), NotModified);
        let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, br#""v1""#), (IF_MATCH, br#""v3""#)];
        assert_eq!(eval(h, Method::PUT, c), Proceed);
        // A bad member on any line makes the whole field absent.
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, br#""v3""#), (IF_NONE_MATCH, b"v4")];
        assert_eq!(eval(h, Method::GET, c), Proceed);
    }

    #[test]
    fn rfc9110_5_6_1_empty_elements_and_ows_tolerated() {
        let e = tag(r#""v2""#);
        let c = Current::new(Some(&e), None);
        for value in [
            br#", ,"v1" ,, "v2","#.as_slice(),
            b"\t\"v1\"\t,\t\"v2\"\t",
            br#""v1","v2""#,
            br#"  "v2"  "#,
        ] {
            let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, value)];
            assert_eq!(eval(h, Method::GET, c), NotModified, "{value:?}");
        }
    }

    #[test]
    fn rfc9110_8_8_3_comma_inside_a_tag_is_not_a_separator() {
        let e = tag(r#""a,b""#);
        let c = Current::new(Some(&e), None);
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, br#""x", "a,b""#)];
        assert_eq!(eval(h, Method::GET, c), NotModified);
        let a = tag(r#""a""#);
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, br#""a,b""#)];
        assert_eq!(eval(h, Method::GET, Current::new(Some(&a), None)), Proceed);
    }

    #[test]
    fn rfc9110_13_1_2_malformed_if_none_match_matches_nothing() {
        let e = tag(r#""v1""#);
        let c = Current::new(Some(&e), None);
        for value in [
            br#""v1", v2"#.as_slice(),
            br#""v1", *"#,
            br#"*, "v1""#,
            b"*, *",
            br#""v1"#,
            br#"w/"v1""#,
            br#""v1" "v2""#,
            br#""v1";q=1"#,
            b"\"v1\", \"a b\"",
            b"**",
            b"",
            b" , ",
        ] {
            let headers = map(&[(IF_NONE_MATCH, value)]);
            let p = Preconditions::new(&headers);
            assert!(!p.if_none_match_present(), "{value:?}");
            assert_eq!(p.evaluate(&Method::GET, c), Proceed, "{value:?}");
            assert_eq!(p.evaluate(&Method::PUT, c), Proceed, "{value:?}");
        }
        // `*` on two lines is `*, *`.
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, b"*"), (IF_NONE_MATCH, b"*")];
        assert_eq!(eval(h, Method::GET, c), Proceed);
    }

    #[test]
    fn rfc9110_13_1_1_malformed_if_match_is_false() {
        let e = tag(r#""v1""#);
        let c = Current::new(Some(&e), None);
        // A present If-Match that lists no valid entity-tag lists none that
        // matches: 412, never a write let through.
        for value in [
            br#""v1", v2"#.as_slice(),
            br#""v1", *"#,
            b"*,*",
            b"xyzzy",
            br#"w/"v1""#,
            br#""v1"#,
        ] {
            let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, value)];
            assert_eq!(eval(h, Method::PUT, c), PreconditionFailed, "{value:?}");
            assert_eq!(eval(h, Method::GET, c), PreconditionFailed, "{value:?}");
        }
        // An empty value, or only commas, was never a condition.
        for value in [b"".as_slice(), b",", b" , "] {
            let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, value)];
            assert_eq!(eval(h, Method::PUT, c), Proceed, "{value:?}");
        }
    }

    #[test]
    fn obs_text_is_compared_as_bytes() {
        let e = tag("\"caf\u{e9}\"");
        let c = Current::new(Some(&e), None);
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, "\"caf\u{e9}\"".as_bytes())];
        assert_eq!(eval(h, Method::GET, c), NotModified);
        // Not UTF-8, but valid obs-text: a valid field that does not match.
        let h: &[(HeaderName, &[u8])] = &[(IF_NONE_MATCH, b"\"caf\xE9\"")];
        let headers = map(h);
        assert!(Preconditions::new(&headers).if_none_match_present());
        assert_eq!(eval(h, Method::GET, c), Proceed);
    }

    #[test]
    fn rfc9110_13_2_1_ignored_for_connect_options_trace() {
        let c = Current::missing();
        let h: &[(HeaderName, &[u8])] = &[(IF_MATCH, b"*")];
        for method in [Method::CONNECT, Method::OPTIONS, Method::TRACE] {
            assert_eq!(eval(h, method.clone(), c), Proceed, "{method}");
        }
        assert_eq!(eval(h, Method::PATCH, c), PreconditionFailed);
    }

    #[test]
    fn if_none_match_present_reports_valid_fields() {
        for (value, present) in [
            (b"*".as_slice(), true),
            (br#""a""#, true),
            (br#", W/"a","#, true),
            (br#"a"#, false),
        ] {
            let headers = map(&[(IF_NONE_MATCH, value)]);
            assert_eq!(
                Preconditions::new(&headers).if_none_match_present(),
                present
            );
        }
        assert!(!Preconditions::new(&HeaderMap::new()).if_none_match_present());
    }

    #[test]
    fn debug_shows_only_precondition_fields() {
        let headers = map(&[
            (IF_NONE_MATCH, br#""v1""#),
            (http::header::AUTHORIZATION, b"Bearer secret"),
        ]);
        let text = format!("{:?}", Preconditions::new(&headers));
        assert!(text.contains("v1"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn whole_seconds_rounds_down() {
        assert_eq!(whole_seconds(at(5, 999_999_999)), at(5, 0));
        assert_eq!(whole_seconds(at(5, 0)), at(5, 0));
        let before = UNIX_EPOCH - Duration::new(1, 500_000_000);
        assert_eq!(whole_seconds(before), UNIX_EPOCH - Duration::from_secs(2));
        let exact = UNIX_EPOCH - Duration::from_secs(3);
        assert_eq!(whole_seconds(exact), exact);
    }

    #[test]
    fn rfc9110_15_4_5_not_modified_headers() {
        let headers = map(&[
            (CACHE_CONTROL, b"private, max-age=300"),
            (CONTENT_LOCATION, b"/images/42"),
            (DATE, T0_DATE.as_bytes()),
            (ETAG, br#"W/"42-1732442400""#),
            (EXPIRES, T0_DATE.as_bytes()),
            (VARY, b"accept"),
            (VARY, b"accept-encoding"),
            (LAST_MODIFIED, T0_DATE.as_bytes()),
            (CONTENT_TYPE, b"application/json"),
            (CONTENT_LENGTH, b"123"),
            (SET_COOKIE, b"a=b"),
            (http::header::CONTENT_ENCODING, b"gzip"),
        ]);
        let out = not_modified_headers(&headers);
        assert_eq!(out.len(), 8);
        for name in [
            CACHE_CONTROL,
            CONTENT_LOCATION,
            DATE,
            ETAG,
            EXPIRES,
            LAST_MODIFIED,
        ] {
            assert_eq!(out.get(&name), headers.get(&name), "{name}");
        }
        let vary: Vec<_> = out.get_all(VARY).iter().collect();
        assert_eq!(
            vary,
            [
                &HeaderValue::from_static("accept"),
                &HeaderValue::from_static("accept-encoding")
            ]
        );
        for name in [CONTENT_TYPE, CONTENT_LENGTH, SET_COOKIE] {
            assert!(!out.contains_key(&name), "{name}");
        }
        assert!(not_modified_headers(&HeaderMap::new()).is_empty());
    }
}
