//! Every way a request can fail, each with its status code and a JSON body
//! `{"error": "...", ...}`. Internal details are logged, not sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::entry::EntryError;
use crate::service::ServiceNameError;
use crate::store::AppendError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body's entries are invalid (400), or one is too large (413).
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A service name in the path is invalid (400).
    #[error("invalid service name: {0}")]
    ServiceName(#[from] ServiceNameError),
    /// A query parameter is invalid (400).
    #[error("invalid parameter {name:?}: {reason}")]
    Parameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The request is malformed in some other way (400).
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the size limit (413).
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The content type is not one the collector reads (415).
    #[error("unsupported content type {0:?}: send application/json or application/x-ndjson")]
    UnsupportedContentType(String),
    /// The content encoding is not one the collector reads (415).
    #[error("unsupported content encoding {0:?}: send gzip or no encoding")]
    UnsupportedEncoding(String),
    /// The disk is full (507); nothing was written.
    #[error("storage is full; the entries were not stored, retry later")]
    StorageFull,
    /// Storage failed or is shutting down (503); nothing was written.
    #[error("storage is unavailable; the entries were not stored, retry later")]
    StorageUnavailable,
    /// No such route (404).
    #[error("no such endpoint")]
    NotFound,
    /// The route exists but not for this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Entry(EntryError::TooLarge { .. }) | ApiError::BodyTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Entry(_)
            | ApiError::ServiceName(_)
            | ApiError::Parameter { .. }
            | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedContentType(_) | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

impl From<AppendError> for ApiError {
    fn from(err: AppendError) -> Self {
        match err {
            AppendError::Full(_) => ApiError::StorageFull,
            AppendError::Io(_) | AppendError::Closed => ApiError::StorageUnavailable,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.to_string() });
        match &self {
            ApiError::Entry(err) => {
                if let Some(index) = err.index() {
                    body["index"] = index.into();
                }
            }
            ApiError::Parameter { name, .. } => body["parameter"] = (*name).into(),
            _ => {}
        }
        (self.status(), Json(body)).into_response()
    }
}

/// The JSON 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// The JSON 405 for known routes with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
