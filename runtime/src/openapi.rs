//! What caching adds to an OpenAPI document (feature `utoipa`): the
//! conditional request headers a handler takes and the validators and
//! status codes it answers with, for handlers documented with
//! `#[utoipa::path]`.
//!
//! One line per handler names what it is, one call on the document adds
//! the rest:
//!
//! - a cached read (`#[cached_etag]`, or a route behind `CacheLayer`):
//!   `params(cached_etag::openapi::CachedRead)` documents `If-None-Match`
//!   and `If-Modified-Since` (RFC 9110 §13.1.2, §13.1.3);
//! - a guarded write ([`WriteGuard`](crate::WriteGuard)):
//!   `params(cached_etag::openapi::GuardedWrite)` documents `If-Match` and
//!   `If-Unmodified-Since` (RFC 9110 §13.1.1, §13.1.4);
//! - [`Conditional`], a [`Modify`] for `#[openapi(modifiers(&Conditional))]`
//!   (or called as `Conditional.modify(&mut doc)`), then gives every
//!   operation that takes `If-None-Match` the `ETag`, `Last-Modified` and
//!   `Cache-Control` headers on its 2xx responses and a `304` response
//!   (RFC 9110 §15.4.5), and every operation that takes `If-Match` a `412`
//!   (§15.5.13) and a `428` (RFC 6585 §3).
//!
//! Without the `params` line, [`cached_read`] and [`guarded_write`] do the
//! same for one [`Operation`] found in the document by hand. Everything is
//! idempotent: what an operation already documents is kept.
//!
//! ```
//! use cached_etag_runtime::openapi::{CachedRead, Conditional, GuardedWrite};
//! use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
//! use utoipa::openapi::{OpenApiBuilder, PathsBuilder, ResponseBuilder};
//! use utoipa::{IntoParams, Modify};
//!
//! // What `#[utoipa::path(get, …, params(CachedRead))]` and
//! // `#[utoipa::path(put, …, params(GuardedWrite))]` generate.
//! let read = OperationBuilder::new()
//!     .parameters(Some(CachedRead::into_params(|| None)))
//!     .response("200", ResponseBuilder::new().description("The settings"));
//! let write = OperationBuilder::new()
//!     .parameters(Some(GuardedWrite::into_params(|| None)))
//!     .response("200", ResponseBuilder::new().description("Updated"));
//! let mut item = PathItem::new(HttpMethod::Get, read);
//! item.put = Some(write.build());
//! let mut doc = OpenApiBuilder::new()
//!     .paths(PathsBuilder::new().path("/api/settings", item))
//!     .build();
//! Conditional.modify(&mut doc);
//!
//! let json = serde_json::to_value(&doc).unwrap();
//! let get = &json["paths"]["/api/settings"]["get"];
//! assert!(get["responses"]["200"]["headers"]["ETag"].is_object());
//! assert!(get["responses"]["304"].is_object());
//! let put = &json["paths"]["/api/settings"]["put"];
//! assert!(put["responses"]["412"].is_object() && put["responses"]["428"].is_object());
//! ```

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Header, ObjectBuilder, OpenApi, RefOr, Required, Response, Type};
use utoipa::{IntoParams, Modify};

/// The request headers of a cached read: `If-None-Match` and
/// `If-Modified-Since`. For `params(CachedRead)` in `#[utoipa::path]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CachedRead;

/// The request headers of a guarded write: `If-Match` and
/// `If-Unmodified-Since`. For `params(GuardedWrite)` in `#[utoipa::path]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedWrite;

/// Completes every operation of a document that takes [`CachedRead`]'s or
/// [`GuardedWrite`]'s headers; see the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditional;

impl IntoParams for CachedRead {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            header_parameter(
                "If-None-Match",
                "ETags of the representations the client holds (RFC 9110 §13.1.2); \
                 a match is answered 304 Not Modified, without the body.",
            ),
            header_parameter(
                "If-Modified-Since",
                "The Last-Modified the client holds (RFC 9110 §13.1.3); judged only \
                 without If-None-Match.",
            ),
        ]
    }
}

impl IntoParams for GuardedWrite {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            header_parameter(
                "If-Match",
                "The ETag the client last read (RFC 9110 §13.1.1, strong comparison); \
                 another current ETag is answered 412 and nothing changes.",
            ),
            header_parameter(
                "If-Unmodified-Since",
                "The Last-Modified the client last read (RFC 9110 §13.1.4); judged \
                 only without If-Match.",
            ),
        ]
    }
}

