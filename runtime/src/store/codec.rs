//! An [`Entry`] as bytes, for stores that keep entries outside the process.
//!
//! [`encode_entry`] writes every field of an entry; [`decode_entry`] gives
//! back the same entry, field for field, and takes nothing else: bytes that
//! are truncated, carry trailing bytes, hold an invalid field or start with
//! another [`FORMAT_VERSION`] are a [`StoreError::Decode`], and no input makes
//! it panic, since a remote store's bytes are outside data. The format is
//! the version byte, then each field in a fixed order, with lengths and
//! numbers as unsigned LEB128 varints; decoding slices the body out of the
//! input [`Bytes`] instead of copying it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::{Entry, StoreError};
use crate::ETag;

/// The first byte of every encoded entry. Version 1, written by the
/// releases before stale windows, is still read (as an entry with no stale
/// window); a store that finds any other reads it as a decode error, that
/// is as a miss, and the fill that follows overwrites it.
///
/// ```
/// use cached_etag_runtime::store::codec::{FORMAT_VERSION, encode_entry};
/// # let entry = cached_etag_runtime::Entry {
/// #     status: http::StatusCode::OK,
/// #     headers: Default::default(),
/// #     body: bytes::Bytes::new(),
/// #     etag: cached_etag_runtime::ETag::from_content(b""),
/// #     last_modified: None,
/// #     tags: vec![],
/// #     stored_at: std::time::SystemTime::now(),
/// #     ttl: std::time::Duration::from_secs(60),
/// #     stale_for: std::time::Duration::ZERO,
/// # };
/// assert_eq!(encode_entry(&entry)[0], FORMAT_VERSION);
/// ```
pub const FORMAT_VERSION: u8 = 2;

/// The format before the stale window was added after the TTL.
const FORMAT_VERSION_1: u8 = 1;

/// Encodes an entry as a store keeps it: a version byte
/// ([`FORMAT_VERSION`]), then the status, the replayed headers, the ETag,
/// `Last-Modified`, the tags, `stored_at`, the TTL, the stale window and
/// the body, with
/// LEB128 lengths and numbers.
///
/// ```
/// use cached_etag_runtime::store::codec::{decode_entry, encode_entry};
/// # use cached_etag_runtime::{ETag, Entry};
/// # let entry = Entry {
/// #     status: http::StatusCode::OK,
/// #     headers: Default::default(),
/// #     body: bytes::Bytes::from_static(b"hi"),
/// #     etag: ETag::from_content(b"hi"),
/// #     last_modified: None,
/// #     tags: vec![],
/// #     stored_at: std::time::SystemTime::now(),
/// #     ttl: std::time::Duration::from_secs(60),
/// #     stale_for: std::time::Duration::ZERO,
/// # };
/// let bytes = encode_entry(&entry);
/// let back = decode_entry(bytes.into())?;
/// assert_eq!(back.body, entry.body);
/// # Ok::<(), cached_etag_runtime::StoreError>(())
/// ```
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entry.body.len() + entry.headers.len() * 48);
    out.push(FORMAT_VERSION);
    put_varint(&mut out, u64::from(entry.status.as_u16()));
    put_varint(&mut out, entry.headers.len() as u64);
    for (name, value) in entry.headers.iter() {
        put_bytes(&mut out, name.as_str().as_bytes());
        put_bytes(&mut out, value.as_bytes());
    }
    out.push(u8::from(entry.etag.is_weak()));
    put_bytes(&mut out, entry.etag.opaque().as_bytes());
    match entry.last_modified {
        Some(time) => {
            out.push(1);
            put_time(&mut out, time);
        }
        None => out.push(0),
    }
    put_varint(&mut out, entry.tags.len() as u64);
    for tag in &entry.tags {
        put_bytes(&mut out, tag.as_bytes());
    }
    put_time(&mut out, entry.stored_at);
    put_varint(&mut out, entry.ttl.as_secs());
    put_varint(&mut out, u64::from(entry.ttl.subsec_nanos()));
    put_varint(&mut out, entry.stale_for.as_secs());
    put_varint(&mut out, u64::from(entry.stale_for.subsec_nanos()));
    put_bytes(&mut out, &entry.body);
    out
}

