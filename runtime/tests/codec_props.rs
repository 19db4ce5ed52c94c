//! The entry codec's properties: every entry round-trips field for field,
//! and no bytes, arbitrary or a damaged encoding, make decoding panic;
//! truncated, longer and other-version encodings are decode errors.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cached_etag_runtime::store::codec::{FORMAT_VERSION, decode_entry, encode_entry};
use cached_etag_runtime::{ETag, Entry, StoreError};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;

fn entry(body: &'static str, tags: &[&str]) -> Entry {
    Entry {
        status: StatusCode::OK,
        headers: HeaderMap::new().into(),
        body: Bytes::from_static(body.as_bytes()),
        etag: ETag::from_content(body.as_bytes()),
        last_modified: None,
        tags: tags.iter().map(|t| Arc::from(*t)).collect(),
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(60),
        stale_for: Duration::ZERO,
    }
}

fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        Just(HeaderName::from_static("content-type")),
        Just(HeaderName::from_static("cache-control")),
        Just(HeaderName::from_static("vary")),
        "[a-z][a-z0-9-]{0,20}".prop_map(|s| HeaderName::from_bytes(s.as_bytes()).unwrap()),
    ]
}

fn time() -> impl Strategy<Value = SystemTime> {
    (any::<bool>(), 0u64..(1 << 40), 0u32..1_000_000_000).prop_map(|(before, secs, nanos)| {
        let d = Duration::new(secs, nanos);
        if before {
            SystemTime::UNIX_EPOCH - d
        } else {
            SystemTime::UNIX_EPOCH + d
        }
    })
}

prop_compose! {
    fn arb_entry()(
        status in 100u16..1000,
        headers in prop::collection::vec((header_name(), "[ -~]{0,40}"), 0..6),
        body in prop::collection::vec(any::<u8>(), 0..512),
        opaque in "[!#-~]{0,40}",
        weak in any::<bool>(),
        last_modified in prop::option::of(time()),
        tags in prop::collection::vec(any::<String>(), 0..5),
        stored_at in time(),
        ttl in (any::<u64>(), 0u32..1_000_000_000),
    ) -> Entry {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(name, HeaderValue::from_str(&value).unwrap());
        }
        let etag = if weak { ETag::weak(&opaque) } else { ETag::strong(&opaque) }.unwrap();
        Entry {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map.into(),
            body: Bytes::from(body),
            etag,
            last_modified,
            tags: tags.into_iter().map(Arc::from).collect(),
            stored_at,
            ttl: Duration::new(ttl.0, ttl.1),
            stale_for: Duration::new(ttl.0 / 2, ttl.1),
        }
    }
}

fn assert_same(a: &Entry, b: &Entry) {
    assert_eq!(a.status, b.status);
    assert_eq!(a.headers, b.headers);
    assert_eq!(a.body, b.body);
    assert_eq!(a.etag, b.etag);
    assert_eq!(a.last_modified, b.last_modified);
    assert_eq!(a.tags, b.tags);
    assert_eq!(a.stored_at, b.stored_at);
    assert_eq!(a.ttl, b.ttl);
    assert_eq!(a.stale_for, b.stale_for);
}

proptest! {
    #[test]
    fn encoding_round_trips(entry in arb_entry()) {
        let encoded = encode_entry(&entry);
        prop_assert_eq!(encoded[0], FORMAT_VERSION);
        let decoded = decode_entry(Bytes::from(encoded)).unwrap();
        assert_same(&entry, &decoded);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_entry(Bytes::from(bytes));
    }

    #[test]
    fn decoding_damaged_entries_never_panics(
        entry in arb_entry(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let encoded = encode_entry(&entry);
        let truncated = &encoded[..cut.index(encoded.len())];
        prop_assert!(decode_entry(Bytes::copy_from_slice(truncated)).is_err(), "truncated accepted");
        let mut damaged = encoded.clone();
        for (at, byte) in flips {
            let i = at.index(damaged.len());
            damaged[i] ^= byte;
        }
        let _ = decode_entry(Bytes::from(damaged));
        let mut longer = encoded;
        longer.push(0);
        prop_assert!(decode_entry(Bytes::from(longer)).is_err(), "trailing bytes accepted");
    }
}

#[test]
fn other_versions_are_decode_errors() {
    let mut encoded = encode_entry(&entry("v", &["t"]));
    // A version after the current one (the one before it is still read).
    encoded[0] = FORMAT_VERSION + 1;
    assert!(matches!(
        decode_entry(Bytes::from(encoded)),
        Err(StoreError::Decode(_))
    ));
    assert!(matches!(
        decode_entry(Bytes::new()),
        Err(StoreError::Decode(_))
    ));
}
