//! Hostile bytes from a remote store into the entry codec: decoding never
//! panics, and whatever decodes encodes back to bytes that decode to the
//! same entry (a store can only ever hand back what a codec could write).
#![no_main]

use bytes::Bytes;
use cached_etag_runtime::store::codec::{decode_entry, encode_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = decode_entry(Bytes::copy_from_slice(data)) else {
        return;
    };
    let again = decode_entry(Bytes::from(encode_entry(&entry))).expect("re-encoded entry decodes");
    assert_eq!(again.status, entry.status);
    assert_eq!(again.headers, entry.headers);
    assert_eq!(again.body, entry.body);
    assert_eq!(again.etag, entry.etag);
    assert_eq!(again.last_modified, entry.last_modified);
    assert_eq!(again.tags, entry.tags);
    // Whatever TTL the bytes claimed, arithmetic on it never panics.
    let _ = entry.expires_at();
    let _ = entry.remaining_ttl(std::time::SystemTime::now());
});