/// Decodes what [`encode_entry`] made. Anything else, truncated or of
/// another version, is a [`StoreError::Decode`]; it never panics. The body
/// is a slice of `bytes`, not a copy.
///
/// ```
/// use cached_etag_runtime::StoreError;
/// use cached_etag_runtime::store::codec::decode_entry;
///
/// let garbage = bytes::Bytes::from_static(b"\x07not an entry");
/// assert!(matches!(decode_entry(garbage), Err(StoreError::Decode(_))));
/// ```
pub fn decode_entry(bytes: Bytes) -> Result<Entry, StoreError> {
    let mut reader = Reader {
        bytes: &bytes,
        pos: 0,
    };
    let version = reader.byte()?;
    if version != FORMAT_VERSION && version != FORMAT_VERSION_1 {
        return Err(decode_error(format!("unknown format version {version}")));
    }
    let status = u16::try_from(reader.varint()?)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| decode_error("invalid status"))?;
    let header_count = reader.varint()?;
    let mut headers = HeaderMap::new();
    for _ in 0..header_count {
        let name = HeaderName::from_bytes(reader.bytes()?)
            .map_err(|_| decode_error("invalid header name"))?;
        let value = HeaderValue::from_bytes(reader.bytes()?)
            .map_err(|_| decode_error("invalid header value"))?;
        headers.append(name, value);
    }
    let weak = match reader.byte()? {
        0 => false,
        1 => true,
        _ => return Err(decode_error("invalid ETag flag")),
    };
    let opaque = reader.str()?;
    let etag = if weak {
        ETag::weak(opaque)
    } else {
        ETag::strong(opaque)
    }
    .map_err(|_| decode_error("invalid ETag"))?;
    let last_modified = match reader.byte()? {
        0 => None,
        1 => Some(reader.time()?),
        _ => return Err(decode_error("invalid Last-Modified flag")),
    };
    let tag_count = reader.varint()?;
    let mut tags = Vec::new();
    for _ in 0..tag_count {
        tags.push(Arc::from(reader.str()?));
    }
    let stored_at = reader.time()?;
    let ttl = reader.duration()?;
    let stale_for = match version {
        FORMAT_VERSION_1 => Duration::ZERO,
        _ => reader.duration()?,
    };
    let body = reader.len()?;
    let start = reader.pos;
    reader.skip(body)?;
    if reader.pos != bytes.len() {
        return Err(decode_error("trailing bytes"));
    }
    Ok(Entry {
        status,
        headers: headers.into(),
        body: bytes.slice(start..start + body),
        etag,
        last_modified,
        tags,
        stored_at,
        ttl,
        stale_for,
    })
}

fn decode_error(message: impl Into<String>) -> StoreError {
    StoreError::Decode(message.into())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Whole seconds since the Unix epoch (zigzag, so earlier times fit) and
/// nanoseconds forward from there.
fn put_time(out: &mut Vec<u8>, time: SystemTime) {
    let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            // Whole seconds towards the past, plus a positive fraction; the
            // earliest time a decoder accepts (`i64::MIN` seconds) must
            // encode to itself, so the negation is done unsigned.
            let before = before.duration();
            let (secs, nanos) = match before.subsec_nanos() {
                0 => (before.as_secs(), 0),
                n => (before.as_secs().saturating_add(1), 1_000_000_000 - n),
            };
            (0i64.checked_sub_unsigned(secs).unwrap_or(i64::MIN), nanos)
        }
    };
    put_varint(out, ((secs << 1) ^ (secs >> 63)) as u64);
    put_varint(out, u64::from(nanos));
}

