//! Arbitrary bytes into every header parser: `ETag::parse`, and
//! `Preconditions` over several lines of `If-None-Match`, `If-Match`,
//! `If-Modified-Since` and `If-Unmodified-Since` cut from the input.
//!
//! Besides "never panics", it checks what must hold for any input: a parsed
//! tag round-trips through `Display`, a 304 is only ever for GET or HEAD, and
//! a request without preconditions always proceeds.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use cached_etag_runtime::conditional::{Current, not_modified_headers};
use cached_etag_runtime::{ETag, Outcome, Preconditions};
use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tag) = ETag::parse(data) {
        assert_eq!(ETag::parse(tag.to_string().as_bytes()), Ok(tag.clone()));
        assert_eq!(tag.to_header_value().as_bytes(), tag.to_string().as_bytes());
    }

    // The first byte picks the current resource's state; the rest is split on
    // `\n` into header lines, each line's first byte choosing the field.
    let Some((&state, rest)) = data.split_first() else {
        return;
    };
    let fields = [
        IF_NONE_MATCH,
        IF_MATCH,
        IF_MODIFIED_SINCE,
        IF_UNMODIFIED_SINCE,
    ];
    let mut headers = HeaderMap::new();
    let mut current_tag = None;
    for line in rest.split(|&b| b == b'\n') {
        let Some((&selector, value)) = line.split_first() else {
            continue;
        };
        if current_tag.is_none() {
            // The first line that parses as a tag is the current one, so
            // that matches happen.
            current_tag = ETag::parse(value).ok();
        }
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(fields[usize::from(selector % 4)].clone(), value);
        }
    }

    let last_modified =
        (state & 1 != 0).then(|| UNIX_EPOCH + Duration::from_secs(u64::from(state) * 86_400 * 200));
    let current = Current {
        exists: state & 2 != 0,
        etag: if state & 4 != 0 {
            current_tag.as_ref()
        } else {
            None
        },
        last_modified,
    };
    let preconditions = Preconditions::new(&headers);
    let _ = preconditions.if_none_match_present();
    let _ = format!("{preconditions:?}");
    for method in [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::POST,
        Method::DELETE,
    ] {
        let outcome = preconditions.evaluate(&method, current);
        if outcome == Outcome::NotModified {
            assert!(method == Method::GET || method == Method::HEAD);
        }
        if preconditions.is_empty() {
            assert_eq!(outcome, Outcome::Proceed);
        }
    }
    let _ = not_modified_headers(&headers);

    // The style constructors over arbitrary text.
    let text = String::from_utf8_lossy(data);
    let escaped = ETag::from_string(&text);
    assert!(HeaderValue::from_bytes(escaped.to_string().as_bytes()).is_ok());
    let _ = ETag::composite(&text, UNIX_EPOCH);
});
