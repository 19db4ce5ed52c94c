//! The compressed variants of one stored entry, each made at most once.
//!
//! [`Variants`] sits beside an entry in memory and starts empty (16 bytes).
//! The first request that could be answered compressed decides, once,
//! whether the entry is compressible at all (its size, media type and
//! `Content-Encoding`) and renders what every answer then shares: the
//! merged `Vary` and the per-coding ETags. Each coding's body is made on
//! the first request that prefers it; concurrent requests for the same
//! coding wait for that one compression rather than each doing it (a
//! `OnceLock`). A coding whose output is no smaller than the body is
//! remembered as such and never tried again.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use super::{Coding, Compression};
use crate::ETag;
use crate::store::Stored;

/// The variants of one entry, made on demand.
#[derive(Debug, Default)]
pub(crate) struct Variants {
    set: OnceLock<Option<Box<Set>>>,
}

/// What the variants of a compressible entry share.
#[derive(Debug)]
pub(crate) struct Set {
    /// The entry's `Vary` with `accept-encoding` merged in: every answer
    /// from a compressible entry depends on the request's
    /// `Accept-Encoding`, identity answers included (RFC 9110 §12.5.5).
    pub vary: HeaderValue,
    /// The ETag of each coding's variant, by `Coding as usize`.
    tags: [ETag; Coding::ALL.len()],
    bodies: [OnceLock<Option<Bytes>>; Coding::ALL.len()],
    /// The bytes the bodies made so far hold.
    held: AtomicU64,
}

impl Variants {
    /// The shared parts of the entry's variants, decided on first use;
    /// `None` when the entry is not to be compressed.
    pub(crate) fn set(&self, entry: &Stored, config: &Compression) -> Option<&Set> {
        self.set
            .get_or_init(|| Set::for_entry(entry, config).map(Box::new))
            .as_deref()
    }

    /// The bytes the variants hold, for the store's count.
    pub(crate) fn bytes(&self) -> u64 {
        match self.set.get() {
            Some(Some(set)) => set.held.load(Ordering::Relaxed),
            _ => 0,
        }
    }
}

impl Set {
    fn for_entry(entry: &Stored, config: &Compression) -> Option<Set> {
        if !config.is_on() || !compressible(&entry.headers, entry.body.len(), config) {
            return None;
        }
        Some(Set {
            vary: merged_vary(&entry.headers)?,
            tags: Coding::ALL.map(|coding| variant_tag(&entry.etag, coding)),
            bodies: Default::default(),
            held: AtomicU64::new(0),
        })
    }

    /// The ETag of the variant in `coding`.
    pub(crate) fn tag(&self, coding: Coding) -> &ETag {
        &self.tags[coding as usize]
    }

    /// The body in `coding`, compressed now if no request asked for it
    /// before; `None` when compressing does not make it smaller (or the
    /// encoder failed). What is made is added to `held`, the count of the
    /// store the entry lives in.
    pub(crate) fn body(
        &self,
        coding: Coding,
        identity: &Bytes,
        config: &Compression,
        held: &AtomicU64,
    ) -> Option<&Bytes> {
        self.bodies[coding as usize]
            .get_or_init(|| {
                let level = config.level_of(coding);
                let made = encode(coding, identity, level).filter(|b| b.len() < identity.len());
                if let Some(body) = &made {
                    let len = body.len() as u64;
                    self.held.fetch_add(len, Ordering::Relaxed);
                    held.fetch_add(len, Ordering::Relaxed);
                }
                made
            })
            .as_ref()
    }
}

/// Whether a stored response is worth compressing: large enough, not
/// already content-coded, not marked `no-transform`, and of a media type
/// that is not compressed already.
fn compressible(headers: &HeaderMap, len: usize, config: &Compression) -> bool {
    if len < config.minimum() || headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    // RFC 9111 §5.2.2.6: the response asks that its content not be changed.
    let no_transform = headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
    });
    if no_transform {
        return false;
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let essence = content_type.as_bytes().split(|b| *b == b';').next();
    let essence = essence.unwrap_or_default().trim_ascii();
    !is_compressed_media(essence)
}

/// Media types whose bytes are compressed already (or unknown): coding them
/// again costs time and saves nothing.
fn is_compressed_media(essence: &[u8]) -> bool {
    let lower = essence.to_ascii_lowercase();
    let starts = |prefix: &[u8]| lower.starts_with(prefix);
    if starts(b"image/") {
        // SVG is XML text, which compresses well.
        return !lower.starts_with(b"image/svg+xml");
    }
    if starts(b"audio/") || starts(b"video/") || starts(b"font/woff") {
        return true;
    }
    const ARCHIVES: [&[u8]; 11] = [
        b"application/zip",
        b"application/gzip",
        b"application/x-gzip",
        b"application/zstd",
        b"application/x-bzip2",
        b"application/x-xz",
        b"application/x-7z-compressed",
        b"application/x-rar-compressed",
        b"application/vnd.rar",
        b"application/octet-stream",
        b"application/wasm-compressed",
    ];
    ARCHIVES.contains(&lower.as_slice())
}

