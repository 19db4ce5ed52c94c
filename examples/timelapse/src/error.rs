//! The API's errors, as JSON `{"error": "..."}` with the matching status.
//! None of them is ever stored by the cache: it stores successful responses
//! only, so a 404 for an id that does not exist yet cannot outlive its
//! creation.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cached_etag::PreconditionError;

/// What went wrong with a request.
#[derive(Debug)]
pub enum ApiError {
    /// The named thing does not exist (404).
    NotFound(String),
    /// The body parsed but a value is not acceptable (422).
    Invalid(String),
    /// A write's preconditions failed (412, with the current ETag so that
    /// the client can refetch or retry) or were required and missing (428).
    Precondition(PreconditionError),
    /// The database failed (500); the details go to the log, not the client.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Database(error)
    }
}

impl From<PreconditionError> for ApiError {
    fn from(error: PreconditionError) -> Self {
        ApiError::Precondition(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = |status: StatusCode, message: &str| {
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        };
        match self {
            ApiError::NotFound(what) => body(StatusCode::NOT_FOUND, &format!("{what} not found")),
            ApiError::Invalid(why) => body(StatusCode::UNPROCESSABLE_ENTITY, &why),
            ApiError::Precondition(error) => {
                let mut response = body(error.status(), &error.to_string());
                if let Some(current) = error.current() {
                    response
                        .headers_mut()
                        .insert(header::ETAG, current.to_header_value());
                }
                response
            }
            ApiError::Database(error) => {
                tracing::error!(%error, "database error");
                body(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}
