//! Arbitrary requests into the key builder, under a policy that varies on
//! a header and on both credential headers: building a key never panics,
//! is deterministic, and HEAD shares GET's key.
#![no_main]

use std::sync::LazyLock;

use cached_etag_runtime::{Key, Policy, RequestHead};
use http::{HeaderName, HeaderValue, Method, Request};
use libfuzzer_sys::fuzz_target;

static POLICY: LazyLock<std::sync::Arc<Policy>> = LazyLock::new(|| {
    Policy::builder("fuzz::key")
        .vary(&["accept-language", "authorization", "cookie"])
        .build()
});

fuzz_target!(|data: &[u8]| {
    // The first line is the target; each further line is `name: value`.
    let mut lines = data.split(|&b| b == b'\n');
    let Some(target) = lines.next() else {
        return;
    };
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let mut request = Request::get(uri).body(()).expect("a parsed URI");
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            request.headers_mut().append(name, value);
        }
    }
    let (mut parts, ()) = request.into_parts();
    let get = Key::for_request(&POLICY, &RequestHead::from(&parts));
    assert_eq!(get, Key::for_request(&POLICY, &RequestHead::from(&parts)));
    parts.method = Method::HEAD;
    assert_eq!(get, Key::for_request(&POLICY, &RequestHead::from(&parts)));
});
