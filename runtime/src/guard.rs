//! Preconditions on writes: a [`WriteGuard`] holds a request's `If-Match`,
//! `If-Unmodified-Since` and `If-None-Match`, and, given the current state
//! of the resource the handler loaded, lets the write proceed or refuses it
//! with `412 Precondition Failed` (RFC 9110 §13.2.2) or, when the guard
//! requires a precondition and the request sent none,
//! `428 Precondition Required` (RFC 6585 §3).
//!
//! The guard never answers on its own: the handler loads the resource first
//! and calls [`WriteGuard::check`] (or [`check_missing`](WriteGuard::check_missing)
//! when it would create it, [`check_not_found`](WriteGuard::check_not_found)
//! before its 404), so a 404, 401 or 403 the handler decides always
//! comes before a precondition status (RFC 9110 §13.2.1). The evaluation
//! itself is [`Preconditions::evaluate`]; this module only keeps the fields
//! past the extractor and turns the outcome into a response.

use std::fmt;
use std::time::SystemTime;

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, Method};

use crate::ETag;
use crate::conditional::{Current, Outcome, Preconditions};

/// The preconditions of a write request (`PUT`, `PATCH`, `DELETE`, `POST` to
/// an item), checked against the state the handler loads.
///
/// As an axum extractor it never rejects; it requires a precondition (428)
/// when the request's [`Cache`](crate::Cache) was built with
/// [`require_preconditions`](crate::CacheBuilder::require_preconditions), or
/// when the handler calls [`required`](Self::required).
///
/// ```
/// use http::{HeaderMap, Method, StatusCode, header::IF_MATCH};
/// use cached_etag_runtime::{ETag, WriteGuard};
///
/// let current = ETag::from_string("v2").into_strong();
/// let mut headers = HeaderMap::new();
/// headers.insert(IF_MATCH, ETag::from_string("v1").into_strong().to_header_value());
///
/// let guard = WriteGuard::new(&Method::PUT, &headers);
/// let refused = guard.check(Some(&current), None).unwrap_err();
/// assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED);
/// assert_eq!(refused.current(), Some(&current));
/// ```
#[derive(Debug, Clone)]
pub struct WriteGuard {
    method: Method,
    /// Only the four precondition fields, so that a guard costs a few small
    /// copies, not the whole header map.
    fields: HeaderMap,
    required: bool,
}

impl WriteGuard {
    /// The preconditions of a request with this method and these headers.
    pub fn new(method: &Method, headers: &HeaderMap) -> Self {
        let mut fields = HeaderMap::new();
        for name in [
            IF_MATCH,
            IF_NONE_MATCH,
            IF_UNMODIFIED_SINCE,
            IF_MODIFIED_SINCE,
        ] {
            for value in headers.get_all(&name) {
                fields.append(name.clone(), value.clone());
            }
        }
        WriteGuard {
            method: method.clone(),
            fields,
            required: false,
        }
    }

    /// Answers 428 from [`check`](Self::check) when the request sent no
    /// precondition at all: for handlers where a lost update must not happen.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Whether a request without preconditions is refused with 428.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// Checks the preconditions against an existing resource with these
    /// validators. `Ok` means write; the error is the response to send.
    pub fn check(
        &self,
        etag: Option<&ETag>,
        last_modified: Option<SystemTime>,
    ) -> Result<(), PreconditionError> {
        self.check_current(Current::new(etag, last_modified))
    }

    /// Checks the preconditions for a write that would create the resource:
    /// `If-Match` (even `*`) fails, `If-None-Match: *` proceeds (RFC 9110
    /// §13.1.1, §13.1.2).
    pub fn check_missing(&self) -> Result<(), PreconditionError> {
        self.check_current(Current::missing())
    }

    /// For a write the handler refuses because the resource does not exist
    /// (its 404): `If-Match: *` asked for an existing representation and
    /// gets 412 (RFC 9110 §13.1.1); anything else, even a missing required
    /// precondition, leaves the answer to the handler (§13.2.1: the
    /// preconditions are ignored when the request would fail without them).
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, Method, header::IF_MATCH};
    /// use cached_etag_runtime::WriteGuard;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(IF_MATCH, HeaderValue::from_static("\"7\""));
    /// assert!(WriteGuard::new(&Method::DELETE, &headers).check_not_found().is_ok());
    /// headers.insert(IF_MATCH, HeaderValue::from_static("*"));
    /// assert!(WriteGuard::new(&Method::DELETE, &headers).check_not_found().is_err());
    /// ```
    pub fn check_not_found(&self) -> Result<(), PreconditionError> {
        let any = self
            .fields
            .get_all(IF_MATCH)
            .iter()
            .any(|value| value.as_bytes().trim_ascii() == b"*");
        if any {
            Err(PreconditionError::Failed { current: None })
        } else {
            Ok(())
        }
    }

    /// Checks the preconditions against `current`.
    pub fn check_current(&self, current: Current<'_>) -> Result<(), PreconditionError> {
        let preconditions = Preconditions::new(&self.fields);
        if self.required && preconditions.is_empty() {
            return Err(PreconditionError::Required);
        }
        match preconditions.evaluate(&self.method, current) {
            Outcome::Proceed => Ok(()),
            // 304 is an answer to GET and HEAD only; a guard on either still
            // refuses to "write".
            Outcome::PreconditionFailed | Outcome::NotModified => Err(PreconditionError::Failed {
                current: current.etag.filter(|_| current.exists).cloned(),
            }),
        }
    }
}

