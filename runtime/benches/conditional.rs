//! The cost of a 304 decision and of a content-hash ETag, each beside a
//! baseline measured in the same run.
//!
//! - `if_none_match/preconditions`: `Preconditions::new` plus `evaluate` on a
//!   five-tag `If-None-Match` whose matching tag is last (the full scan).
//!   Baseline `if_none_match/bytes_eq`: look a one-tag `If-None-Match` up and
//!   compare its bytes with the pre-formatted current tag (equal, so every
//!   byte is compared), the naive check that ignores lists and weakness.
//!   `if_none_match/preconditions_1tag` is the real evaluation on that
//!   one-tag header.
//! - `from_content/etag_2KiB`: `ETag::from_content` on 2 KiB. Baseline
//!   `from_content/sha256_2KiB`: the SHA-256 alone, so the difference is the
//!   truncation, base64url and allocation.

use std::hint::black_box;

use cached_etag_runtime::conditional::Current;
use cached_etag_runtime::{ETag, Outcome, Preconditions};
use criterion::{Criterion, criterion_group, criterion_main};
use http::header::IF_NONE_MATCH;
use http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};

fn if_none_match(c: &mut Criterion) {
    let current = ETag::from_content(b"the current representation");
    let header = format!(
        r#"W/"{}", W/"{}", "{}", W/"{}", {}"#,
        ETag::from_content(b"v1").opaque(),
        ETag::from_content(b"v2").opaque(),
        ETag::from_content(b"v3").opaque(),
        ETag::from_content(b"v4").opaque(),
        current,
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        IF_NONE_MATCH,
        HeaderValue::from_str(&header).expect("ASCII header"),
    );
    let formatted = current.to_string();
    let mut single = HeaderMap::new();
    single.insert(IF_NONE_MATCH, current.to_header_value());

    let check =
        Preconditions::new(&headers).evaluate(&Method::GET, Current::new(Some(&current), None));
    assert_eq!(check, Outcome::NotModified);

    let mut group = c.benchmark_group("if_none_match");
    group.bench_function("preconditions", |b| {
        b.iter(|| {
            let headers = black_box(&headers);
            let current = Current::new(Some(black_box(&current)), None);
            Preconditions::new(headers).evaluate(&Method::GET, current)
        });
    });
    group.bench_function("preconditions_1tag", |b| {
        b.iter(|| {
            let headers = black_box(&single);
            let current = Current::new(Some(black_box(&current)), None);
            Preconditions::new(headers).evaluate(&Method::GET, current)
        });
    });
    group.bench_function("bytes_eq", |b| {
        b.iter(|| {
            let headers = black_box(&single);
            headers
                .get(IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == black_box(formatted.as_bytes()))
        });
    });
    group.finish();
}

fn from_content(c: &mut Criterion) {
    let body: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect();
    let mut group = c.benchmark_group("from_content");
    group.bench_function("etag_2KiB", |b| {
        b.iter(|| ETag::from_content(black_box(&body)));
    });
    group.bench_function("sha256_2KiB", |b| {
        b.iter(|| Sha256::digest(black_box(&body)));
    });
    group.finish();
}

criterion_group!(benches, if_none_match, from_content);
criterion_main!(benches);
