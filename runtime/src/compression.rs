//! Compressed variants of stored entries (feature `compression`).
//!
//! A stored body is compressed at most once per content coding, when the
//! first request that prefers that coding reaches the entry, and the
//! result is kept beside the entry in memory for as long as the entry
//! lives; later requests are answered with the stored variant and never
//! compress again. A client that asks for no coding, and an entry read
//! from the remote store that nobody asks a coding of, cost nothing: the
//! remote store keeps the identity body only, and each instance makes the
//! variants it serves. Which representation answers a request follows its
//! `Accept-Encoding` (RFC 9110 §12.5.3, see `accept`); a [`Compression`]
//! on the [`Cache`](crate::Cache) says which codings are offered, at which
//! levels, and from which size.
//!
//! A different content coding is a different representation (RFC 9110
//! §8.8.3), so a strong ETag gets a suffix per coding inside its quotes
//! (`"abc"` → `"abc-br"`, as Apache's `mod_deflate` does); a weak one
//! stays as it is, since weak tags already promise only equivalence.

pub(crate) mod accept;
pub(crate) mod variants;

use http::HeaderValue;

/// A content coding a [`Compression`] can offer (RFC 9110 §8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Coding {
    /// `br`, Brotli (RFC 7932).
    Brotli,
    /// `zstd`, Zstandard (RFC 8878).
    Zstd,
    /// `gzip` (RFC 1952).
    Gzip,
}

impl Coding {
    /// Every coding, in the server's default order of preference: among
    /// codings a request weighs alike, the smaller output first.
    pub const ALL: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    /// The coding's name in `Content-Encoding` and `Accept-Encoding`.
    ///
    /// ```
    /// use cached_etag_runtime::compression::Coding;
    ///
    /// assert_eq!(Coding::Brotli.name(), "br");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// The coding named `token`, case-insensitively; `x-gzip` is `gzip`
    /// (RFC 9110 §8.4.1.3).
    /// Whether this build has the coding's encoder: its feature
    /// (`compression-br`, `compression-zstd`, `compression-gzip`; all three
    /// with `compression`) is on.
    ///
    /// ```
    /// use cached_etag_runtime::compression::Coding;
    ///
    /// assert_eq!(Coding::Gzip.is_available(), cfg!(feature = "compression-gzip"));
    /// ```
    pub fn is_available(self) -> bool {
        match self {
            Coding::Brotli => cfg!(feature = "compression-br"),
            Coding::Zstd => cfg!(feature = "compression-zstd"),
            Coding::Gzip => cfg!(feature = "compression-gzip"),
        }
    }

    fn from_token(token: &[u8]) -> Option<Coding> {
        Coding::ALL
            .into_iter()
            .find(|c| token.eq_ignore_ascii_case(c.name().as_bytes()))
            .or_else(|| {
                token
                    .eq_ignore_ascii_case(b"x-gzip")
                    .then_some(Coding::Gzip)
            })
    }

    pub(crate) fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.name())
    }
}

