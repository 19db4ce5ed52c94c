//! The request as the engine sees it: its method, its target as the client
//! sent it, its authority and its headers.
//!
//! Two requests that differ in any of these may be for different
//! representations, so everything that keys an entry is read here, once
//! and the same way whatever the HTTP version or the routing: the path is the
//! original one, before a router stripped a prefix (`Router::nest` hands the
//! inner router `/doc` for `/t/acme/doc`), and the authority is the target
//! URI's when it has one (HTTP/2 `:authority`, an absolute-form request,
//! RFC 9112 §3.2.2), else the `Host` field, port included either way.

use http::header::{self, HeaderMap};
use http::{Method, Uri};

/// The request as the engine needs it: method, target and headers.
///
/// Build it from the request's [`Parts`](http::request::Parts) with
/// `From`, which (with the `axum` feature) takes the target from axum's
/// `OriginalUri` when a nested router rewrote it.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target as the client sent it, before any router
    /// stripped a prefix from its path.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        RequestHead {
            method: &parts.method,
            uri: original_uri(parts),
            headers: &parts.headers,
        }
    }
}

/// The target before any router rewrote it.
pub(crate) fn original_uri(parts: &http::request::Parts) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        return &original.0;
    }
    &parts.uri
}

impl RequestHead<'_> {
    /// The authority the request is for, `host[:port]`: the target URI's
    /// (HTTP/2, absolute-form) when it has one, else the `Host` field's;
    /// empty when neither is sent.
    pub fn authority(&self) -> &str {
        if let Some(authority) = self.uri.authority() {
            // RFC 9110 §4.2.4: userinfo is deprecated and never identifies
            // the resource.
            let text = authority.as_str();
            return text.rsplit_once('@').map_or(text, |(_, host)| host);
        }
        self.headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_keeps_the_port_for_both_versions() {
        let h2 = http::Request::get("http://h:3000/p").body(()).unwrap();
        let (h2, ()) = h2.into_parts();
        assert_eq!(RequestHead::from(&h2).authority(), "h:3000");
        let h1 = http::Request::get("/p")
            .header("host", "h:3000")
            .body(())
            .unwrap();
        let (h1, ()) = h1.into_parts();
        assert_eq!(RequestHead::from(&h1).authority(), "h:3000");
        let user = http::Request::get("http://me@h:3000/p").body(()).unwrap();
        let (user, ()) = user.into_parts();
        assert_eq!(RequestHead::from(&user).authority(), "h:3000");
    }
}
