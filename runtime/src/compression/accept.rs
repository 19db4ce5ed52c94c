//! What a request's `Accept-Encoding` accepts, and in which order of
//! preference (RFC 9110 §12.5.3).
//!
//! Parsed in place from the header's bytes, allocating nothing. A member
//! that does not parse (a bad q-value, stray bytes) is skipped, as if it
//! were not sent; no input panics. Only the codings a cache can serve are
//! kept: `br`, `zstd`, `gzip` (and its alias `x-gzip`, §8.4.1.3), `identity`
//! and `*`.

use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

use super::Coding;

/// A q-value in thousandths (RFC 9110 §12.4.2: at most three decimals).
type Quality = u16;

/// The weight an `identity` the request does not list gets: acceptable
/// (§12.5.3: "unless specifically excluded"), but after every coding the
/// request lists with a weight of its own.
const UNLISTED_IDENTITY: Quality = 0;

/// The request's weights for what a cache can serve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// The weight of each coding, by `Coding as usize`, as listed.
    listed: [Option<Quality>; Coding::ALL.len()],
    identity: Option<Quality>,
    any: Option<Quality>,
    /// Whether the field was sent at all.
    sent: bool,
}

/// One representation a request may be answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Coded with this content coding.
    Coded(Coding),
    /// As stored, without a content coding.
    Identity,
}

impl Accepted {
    /// The weights of the request's `Accept-Encoding` lines.
    pub(crate) fn of(headers: &HeaderMap) -> Accepted {
        let mut accepted = Accepted::default();
        for line in headers.get_all(ACCEPT_ENCODING) {
            accepted.sent = true;
            for member in line.as_bytes().split(|b| *b == b',') {
                accepted.read_member(member);
            }
        }
        accepted
    }

    /// Whether the request accepts any content coding at all: without one
    /// (no field, or only `identity`), the answer is the stored body.
    pub(crate) fn wants_a_coding(&self) -> bool {
        self.sent
            && (self.listed.iter().any(|q| q.is_some_and(|q| q > 0))
                || self.any.is_some_and(|q| q > 0))
    }

    fn read_member(&mut self, member: &[u8]) {
        let mut parts = member.split(|b| *b == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        if name.is_empty() {
            return;
        }
        let mut quality = 1000;
        for parameter in parts {
            let mut pair = parameter.splitn(2, |b| *b == b'=');
            let key = pair.next().unwrap_or_default().trim_ascii();
            if !key.eq_ignore_ascii_case(b"q") {
                continue;
            }
            match pair.next().and_then(|v| parse_quality(v.trim_ascii())) {
                Some(q) => quality = q,
                // A weight that does not parse makes the member unreadable.
                None => return,
            }
        }
        let slot = if name == b"*" {
            &mut self.any
        } else if name.eq_ignore_ascii_case(b"identity") {
            &mut self.identity
        } else if let Some(coding) = Coding::from_token(name) {
            &mut self.listed[coding as usize]
        } else {
            return;
        };
        // A coding listed twice: the first weight stands, as in most servers.
        slot.get_or_insert(quality);
    }

    /// The weight of `choice` for this request; `None` when unacceptable.
    fn quality(&self, choice: Choice) -> Option<Quality> {
        let q = match choice {
            Choice::Coded(coding) => self.listed[coding as usize].or(self.any).unwrap_or(0),
            // §12.5.3: identity is excluded only by `identity;q=0`, or by
            // `*;q=0` without a more specific `identity` member.
            Choice::Identity => match (self.identity, self.any) {
                (Some(q), _) => q,
                (None, Some(0)) => 0,
                (None, _) => {
                    return Some(UNLISTED_IDENTITY);
                }
            },
        };
        (q > 0).then_some(q)
    }

    /// The acceptable representations among `codings` and identity, most
    /// preferred first: by the request's weight, ties broken by the order
    /// of `codings` (the server's preference), identity after the codings
    /// of its weight. Identity is last when nothing else is acceptable,
    /// even if excluded: a server that has nothing acceptable may send it
    /// (§12.5.3), which beats a 406 for a cached document.
    pub(crate) fn preference(&self, codings: &[Coding]) -> Preference {
        let mut pairs = [(0, Choice::Identity); Coding::ALL.len() + 1];
        let mut len = 0;
        if self.sent {
            for &coding in codings {
                if let Some(q) = self.quality(Choice::Coded(coding)) {
                    pairs[len] = (q, Choice::Coded(coding));
                    len += 1;
                }
            }
        }
        pairs[len] = (
            self.quality(Choice::Identity).unwrap_or(0),
            Choice::Identity,
        );
        len += 1;
        // A stable sort by weight keeps the server's order among equals;
        // identity, pushed last, stays after the codings of its weight.
        pairs[..len].sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
        Preference { pairs, len }
    }

    /// Whether `choice` is acceptable to this request: identity unless
    /// excluded, a coding when listed (or `*`) with a weight above zero.
    pub(crate) fn accepts(&self, choice: Choice) -> bool {
        match choice {
            Choice::Coded(_) if !self.sent => false,
            _ => self.quality(choice).is_some(),
        }
    }
}

/// The representations a request accepts, most preferred first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Preference {
    pairs: [(Quality, Choice); Coding::ALL.len() + 1],
    len: usize,
}

