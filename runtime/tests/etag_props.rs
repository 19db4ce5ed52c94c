//! Properties of entity-tag parsing, formatting and precondition evaluation
//! over generated inputs: nothing panics, valid tags round-trip, parsing
//! agrees with an independent reading of the RFC 9110 §8.8.3 grammar, the
//! escaping styles always give valid, injective tags, and list evaluation
//! agrees with a model of §13.1.2.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cached_etag_runtime::conditional::Current;
use cached_etag_runtime::{ETag, Outcome, Preconditions};
use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;

/// The grammar, read independently of the implementation: optional OWS,
/// optional `W/`, a quoted run of etagc, optional OWS.
fn oracle(bytes: &[u8]) -> Option<(Vec<u8>, bool)> {
    let trimmed = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .map(|start| {
            let end = bytes
                .iter()
                .rposition(|b| !matches!(b, b' ' | b'\t'))
                .unwrap();
            &bytes[start..=end]
        })?;
    let (weak, rest) = match trimmed.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let inner = rest.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let etagc = |b: &u8| *b == 0x21 || (0x23..=0x7E).contains(b) || *b >= 0x80;
    inner.iter().all(etagc).then(|| (inner.to_vec(), weak))
}

/// Percent-decodes the opaque part of a `from_string` tag.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Bytes that are `etagc` and printable ASCII, plus a few non-ASCII chars
/// (obs-text as UTF-8).
fn opaque() -> impl Strategy<Value = String> {
    "[!#-~\u{e9}\u{3b1}\u{1F600}]{0,24}"
}

fn etag() -> impl Strategy<Value = ETag> {
    (opaque(), any::<bool>()).prop_map(|(o, weak)| ETag::strong(&o).unwrap().with_weak(weak))
}

/// Any time within a few centuries either side of the epoch, nanoseconds
/// included.
fn system_time() -> impl Strategy<Value = SystemTime> {
    (any::<bool>(), 0u64..10_000_000_000, 0u32..1_000_000_000).prop_map(|(before, secs, nanos)| {
        let d = Duration::new(secs, nanos);
        if before {
            UNIX_EPOCH - d
        } else {
            UNIX_EPOCH + d
        }
    })
}

/// A short string over an alphabet chosen to provoke escaping collisions.
fn tricky() -> impl Strategy<Value = String> {
    "[a%25 \"\\-\u{0}\u{7f}\u{e9}]{0,8}"
}

/// Header values as a client could send them: whatever `HeaderValue`
/// accepts, biased towards the characters of the grammar.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        proptest::collection::vec(
            prop::sample::select(b"W/\"*, \tab\x01\x7f\x80\xff".to_vec()),
            0..48
        ),
    ]
}