/// The entry's `Vary` members and `accept-encoding`, as one value; `None`
/// if they cannot make a header value (never for stored entries, whose
/// `Vary` was a valid value).
fn merged_vary(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut members: Vec<&[u8]> = Vec::new();
    for line in headers.get_all(header::VARY) {
        for member in line.as_bytes().split(|b| *b == b',') {
            let member = member.trim_ascii();
            if !member.is_empty() && !members.iter().any(|m| m.eq_ignore_ascii_case(member)) {
                members.push(member);
            }
        }
    }
    if members.is_empty() {
        // The common case, as a static value: cloning it on every answer
        // touches no reference count.
        return Some(HeaderValue::from_static("accept-encoding"));
    }
    if !members
        .iter()
        .any(|m| m.eq_ignore_ascii_case(b"accept-encoding"))
    {
        members.push(b"accept-encoding");
    }
    HeaderValue::from_bytes(&members.join(&b", "[..])).ok()
}

/// The ETag of the variant in `coding`: a strong tag with the coding's
/// name appended inside the quotes, a weak one unchanged (RFC 9110 §8.8.3).
fn variant_tag(identity: &ETag, coding: Coding) -> ETag {
    if identity.is_weak() {
        return identity.clone();
    }
    let opaque = format!("{}-{}", identity.opaque(), coding.name());
    // The suffix is etagc, so this never fails; the identity tag is the
    // fallback that keeps the no-panic promise if it ever did.
    ETag::strong(&opaque).unwrap_or_else(|_| identity.clone())
}

/// `body` in `coding` at `level`, in one call; `None` for a coding this
/// build has no encoder for.
fn encode(coding: Coding, body: &[u8], level: u32) -> Option<Bytes> {
    let out: Option<Vec<u8>> = match coding {
        #[cfg(feature = "compression-gzip")]
        Coding::Gzip => gzip(body, level),
        #[cfg(feature = "compression-br")]
        Coding::Brotli => brotli(body, level),
        #[cfg(feature = "compression-zstd")]
        Coding::Zstd => zstd::bulk::compress(body, level as i32).ok(),
        #[allow(unreachable_patterns)]
        _ => {
            let _ = (body, level);
            None
        }
    };
    out.map(Bytes::from)
}

#[cfg(feature = "compression-gzip")]
fn gzip(body: &[u8], level: u32) -> Option<Vec<u8>> {
    use std::io::Write;
    // The gzip header's time stays zero, so that the bytes, and thus what
    // the strong tag promises, are the same every time.
    let out = Vec::with_capacity(body.len() / 3);
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

#[cfg(feature = "compression-br")]
fn brotli(body: &[u8], level: u32) -> Option<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: level as i32,
        size_hint: body.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(body.len() / 3);
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn already_compressed_media_is_left_alone() {
        let config = Compression::default();
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert!(compressible(&json, 4096, &config));
        assert!(!compressible(&json, 1000, &config));
        for kind in [
            "image/png",
            "IMAGE/JPEG",
            "video/mp4",
            "audio/ogg",
            "font/woff2",
            "application/zip",
            "application/gzip; q=1",
        ] {
            let map = headers(&[("content-type", kind)]);
            assert!(!compressible(&map, 4096, &config), "{kind}");
        }
        let svg = headers(&[("content-type", "image/svg+xml")]);
        assert!(compressible(&svg, 4096, &config));
        let coded = headers(&[("content-encoding", "gzip")]);
        assert!(!compressible(&coded, 4096, &config));
        let kept = headers(&[("cache-control", "max-age=60, No-Transform")]);
        assert!(!compressible(&kept, 4096, &config));
    }

    #[test]
    fn vary_is_merged_once() {
        let merged = |pairs| merged_vary(&headers(pairs)).unwrap();
        assert_eq!(merged(&[]), "accept-encoding");
        assert_eq!(
            merged(&[
                ("vary", "Accept-Language"),
                ("vary", "origin, accept-language")
            ]),
            "Accept-Language, origin, accept-encoding"
        );
        assert_eq!(merged(&[("vary", "Accept-Encoding")]), "Accept-Encoding");
    }

    #[test]
    fn strong_tags_get_a_suffix_and_weak_ones_stay() {
        let strong = ETag::strong("abc").unwrap();
        assert_eq!(
            variant_tag(&strong, Coding::Gzip).to_string(),
            r#""abc-gzip""#
        );
        assert_eq!(
            variant_tag(&strong, Coding::Brotli).to_string(),
            r#""abc-br""#
        );
        let weak = ETag::weak("abc").unwrap();
        assert_eq!(variant_tag(&weak, Coding::Zstd).to_string(), r#"W/"abc""#);
    }

    #[test]
    #[cfg(all(
        feature = "compression-gzip",
        feature = "compression-br",
        feature = "compression-zstd"
    ))]
    fn every_coding_compresses_text_and_gzip_is_deterministic() {
        let body = "{\"name\": \"camera\"}, ".repeat(200);
        for coding in Coding::ALL {
            let out = encode(coding, body.as_bytes(), 5).unwrap();
            assert!(out.len() < body.len() / 4, "{coding:?}: {}", out.len());
        }
        assert_eq!(
            encode(Coding::Gzip, body.as_bytes(), 6),
            encode(Coding::Gzip, body.as_bytes(), 6)
        );
    }
}
