//! Every way a request can fail, each with its status code and a JSON body
//! `{"error": "...", ...}`. Internal details are logged, not sent.

use super::openapi::ErrorBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::body::EntryError;
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
    /// The request holds more entries than one request may (413).
    #[error(
        "the request holds {entries} entries; at most {limit} are accepted per request: split it"
    )]
    TooManyEntries {
        /// Entries in the request.
        entries: usize,
        /// The limit.
        limit: usize,
    },
    /// The content type is not one the collector reads (415).
    #[error("unsupported content type {0:?}: send application/json or application/x-ndjson")]
    UnsupportedContentType(String),
    /// The content encoding is not one the collector reads (415).
    #[error("unsupported content encoding {0:?}: send gzip or no encoding")]
    UnsupportedEncoding(String),
    /// A protocol adapter cannot read this content type (415); the message names what it reads.
    #[error("{0}")]
    UnsupportedFormat(String),
    /// The disk is full (507); nothing was written.
    #[error("storage is full; the entries were not stored, retry later")]
    StorageFull,
    /// Storage failed or is shutting down (503); nothing was written.
    #[error("storage is unavailable; the entries were not stored, retry later")]
    StorageUnavailable,
    /// Storage failed for some services of the request after others were written (the
    /// status of `cause`): the answer names both, and a retry of the same body stores
    /// only the rest.
    #[error("{cause} for {} of the request's services; the others were stored and a retry of the same request stores only the rest", not_stored.len())]
    PartlyStored {
        /// Why the rest was not stored.
        cause: Box<ApiError>,
        /// Entries stored per service (in this attempt or an earlier one).
        stored: Vec<(String, usize)>,
        /// Entries not stored per service.
        not_stored: Vec<(String, usize)>,
    },
    /// No such route (404).
    #[error("no such endpoint")]
    NotFound,
    /// The route exists but not for this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No token, or not a configured one (401, with `WWW-Authenticate: Bearer`).
    #[error("a valid token is required: send `Authorization: Bearer <token>` or `X-Estuary-Token: <token>`")]
    Unauthorized,
    /// The token is valid but may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The client is over its rate limit (429, with `Retry-After`).
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request would be admitted.
        retry_after_secs: u64,
    },
    /// The body did not arrive in time (408); nothing was written.
    #[error("the request body was not received within {seconds} s")]
    RequestTimeout {
        /// The deadline in seconds.
        seconds: u64,
    },
    /// Every live-stream slot is taken (503).
    #[error("too many live streams are open (limit {limit}); retry later")]
    TooManyStreams {
        /// The configured cap.
        limit: usize,
    },
    /// The query backend (ClickHouse) did not answer (503); the reason is logged.
    #[error("the query backend is unavailable; retry later")]
    BackendUnavailable,
    /// The query backend (ClickHouse) stopped the query at its budget (422).
    #[error("the query needs more than its budget (--max-scan-secs, --max-scan-bytes): narrow it with service, since/until or filters")]
    OverBudget,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Entry(EntryError::TooLarge { .. })
            | ApiError::BodyTooLarge { .. }
            | ApiError::TooManyEntries { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Entry(_)
            | ApiError::ServiceName(_)
            | ApiError::Parameter { .. }
            | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedContentType(_)
            | ApiError::UnsupportedEncoding(_)
            | ApiError::UnsupportedFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PartlyStored { cause, .. } => cause.status(),
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyStreams { .. } | ApiError::BackendUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::OverBudget => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// A short label for the metrics of refused requests.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Entry(EntryError::TooLarge { .. }) => "entry_too_large",
            ApiError::Entry(_) => "invalid_entry",
            ApiError::ServiceName(_) => "invalid_service",
            ApiError::Parameter { .. } => "invalid_parameter",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::TooManyEntries { .. } => "too_many_entries",
            ApiError::UnsupportedContentType(_)
            | ApiError::UnsupportedEncoding(_)
            | ApiError::UnsupportedFormat(_) => "unsupported_media_type",
            ApiError::StorageFull => "storage_full",
            ApiError::StorageUnavailable => "storage_unavailable",
            ApiError::PartlyStored { .. } => "partly_stored",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::RequestTimeout { .. } => "timeout",
            ApiError::TooManyStreams { .. } => "too_many_streams",
            ApiError::BackendUnavailable => "backend_unavailable",
            ApiError::OverBudget => "over_budget",
        }
    }
}