/// A cursor over encoded bytes; every read checks the bounds first.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, StoreError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| decode_error("truncated"))?;
        self.pos += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may carry one bit only.
            if shift == 63 && bits > 1 {
                break;
            }
            n |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(decode_error("varint overflow"))
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let len = usize::try_from(self.varint()?).map_err(|_| decode_error("length overflow"))?;
        if len > self.bytes.len() - self.pos {
            return Err(decode_error("truncated"));
        }
        Ok(len)
    }

    fn skip(&mut self, len: usize) -> Result<(), StoreError> {
        if len > self.bytes.len() - self.pos {
            return Err(decode_error("truncated"));
        }
        self.pos += len;
        Ok(())
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.len()?;
        let start = self.pos;
        self.skip(len)?;
        Ok(&self.bytes[start..start + len])
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| decode_error("invalid UTF-8"))
    }

    fn nanos(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.varint()?)
            .ok()
            .filter(|n| *n < 1_000_000_000)
            .ok_or_else(|| decode_error("invalid nanoseconds"))
    }

    fn time(&mut self) -> Result<SystemTime, StoreError> {
        let zigzag = self.varint()?;
        let secs = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let nanos = Duration::from_nanos(u64::from(self.nanos()?));
        let base = if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
        };
        base.and_then(|t| t.checked_add(nanos))
            .ok_or_else(|| decode_error("time out of range"))
    }

    fn duration(&mut self) -> Result<Duration, StoreError> {
        let secs = self.varint()?;
        let nanos = self.nanos()?;
        // Nanoseconds below one second cannot carry into the seconds.
        Ok(Duration::new(secs, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `store_codec` fuzz target: the earliest time a decoder
    /// accepts, `i64::MIN` seconds before the epoch, was encoded one second
    /// later, so an entry read back from a store did not round-trip.
    #[test]
    fn the_earliest_decodable_time_round_trips() {
        let earliest = UNIX_EPOCH - Duration::from_secs(1 << 63);
        let mut out = Vec::new();
        put_time(&mut out, earliest);
        let mut reader = Reader {
            bytes: &out,
            pos: 0,
        };
        assert_eq!(reader.time().unwrap(), earliest);
    }

    #[test]
    fn entries_of_the_first_format_read_with_no_stale_window() {
        let entry = Entry {
            status: StatusCode::OK,
            headers: Default::default(),
            body: Bytes::from_static(b"hi"),
            etag: ETag::from_content(b"hi"),
            last_modified: None,
            tags: vec!["t".into()],
            stored_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            ttl: Duration::from_secs(60),
            stale_for: Duration::from_secs(30),
        };
        let now = encode_entry(&entry);
        assert_eq!(
            decode_entry(now.clone().into()).unwrap().stale_for,
            entry.stale_for
        );
        // Version 1: the same fields without the stale window (two varints,
        // 30 and 0, before the body's length and bytes).
        let mut first = vec![FORMAT_VERSION_1];
        first.extend_from_slice(&now[1..now.len() - 5]);
        first.extend_from_slice(&now[now.len() - 3..]);
        let back = decode_entry(first.into()).unwrap();
        assert_eq!(back.stale_for, Duration::ZERO);
        assert_eq!((back.ttl, &back.body[..]), (entry.ttl, &b"hi"[..]));
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for n in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            let mut reader = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(reader.varint().unwrap(), n);
            assert_eq!(reader.pos, out.len());
        }
        let mut reader = Reader {
            bytes: &[0xff; 11],
            pos: 0,
        };
        assert!(reader.varint().is_err(), "11-byte varint rejected");
    }

    #[test]
    fn times_before_the_epoch_round_trip() {
        for time in [
            UNIX_EPOCH - Duration::new(5, 250),
            UNIX_EPOCH - Duration::from_secs(5),
            UNIX_EPOCH + Duration::new(1_732_442_400, 123_456_789),
            UNIX_EPOCH,
        ] {
            let mut out = Vec::new();
            put_time(&mut out, time);
            let mut reader = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(reader.time().unwrap(), time);
        }
    }
}