impl Preference {
    /// In order of preference.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Choice> + '_ {
        self.pairs[..self.len].iter().map(|(_, choice)| *choice)
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths; `None` for anything else.
fn parse_quality(value: &[u8]) -> Option<Quality> {
    let (first, rest) = value.split_first()?;
    let whole = match first {
        b'0' => 0,
        b'1' => 1000,
        _ => return None,
    };
    let decimals = match rest {
        [] => return Some(whole),
        [b'.', decimals @ ..] if decimals.len() <= 3 => decimals,
        _ => return None,
    };
    let mut fraction: Quality = 0;
    let mut scale = 100;
    for digit in decimals {
        if !digit.is_ascii_digit() {
            return None;
        }
        fraction += Quality::from(digit - b'0') * scale;
        scale /= 10;
    }
    match whole {
        1000 if fraction > 0 => None,
        _ => Some(whole + fraction),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SERVER: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    fn accepted(lines: &[&'static str]) -> Accepted {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_static(line));
        }
        Accepted::of(&headers)
    }

    fn order(lines: &[&'static str]) -> Vec<Choice> {
        accepted(lines).preference(&SERVER).iter().collect()
    }

    use Choice::{Coded, Identity};
    use Coding::{Brotli, Gzip, Zstd};

    #[test]
    fn rfc9110_12_4_2_qvalues() {
        assert_eq!(parse_quality(b"0"), Some(0));
        assert_eq!(parse_quality(b"0.5"), Some(500));
        assert_eq!(parse_quality(b"0.125"), Some(125));
        assert_eq!(parse_quality(b"1"), Some(1000));
        assert_eq!(parse_quality(b"1.000"), Some(1000));
        for bad in ["1.001", "0.1234", "2", ".5", "0,5", "", "1.", "0.x", "-0"] {
            let parsed = parse_quality(bad.as_bytes());
            let expected = if bad == "1." { Some(1000) } else { None };
            assert_eq!(parsed, expected, "{bad}");
        }
    }

    #[test]
    fn no_field_means_identity() {
        assert_eq!(order(&[]), [Identity]);
        assert!(!accepted(&[]).wants_a_coding());
        // An empty field: the client wants no coding (§12.5.3).
        assert_eq!(order(&[""]), [Identity]);
    }

    #[test]
    fn ties_follow_the_server_order_and_identity_comes_last() {
        assert_eq!(
            order(&["gzip, deflate, br, zstd"]),
            [Coded(Brotli), Coded(Zstd), Coded(Gzip), Identity]
        );
        assert_eq!(order(&["gzip, identity"]), [Coded(Gzip), Identity]);
    }

    #[test]
    fn weights_order_before_the_server() {
        assert_eq!(
            order(&["br;q=0.5, gzip;q=0.9"]),
            [Coded(Gzip), Coded(Brotli), Identity]
        );
        assert_eq!(
            order(&["identity;q=1, gzip;q=0.5"]),
            [Identity, Coded(Gzip)]
        );
    }

    #[test]
    fn q0_excludes_and_star_fills_in() {
        assert_eq!(order(&["br;q=0, *"]), [Coded(Zstd), Coded(Gzip), Identity]);
        assert_eq!(order(&["identity;q=1, *;q=0"]), [Identity]);
        assert!(!accepted(&["identity;q=1, *;q=0"]).wants_a_coding());
        // Nothing acceptable: identity is still the last resort.
        assert_eq!(order(&["identity;q=0"]), [Identity]);
        assert!(!accepted(&["identity;q=0"]).accepts(Identity));
        assert!(!accepted(&["*;q=0"]).accepts(Identity));
        assert!(accepted(&["*;q=0, identity"]).accepts(Identity));
    }

    #[test]
    fn names_are_case_insensitive_and_x_gzip_is_gzip() {
        assert_eq!(
            order(&["X-GZIP;Q=0.5, BR"]),
            [Coded(Brotli), Coded(Gzip), Identity]
        );
    }

    #[test]
    fn lines_combine_and_the_first_weight_stands() {
        assert_eq!(
            order(&["gzip", "br;q=0.1, gzip;q=0"]),
            [Coded(Gzip), Coded(Brotli), Identity]
        );
    }

    #[test]
    fn malformed_members_are_skipped() {
        assert_eq!(
            order(&["br;q=2, gzip;q=abc, zstd;;q=0.5, ,,"]),
            [Coded(Zstd), Identity]
        );
        assert_eq!(order(&[";q=1, =, br ; q = 0.5"]), [Coded(Brotli), Identity]);
        let mut headers = HeaderMap::new();
        let obs_text = HeaderValue::from_bytes(b"\xffgzip, g\xe9zip;q=1").unwrap();
        headers.insert(ACCEPT_ENCODING, obs_text);
        let preference = Accepted::of(&headers).preference(&SERVER);
        assert_eq!(preference.iter().collect::<Vec<_>>(), [Identity]);
        assert_eq!(order(&["gzip ; level=9"]), [Coded(Gzip), Identity]);
    }

    /// What Accept-Encoding fields are made of, valid or not.
    const PIECES: [&[u8]; 18] = [
        b"gzip",
        b"br",
        b"zstd",
        b"identity",
        b"*",
        b"x-gzip",
        b"deflate",
        b";q=0",
        b";q=1",
        b";q=0.5",
        b";q=1.5",
        b"q=",
        b",",
        b" ",
        b";",
        b"=",
        b"\xe9",
        b"\t",
    ];

    proptest::proptest! {
        /// Whatever the bytes, parsing never panics, and the preference
        /// lists each acceptable choice once and ends with identity
        /// unless a coding outweighs it.
        #[test]
        fn any_field_parses_into_a_preference(
            lines in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(PIECES.to_vec()), 0..12),
                0..3,
            ),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
        ) {
            let mut headers = HeaderMap::new();
            for line in &lines {
                if let Ok(value) = HeaderValue::from_bytes(&line.concat()) {
                    headers.append(ACCEPT_ENCODING, value);
                }
            }
            if let Ok(value) = HeaderValue::from_bytes(&noise) {
                headers.append(ACCEPT_ENCODING, value);
            }
            let accepted = Accepted::of(&headers);
            let order: Vec<Choice> = accepted.preference(&SERVER).iter().collect();
            proptest::prop_assert!(order.contains(&Identity));
            for (i, choice) in order.iter().enumerate() {
                proptest::prop_assert!(!order[i + 1..].contains(choice));
                if let Coded(_) = choice {
                    proptest::prop_assert!(accepted.accepts(*choice));
                }
            }
        }
    }
}
