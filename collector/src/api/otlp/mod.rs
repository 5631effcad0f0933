//! `POST /v1/logs`: OTLP/HTTP logs, protobuf or JSON, optionally gzip.
//!
//! Decoded with `opentelemetry-proto`'s generated types (`decode`), mapped once into
//! ordinary lines (`map`), stored through the same path as `POST /logs`. Records that
//! cannot be stored are counted in `partial_success` with a 200, as OTLP asks; a body that
//! does not decode is a 400.

mod decode;
mod map;
#[cfg(test)]
mod tests;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Grant;
use super::ingest::{receive, store};
use super::line::{Batches, Refusals};
use super::{ApiError, AppState};
pub use decode::OtlpEncoding;

/// Bodies larger than this are decoded on the blocking pool, as `POST /logs` does past
/// [`super::ingest::INLINE_PARSE_BYTES`], at half that size: an OTLP byte carries more of
/// an entry than a JSON byte (1,000 records are ~200 KB of protobuf, ~285 KB of NDJSON) and
/// costs more to decode, so this is about the same millisecond of work. With such batches
/// decoded on the two async workers, fewer requests progressed at once: 0.59–0.69× NDJSON's
/// entries/s instead of 0.81–0.90×, at the same CPU per entry (docs/benchmarks/protocols.md).
const INLINE_BYTES: usize = 128 * 1024;

/// `POST /v1/logs`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_logs))
}

/// The JSON answer (the protobuf answer is `ExportLogsServiceResponse` with the same fields).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtlpResponse {
    /// Present when some records were not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_success: Option<OtlpPartialSuccess>,
}

/// The records refused and why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtlpPartialSuccess {
    /// How many records were not stored (a decimal string, as protobuf's JSON writes int64).
    pub rejected_log_records: String,
    /// The first reasons, naming each refused record by its position.
    pub error_message: String,
}

/// OTLP/HTTP log export: stores each record as an entry; 200 after the write, with
/// `partialSuccess` naming records that were refused.
#[utoipa::path(
    post,
    path = "/v1/logs",
    tag = "ingest",
    request_body(content(
        (Object = "application/json"),
        (String = "application/x-protobuf")
    ), description = "An OTLP `ExportLogsServiceRequest`"),
    responses(
        (status = 200, description = "Stored (all, or all but those named in partialSuccess)", content(
            (OtlpResponse = "application/json"),
            (String = "application/x-protobuf")
        )),
        (status = 400, description = "The body does not decode", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or unknown token", body = super::openapi::ErrorBody),
        (status = 403, description = "Token lacks the scope or the service", body = super::openapi::ErrorBody),
        (status = 408, description = "The body arrived too slowly", body = super::openapi::ErrorBody),
        (status = 413, description = "Body too large", body = super::openapi::ErrorBody),
        (status = 415, description = "Unsupported content type or encoding", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited (see Retry-After)", body = super::openapi::ErrorBody),
        (status = 503, description = "Storage unavailable or full; retry after Retry-After", body = super::openapi::ErrorBody)
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn export_logs(
    State(state): State<AppState>,
    grant: Grant,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match export(&state, &grant, &headers, body).await {
        Ok(response) => response,
        Err(err) => retryable(err),
    }
}

async fn export(
    state: &AppState,
    grant: &Grant,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let encoding = OtlpEncoding::of(headers)?;
    let max_entry = state.settings.max_entry_bytes;
    let ((batches, refused), raw) = receive(state, headers, body, INLINE_BYTES, move |bytes| {
        let request = encoding.decode(bytes)?;
        let mut batches = Batches::new(max_entry);
        let mut refused = Refusals::default();
        map::map_request(
            &request.resource_logs,
            crate::timefmt::now(),
            &mut batches,
            &mut refused,
        );
        Ok((batches, refused))
    })
    .await?;
    if refused.count > 0 {
        tracing::debug!(refused = refused.count, "OTLP records refused");
    }
    store(state, grant, batches.into_inner(), &raw).await?;
    Ok(answer(encoding, &refused))
}

/// The export answer in the request's encoding.
fn answer(encoding: OtlpEncoding, refused: &Refusals) -> Response {
    let partial = (refused.count > 0).then(|| (refused.count, refused.message("log records")));
    let (content_type, bytes) = encoding.encode_response(partial);
    let mut response = (StatusCode::OK, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// OTLP clients retry 429, 502, 503 and 504 only: a full disk (507 elsewhere) is answered
/// 503 so they keep the records and retry, and every 503 says when.
fn retryable(err: ApiError) -> Response {
    let err = match err {
        ApiError::StorageFull => ApiError::StorageUnavailable,
        other => other,
    };
    let mut response = err.into_response();
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