/// Which compressed variants a [`Cache`](crate::Cache) makes of its
/// entries, and from which size; set with
/// [`CacheBuilder::compression`](crate::CacheBuilder::compression).
///
/// The default offers `br` (quality 5), `zstd` (level 3) and `gzip` (level
/// 6), in that order of preference (those this build has the encoder of:
/// features `compression-br`, `compression-zstd`, `compression-gzip`, all
/// three with `compression`), for bodies of at least
/// [`DEFAULT_MIN_SIZE`](Compression::DEFAULT_MIN_SIZE) bytes. Since a
/// variant is made once and served many times, its level may be higher
/// than a per-response compressor would use; the first request for a coding
/// waits for its compression, a few milliseconds for a few hundred KiB at
/// these levels.
///
/// Not compressed: bodies under the minimum size, responses that already
/// carry a `Content-Encoding` or say `Cache-Control: no-transform`, and
/// media types that are compressed already
/// (`image/*` but SVG, `audio/*`, `video/*`, `font/woff*`, archives such as
/// `application/zip`, `gzip`, `zstd`, `x-7z-compressed`, `x-rar-compressed`,
/// `x-bzip2`, `x-xz`, and `application/octet-stream`, whose contents
/// are unknown). A variant no smaller than the body is not kept: such a
/// request gets the body as it is.
///
/// ```
/// use cached_etag_runtime::Cache;
/// use cached_etag_runtime::compression::{Coding, Compression};
///
/// let cache = Cache::builder()
///     .compression(
///         Compression::default()
///             .min_size(256)
///             .codings(&[Coding::Gzip, Coding::Brotli])
///             .level(Coding::Gzip, 9),
///     )
///     .build();
/// # drop(cache);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    codings: Vec<Coding>,
    min_size: usize,
    levels: [u32; Coding::ALL.len()],
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            codings: Coding::ALL
                .into_iter()
                .filter(|c| c.is_available())
                .collect(),
            min_size: Self::DEFAULT_MIN_SIZE,
            levels: [5, 3, 6],
        }
    }
}

impl Compression {
    /// The smallest body compressed by default: 1 KiB. Below it the saving
    /// is a few hundred bytes at most, within the packet a response's
    /// headers take anyway.
    pub const DEFAULT_MIN_SIZE: usize = 1024;

    /// Offers no coding: every answer is the stored body, as without the
    /// feature.
    ///
    /// ```
    /// use cached_etag_runtime::Cache;
    /// use cached_etag_runtime::compression::Compression;
    ///
    /// let cache = Cache::builder().compression(Compression::off()).build();
    /// # drop(cache);
    /// ```
    pub fn off() -> Self {
        Compression {
            codings: Vec::new(),
            ..Compression::default()
        }
    }

    /// The codings offered, in the server's order of preference (used to
    /// break ties between codings a request weighs alike). Duplicates, and
    /// codings this build has no encoder for ([`Coding::is_available`]),
    /// are dropped.
    #[must_use]
    pub fn codings(mut self, codings: &[Coding]) -> Self {
        self.codings.clear();
        for &coding in codings {
            if coding.is_available() && !self.codings.contains(&coding) {
                self.codings.push(coding);
            }
        }
        self
    }

    /// The smallest body compressed (default
    /// [`DEFAULT_MIN_SIZE`](Self::DEFAULT_MIN_SIZE)).
    #[must_use]
    pub fn min_size(mut self, bytes: usize) -> Self {
        self.min_size = bytes;
        self
    }

    /// The level of one coding: Brotli's quality 0 to 11 (default 5),
    /// Zstandard's level 1 to 22 (default 3), gzip's level 0 to 9 (default
    /// 6). Values past the coding's range are held to it.
    #[must_use]
    pub fn level(mut self, coding: Coding, level: u32) -> Self {
        let max = match coding {
            Coding::Brotli => 11,
            Coding::Zstd => 22,
            Coding::Gzip => 9,
        };
        self.levels[coding as usize] = level.min(max);
        self
    }

    /// Whether any coding is offered.
    pub fn is_on(&self) -> bool {
        !self.codings.is_empty()
    }

    pub(crate) fn offered(&self) -> &[Coding] {
        &self.codings
    }

    pub(crate) fn level_of(&self, coding: Coding) -> u32 {
        self.levels[coding as usize]
    }

    pub(crate) fn minimum(&self) -> usize {
        self.min_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codings_this_build_can_make_are_offered() {
        let available: Vec<Coding> = Coding::ALL
            .into_iter()
            .filter(|c| c.is_available())
            .collect();
        assert_eq!(Compression::default().offered(), available);
        let asked = Compression::default().codings(&[Coding::Gzip, Coding::Zstd, Coding::Gzip]);
        let expected: Vec<Coding> = [Coding::Gzip, Coding::Zstd]
            .into_iter()
            .filter(|c| c.is_available())
            .collect();
        assert_eq!(asked.offered(), expected);
        assert!(!Compression::off().is_on());
    }
}
