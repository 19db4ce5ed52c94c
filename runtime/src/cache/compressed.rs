//! Answering from an entry's compressed variants (feature `compression`).
//!
//! A compressible entry answers with the representation the request's
//! `Accept-Encoding` prefers among those that exist: a compressed variant
//! (made now if it is the first request to prefer that coding) or the
//! stored body. Every such answer carries `Vary` with `accept-encoding`
//! merged in, and a coded one its `Content-Encoding` and its own ETag.
//! Preconditions judge the chosen representation; a request whose
//! `If-None-Match` names another acceptable variant of the same entry
//! (a client that holds the `gzip` variant and now prefers `br`, say) gets
//! a 304 for the variant it holds, whose tag it can match its copy by
//! (RFC 9111 §4.3.4). An entry that is not compressible, or a cache that
//! offers no coding, answers as without the feature.

use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Response, StatusCode};

use super::Cache;
use crate::compression::Compression;
use crate::compression::accept::{Accepted, Choice};
use crate::compression::variants::{Set, Variants};
use crate::conditional::{Current, Outcome, Preconditions};
use crate::stats::route::RouteCounters;
use crate::store::Stored;
use crate::{ETag, response};

/// The representation an answer is made of.
#[derive(Clone, Copy)]
struct Representation<'a> {
    choice: Choice,
    etag: &'a ETag,
    /// The body; `None` for a variant a 304 names but that was never made
    /// here (a 304 needs only its tag).
    body: Option<&'a Bytes>,
}

impl Cache {
    /// The answer from `entry`'s variants, or `None` when the entry answers
    /// as without compression. `variants` are those kept with a stored
    /// entry and the byte count they add to; an entry that was not stored
    /// gets variants made for this answer alone.
    pub(super) fn answer_compressed<B: From<Bytes>>(
        &self,
        entry: &Stored,
        variants: Option<(&Variants, &AtomicU64)>,
        preconditions: &Preconditions<'_>,
        method: &Method,
        route: &RouteCounters,
    ) -> Option<Response<B>> {
        let config = &self.inner.compression;
        if !config.is_on() {
            return None;
        }
        let scratch;
        let (variants, held) = match variants {
            Some(kept) => kept,
            None => {
                scratch = (Variants::default(), AtomicU64::new(0));
                (&scratch.0, &scratch.1)
            }
        };
        let set = variants.set(entry, config)?;
        let accepted = Accepted::of(preconditions.request_headers());
        let chosen = choose(entry, set, &accepted, config, held);
        let judged = self.held_variant(entry, set, &accepted, chosen, preconditions, method);
        let current = Current::new(Some(judged.etag), entry.last_modified());
        let saved = judged.body.map_or(entry.body.len(), Bytes::len);
        let outcome = self.evaluate(preconditions, method, current, saved, route);
        // A 304 names the variant the client holds; a 200 always sends the
        // chosen one (which `held_variant` keeps unless only another
        // variant's tag matched, and then the outcome is a 304).
        let sent = match outcome {
            Outcome::PreconditionFailed => return Some(response::precondition_failed()),
            Outcome::NotModified => judged,
            Outcome::Proceed => chosen,
        };
        let headers = answer_headers(entry, set, sent);
        // RFC 9110 §15.4.5: the 304 carries what the 200 would (its ETag and
        // Vary among them), from the one header set built above.
        if outcome == Outcome::NotModified {
            return Some(response::not_modified(&headers));
        }
        let body = sent.body.unwrap_or(&entry.body).clone();
        let mut response = Response::new(B::from(body));
        *response.status_mut() = StatusCode::OK;
        *response.headers_mut() = headers;
        Some(response)
    }

    /// The representation the preconditions judge: `chosen`, unless only
    /// another acceptable variant of the entry matches `If-None-Match`;
    /// then that one, so that the 304 names the copy the client holds.
    /// Weak tags are one for every variant, so only strong ones look.
    fn held_variant<'a>(
        &self,
        entry: &'a Stored,
        set: &'a Set,
        accepted: &Accepted,
        chosen: Representation<'a>,
        preconditions: &Preconditions<'_>,
        method: &Method,
    ) -> Representation<'a> {
        if preconditions.is_empty() || entry.etag.is_weak() {
            return chosen;
        }
        let not_modified = |etag: &ETag| {
            let current = Current::new(Some(etag), entry.last_modified());
            preconditions.evaluate(method, current) == Outcome::NotModified
        };
        if not_modified(chosen.etag) {
            return chosen;
        }
        let identity = (chosen.choice != Choice::Identity
            && accepted.accepts(Choice::Identity)
            && not_modified(&entry.etag))
        .then_some(Representation {
            choice: Choice::Identity,
            etag: &entry.etag,
            body: Some(&entry.body),
        });
        let coded = || {
            self.inner.compression.offered().iter().find_map(|&coding| {
                let choice = Choice::Coded(coding);
                let etag = set.tag(coding);
                (choice != chosen.choice && accepted.accepts(choice) && not_modified(etag))
                    .then_some(Representation {
                        choice,
                        etag,
                        body: None,
                    })
            })
        };
        identity.or_else(coded).unwrap_or(chosen)
    }
}

/// The representation the request prefers among those that exist: a
/// variant (made now if no request asked for its coding before) or the
/// stored body.
fn choose<'a>(
    entry: &'a Stored,
    set: &'a Set,
    accepted: &Accepted,
    config: &Compression,
    held: &AtomicU64,
) -> Representation<'a> {
    let identity = Representation {
        choice: Choice::Identity,
        etag: &entry.etag,
        body: Some(&entry.body),
    };
    if !accepted.wants_a_coding() {
        return identity;
    }
    // The preference ends with identity, which always exists.
    accepted
        .preference(config.offered())
        .iter()
        .find_map(|choice| match choice {
            Choice::Identity => Some(identity),
            Choice::Coded(coding) => {
                let body = set.body(coding, &entry.body, config, held)?;
                Some(Representation {
                    choice,
                    etag: set.tag(coding),
                    body: Some(body),
                })
            }
        })
        .unwrap_or(identity)
}

/// The headers of an answer with `sent`: the entry's, its `Vary` merged
/// with `accept-encoding`, the coding, and the variant's validators.
fn answer_headers(entry: &Stored, set: &Set, sent: Representation<'_>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(entry.headers.len() + 4);
    for (name, value) in entry.headers.iter() {
        if name != header::VARY {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(header::VARY, set.vary.clone());
    if let Choice::Coded(coding) = sent.choice {
        headers.insert(header::CONTENT_ENCODING, coding.header_value());
    }
    headers.insert(header::ETAG, sent.etag.to_header_value());
    if let Some(value) = entry.last_modified_value() {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers
}