impl From<crate::clickhouse::ClickHouseError> for ApiError {
    fn from(err: crate::clickhouse::ClickHouseError) -> Self {
        if let crate::clickhouse::ClickHouseError::Budget(reason) = &err {
            tracing::debug!(reason, "a ClickHouse query ran out of budget");
            return ApiError::OverBudget;
        }
        tracing::error!(%err, "ClickHouse query failed");
        ApiError::BackendUnavailable
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
        let body = ErrorBody {
            error: self.to_string(),
            index: match &self {
                ApiError::Entry(err) => err.index(),
                _ => None,
            },
            parameter: match &self {
                ApiError::Parameter { name, .. } => Some((*name).to_owned()),
                _ => None,
            },
            retry_after: match &self {
                ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
                _ => None,
            },
            stored: match &self {
                ApiError::PartlyStored { stored, .. } => Some(stored.iter().cloned().collect()),
                _ => None,
            },
            not_stored: match &self {
                ApiError::PartlyStored { not_stored, .. } => {
                    Some(not_stored.iter().cloned().collect())
                }
                _ => None,
            },
        };
        let status = self.status();
        crate::metrics::record_rejected(self.reason(), status);
        let mut response = (status, Json(body)).into_response();
        add_headers(&self, response.headers_mut());
        response
    }
}

/// `WWW-Authenticate` on 401, `Retry-After` on 429, `Connection: close` on 408.
fn add_headers(error: &ApiError, headers: &mut axum::http::HeaderMap) {
    use axum::http::{header, HeaderValue};
    match error {
        ApiError::Unauthorized => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ApiError::RateLimited { retry_after_secs } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        // The rest of a timed-out body may still be on its way: the connection cannot be reused.
        ApiError::RequestTimeout { .. } => {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
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

/// The last line of defence: a handler that panicked (a bug) still answers JSON 500 instead of
/// dropping the connection, and the panic is logged.
pub fn panicked(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic_text(&*err);
    tracing::error!(panic = detail, "a request handler panicked");
    let body = ErrorBody {
        error: "internal error".into(),
        index: None,
        parameter: None,
        retry_after: None,
        stored: None,
        not_stored: None,
    };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// What a panic said: its message when it carried one, else `"unknown"`.
pub(super) fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown")
}

/// Runs file work on the blocking pool (so slow disks never stall the async workers) and
/// turns its failure into a 503, logging the cause with `what` (never sent to the client).
///
/// # Errors
///
/// [`ApiError::StorageUnavailable`] when `work` fails or panics.
pub async fn on_blocking_pool<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let outcome = tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| join.to_string());
    storage_outcome(what, outcome)
}

/// The answer for file work that ran (`Ok`) or panicked (`Err` with the panic's text):
/// its value, or a 503 with the cause logged under `what` (never sent to the client). A
/// query stopped because its client left or the collector is stopping is not an error.
pub(super) fn storage_outcome<T>(
    what: &'static str,
    outcome: Result<std::io::Result<T>, String>,
) -> Result<T, ApiError> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::Interrupted => {
            tracing::debug!(%err, "{what} stopped");
            Err(ApiError::StorageUnavailable)
        }
        Ok(Err(err)) => {
            tracing::error!(%err, "{what} failed");
            Err(ApiError::StorageUnavailable)
        }
        Err(panic) => {
            tracing::error!(panic, "{what} panicked");
            Err(ApiError::StorageUnavailable)
        }
    }
}