/// Why a write may not proceed: the response to send instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreconditionError {
    /// `412 Precondition Failed` (RFC 9110 §15.5.13): the client's version is
    /// not the current one. The response carries the current `ETag`, if the
    /// resource has one, so that the client can refetch or retry.
    Failed {
        /// The resource's current ETag.
        current: Option<ETag>,
    },
    /// `428 Precondition Required` (RFC 6585 §3): the request sent no
    /// `If-Match` (nor any other precondition).
    Required,
}

impl PreconditionError {
    /// The status to answer with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            PreconditionError::Failed { .. } => http::StatusCode::PRECONDITION_FAILED,
            PreconditionError::Required => http::StatusCode::PRECONDITION_REQUIRED,
        }
    }

    /// The current ETag a 412 carries.
    pub fn current(&self) -> Option<&ETag> {
        match self {
            PreconditionError::Failed { current } => current.as_ref(),
            PreconditionError::Required => None,
        }
    }

    /// The response, as `http` types: the status, the current `ETag` on a
    /// 412, and a plain-text body that says what to do.
    pub fn to_response(&self) -> http::Response<String> {
        let mut response = http::Response::new(self.to_string());
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(etag) = self.current() {
            headers.insert(http::header::ETAG, etag.to_header_value());
        }
        response
    }
}

impl fmt::Display for PreconditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreconditionError::Failed { .. } => f.write_str(
                "precondition failed: the resource has changed since you read it; \
                 fetch it again and retry with its ETag in If-Match",
            ),
            // RFC 6585 §3: the body should explain how to resubmit.
            PreconditionError::Required => f.write_str(
                "precondition required: send If-Match with the ETag of the version \
                 you read (or If-None-Match: * to create)",
            ),
        }
    }
}

impl std::error::Error for PreconditionError {}

#[cfg(feature = "axum")]
mod axum_glue {
    use std::convert::Infallible;

    use axum::extract::FromRequestParts;
    use axum::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::{PreconditionError, WriteGuard};
    use crate::{Cache, default_cache};

    impl<S: Send + Sync> FromRequestParts<S> for WriteGuard {
        type Rejection = Infallible;

        async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
            let cache = parts.extensions.get::<Cache>();
            let required = cache
                .unwrap_or_else(|| default_cache())
                .requires_preconditions();
            let guard = WriteGuard::new(&parts.method, &parts.headers);
            Ok(if required { guard.required() } else { guard })
        }
    }

    impl IntoResponse for PreconditionError {
        fn into_response(self) -> Response {
            self.to_response().map(axum::body::Body::from)
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use http::StatusCode;

    use super::*;

    fn guard(name: http::HeaderName, value: &'static str) -> WriteGuard {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        WriteGuard::new(&Method::PUT, &headers)
    }

    #[test]
    fn no_precondition_proceeds_unless_required() {
        let guard = WriteGuard::new(&Method::PUT, &HeaderMap::new());
        let tag = ETag::from_string("1").into_strong();
        assert_eq!(guard.check(Some(&tag), None), Ok(()));
        let required = guard.required();
        assert_eq!(
            required.check(Some(&tag), None),
            Err(PreconditionError::Required)
        );
        assert_eq!(required.check_missing(), Err(PreconditionError::Required));
    }

    #[test]
    fn a_412_carries_the_current_etag_and_a_missing_one_none() {
        let tag = ETag::from_string("2").into_strong();
        let guard = guard(IF_MATCH, "\"1\"");
        let refused = guard.check(Some(&tag), None).unwrap_err();
        assert_eq!(refused.current(), Some(&tag));
        let response = refused.to_response();
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(response.headers()[http::header::ETAG], "\"2\"");
        assert_eq!(
            guard.check_missing(),
            Err(PreconditionError::Failed { current: None })
        );
    }

    #[test]
    fn if_match_never_matches_a_weak_tag() {
        // RFC 9110 §13.1.1 and §8.8.3.2: strong comparison, so a weak current
        // ETag cannot guard a write, even against its own value.
        let weak = ETag::from_string("1");
        assert!(weak.is_weak());
        assert!(guard(IF_MATCH, "W/\"1\"").check(Some(&weak), None).is_err());
        assert!(guard(IF_MATCH, "\"1\"").check(Some(&weak), None).is_err());
        let strong = weak.into_strong();
        assert!(
            guard(IF_MATCH, "W/\"1\"")
                .check(Some(&strong), None)
                .is_err()
        );
        assert_eq!(guard(IF_MATCH, "\"1\"").check(Some(&strong), None), Ok(()));
    }

    #[test]
    fn if_none_match_star_creates_only_what_is_missing() {
        let guard = guard(IF_NONE_MATCH, "*");
        assert_eq!(guard.check_missing(), Ok(()));
        let tag = ETag::from_string("1");
        assert!(guard.check(Some(&tag), None).is_err());
    }

    #[test]
    fn the_428_body_names_the_header_to_send() {
        let response = PreconditionError::Required.to_response();
        assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
        assert!(response.body().contains("If-Match"));
        assert!(!response.headers().contains_key(http::header::ETAG));
    }
}