const FIELDS: [HeaderName; 4] = [
    IF_MATCH,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::HEAD,
    Method::PUT,
    Method::POST,
    Method::OPTIONS,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_agrees_with_the_grammar(bytes in header_bytes()) {
        let parsed = ETag::parse(&bytes);
        let expected = oracle(&bytes).filter(|(o, _)| std::str::from_utf8(o).is_ok());
        match (parsed, expected) {
            (Ok(tag), Some((opaque, weak))) => {
                prop_assert_eq!(tag.opaque().as_bytes(), &opaque[..]);
                prop_assert_eq!(tag.is_weak(), weak);
            }
            (Err(_), None) => {}
            (parsed, expected) => prop_assert!(false, "{:?} vs {:?}", parsed, expected),
        }
    }

    #[test]
    fn valid_tags_round_trip(tag in etag(), pad_left in "[ \t]{0,2}", pad_right in "[ \t]{0,2}") {
        let text = tag.to_string();
        prop_assert_eq!(&text.parse::<ETag>().unwrap(), &tag);
        let padded = format!("{pad_left}{text}{pad_right}");
        prop_assert_eq!(&ETag::parse(padded.as_bytes()).unwrap(), &tag);
        let value = tag.to_header_value();
        prop_assert_eq!(value.as_bytes(), text.as_bytes());
        prop_assert_eq!(&ETag::try_from(&value).unwrap(), &tag);
        prop_assert_eq!(&ETag::weak(tag.opaque()).unwrap(), &tag.clone().into_weak());
    }

    #[test]
    fn from_string_is_valid_and_decodes_back(s in any::<String>()) {
        let tag = ETag::from_string(&s);
        prop_assert!(tag.is_weak());
        prop_assert!(tag.opaque().bytes().all(|b| b.is_ascii_graphic() && b != b'"'));
        prop_assert!(HeaderValue::from_bytes(tag.to_string().as_bytes()).is_ok());
        prop_assert_eq!(&ETag::parse(tag.to_string().as_bytes()).unwrap(), &tag);
        prop_assert_eq!(unescape(tag.opaque()), Some(s.into_bytes()));
    }

    #[test]
    fn from_string_is_injective(a in tricky(), b in tricky()) {
        if a != b {
            prop_assert_ne!(ETag::from_string(&a), ETag::from_string(&b));
        }
        // The likeliest collision: a string against its own escaped text.
        let escaped = ETag::from_string(&a).opaque().to_owned();
        if escaped != a {
            prop_assert_ne!(ETag::from_string(&a), ETag::from_string(&escaped));
        }
    }

    #[test]
    fn composite_is_valid(id in any::<String>(), t in system_time()) {
        let tag = ETag::composite(&id, t);
        prop_assert!(HeaderValue::from_bytes(tag.to_string().as_bytes()).is_ok());
        prop_assert_eq!(&ETag::parse(tag.to_string().as_bytes()).unwrap(), &tag);
    }

    #[test]
    fn composite_is_injective(
        a in tricky(), b in tricky(),
        ta in system_time(), tb in system_time(),
        same_time in any::<bool>(),
        small in any::<bool>(),
    ) {
        // Small times near the epoch make `-` signs and separators collide
        // if the encoding were ambiguous.
        let shrink = |t: SystemTime| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs() % 3),
            Err(e) => UNIX_EPOCH - Duration::from_secs(e.duration().as_secs() % 3 + 1),
        };
        let (ta, tb) = if small { (shrink(ta), shrink(tb)) } else { (ta, tb) };
        let tb = if same_time { ta } else { tb };
        if (&a, ta) != (&b, tb) {
            prop_assert_ne!(ETag::composite(&a, ta), ETag::composite(&b, tb));
        }
        // The likeliest collision: an id ending in `-` before a time, against
        // the id without it before the time's mirror image across the epoch.
        let mirror = match ta.duration_since(UNIX_EPOCH) {
            Ok(d) => UNIX_EPOCH.checked_sub(d),
            Err(e) => UNIX_EPOCH.checked_add(e.duration()),
        };
        if let Some(mirror) = mirror.filter(|m| *m != ta) {
            prop_assert_ne!(ETag::composite(format!("{a}-"), ta), ETag::composite(&a, mirror));
        }
    }

    #[test]
    fn timestamps_are_distinct_and_exact(a in system_time(), b in system_time()) {
        let (ta, tb) = (ETag::from_timestamp(a), ETag::from_timestamp(b));
        prop_assert_eq!(a == b, ta == tb);
        // The text is the decimal value of the time.
        let text = ta.opaque();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (secs, frac) = digits.split_once('.').unwrap_or((digits, ""));
        prop_assert!(frac.len() <= 9 && !frac.ends_with('0'));
        let nanos: u32 = format!("{frac:0<9}").parse().unwrap();
        let d = Duration::new(secs.parse().unwrap(), nanos);
        prop_assert_eq!(if negative { UNIX_EPOCH - d } else { UNIX_EPOCH + d }, a);
    }

    #[test]
    fn preconditions_never_panic_and_never_304_other_methods(
        lines in proptest::collection::vec((0usize..4, header_bytes()), 0..6),
        current in proptest::option::of(etag()),
        exists in any::<bool>(),
        last_modified in proptest::option::of(system_time()),
    ) {
        let mut headers = HeaderMap::new();
        for (field, bytes) in &lines {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                headers.append(FIELDS[*field].clone(), value);
            }
        }
        let p = Preconditions::new(&headers);
        let current = Current { exists, etag: current.as_ref(), last_modified };
        for method in &METHODS {
            let outcome = p.evaluate(method, current);
            if p.is_empty() || *method == Method::OPTIONS {
                prop_assert_eq!(outcome, Outcome::Proceed);
            }
            if outcome == Outcome::NotModified {
                prop_assert!(*method == Method::GET || *method == Method::HEAD);
            }
        }
    }

    #[test]
    fn if_none_match_lists_follow_weak_comparison(
        list in proptest::collection::vec(etag(), 1..6),
        current in etag(),
        include in any::<bool>(),
        at in any::<prop::sample::Index>(),
        separators in proptest::collection::vec("[ \t]{0,2},[ \t,]{0,3}", 6),
        split in any::<prop::sample::Index>(),
    ) {
        let mut list = list;
        if include {
            // Insert the current tag, possibly with the other weakness: weak
            // comparison must still match.
            let flipped = current.clone().with_weak(!current.is_weak());
            list.insert(at.index(list.len() + 1), flipped);
        }
        let expected = list.iter().any(|t| t.weak_eq(&current));
        // Render across two lines, with OWS and empty elements between members.
        let cut = split.index(list.len() + 1);
        let mut headers = HeaderMap::new();
        for part in [&list[..cut], &list[cut..]] {
            let mut line = String::new();
            for (i, tag) in part.iter().enumerate() {
                if i > 0 {
                    line.push_str(&separators[i % separators.len()]);
                }
                line.push_str(&tag.to_string());
            }
            headers.append(IF_NONE_MATCH, HeaderValue::from_str(&line).unwrap_or_else(|_| {
                HeaderValue::from_bytes(line.as_bytes()).unwrap()
            }));
        }
        let p = Preconditions::new(&headers);
        prop_assert!(p.if_none_match_present());
        let c = Current::new(Some(&current), None);
        let want = if expected { Outcome::NotModified } else { Outcome::Proceed };
        prop_assert_eq!(p.evaluate(&Method::GET, c), want);

        // The same list with one malformed member is absent as a whole.
        headers.append(IF_NONE_MATCH, HeaderValue::from_static("unquoted"));
        let p = Preconditions::new(&headers);
        prop_assert!(!p.if_none_match_present());
        prop_assert_eq!(p.evaluate(&Method::GET, c), Outcome::Proceed);
    }

    #[test]
    fn if_match_lists_follow_strong_comparison(
        list in proptest::collection::vec(etag(), 1..6),
        current in etag(),
        include in any::<bool>(),
    ) {
        let mut list = list;
        if include {
            list.push(current.clone());
        }
        let expected = list.iter().any(|t| t.strong_eq(&current));
        let line = list.iter().map(ETag::to_string).collect::<Vec<_>>().join(", ");
        let mut headers = HeaderMap::new();
        headers.insert(IF_MATCH, HeaderValue::from_bytes(line.as_bytes()).unwrap());
        let c = Current::new(Some(&current), None);
        let want = if expected { Outcome::Proceed } else { Outcome::PreconditionFailed };
        prop_assert_eq!(Preconditions::new(&headers).evaluate(&Method::PUT, c), want);
    }
}