impl Modify for Conditional {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
            ];
            for operation in operations.into_iter().flatten() {
                if takes_header(operation, "If-None-Match") {
                    cached_read(operation);
                }
                if takes_header(operation, "If-Match") {
                    guarded_write(operation);
                }
            }
        }
    }
}

/// Documents `operation` as a cached read: [`CachedRead`]'s parameters,
/// `ETag`, `Last-Modified` and `Cache-Control` on its 2xx responses, and a
/// `304 Not Modified` with the same headers and no body.
pub fn cached_read(operation: &mut Operation) {
    add_parameters(operation, CachedRead::into_params(|| None));
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            add_validators(response);
        }
    }
    let mut not_modified = Response::new(
        "Not Modified: the client's copy is current (RFC 9110 §15.4.5). No body; \
         the headers the 200 would carry.",
    );
    add_validators(&mut not_modified);
    add_response(operation, "304", not_modified);
}

/// Documents `operation` as a guarded write: [`GuardedWrite`]'s
/// parameters, `412 Precondition Failed` and `428 Precondition Required`.
pub fn guarded_write(operation: &mut Operation) {
    add_parameters(operation, GuardedWrite::into_params(|| None));
    let mut failed = Response::new(
        "Precondition Failed: the resource changed since the client read it \
         (RFC 9110 §15.5.13); nothing was written. Carries the current ETag.",
    );
    failed
        .headers
        .insert("ETag".into(), string_header("The current ETag."));
    add_response(operation, "412", failed);
    add_response(
        operation,
        "428",
        Response::new(
            "Precondition Required: the write sent neither If-Match nor \
             If-Unmodified-Since, and the service requires one (RFC 6585 §3).",
        ),
    );
}

fn header_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn string_header(description: &str) -> RefOr<Header> {
    let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String));
    header.description = Some(description.to_owned());
    RefOr::T(header)
}

/// The validators and freshness of a cached response.
fn add_validators(response: &mut Response) {
    let headers = [
        (
            "ETag",
            "The representation's entity tag (RFC 9110 §8.8.3), for If-None-Match and If-Match.",
        ),
        (
            "Last-Modified",
            "When the representation last changed (RFC 9110 §8.8.2), when known.",
        ),
        (
            "Cache-Control",
            "How long clients may reuse it (RFC 9111 §5.2).",
        ),
    ];
    for (name, description) in headers {
        response
            .headers
            .entry(name.to_owned())
            .or_insert_with(|| string_header(description));
    }
}

fn add_response(operation: &mut Operation, status: &str, response: Response) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert(RefOr::T(response));
}

fn takes_header(operation: &Operation, name: &str) -> bool {
    operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Header
            && p.name.eq_ignore_ascii_case(name))
    })
}

fn add_parameters(operation: &mut Operation, parameters: Vec<Parameter>) {
    for parameter in parameters {
        if !takes_header(operation, &parameter.name) {
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(parameter));
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::ResponseBuilder;
    use utoipa::openapi::path::OperationBuilder;

    use super::*;

    #[test]
    fn completing_twice_adds_nothing_and_keeps_what_was_documented() {
        let mut documented = Response::new("The item");
        documented.headers.insert(
            "ETag".into(),
            string_header("A tag the handler documented itself."),
        );
        let mut operation = OperationBuilder::new()
            .response("200", documented)
            .response("404", ResponseBuilder::new().description("Not found"))
            .build();
        cached_read(&mut operation);
        let once = serde_json::to_value(&operation).unwrap();
        cached_read(&mut operation);
        assert_eq!(serde_json::to_value(&operation).unwrap(), once);
        let ok = &once["responses"]["200"]["headers"];
        assert_eq!(
            ok["ETag"]["description"],
            "A tag the handler documented itself."
        );
        assert!(ok["Cache-Control"].is_object() && ok["Last-Modified"].is_object());
        assert!(
            once["responses"]["404"]["headers"].is_null(),
            "errors carry no validators"
        );
        assert_eq!(once["parameters"].as_array().unwrap().len(), 2);
        assert!(once["responses"]["304"]["headers"]["ETag"].is_object());

        guarded_write(&mut operation);
        let names: Vec<&str> = operation
            .parameters
            .iter()
            .flatten()
            .filter_map(|p| match p {
                RefOr::T(p) => Some(p.name.as_str()),
                RefOr::Ref(_) => None,
            })
            .collect();
        assert_eq!(
            names,
            [
                "If-None-Match",
                "If-Modified-Since",
                "If-Match",
                "If-Unmodified-Since"
            ]
        );
    }
}
