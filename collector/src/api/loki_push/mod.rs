//! `POST /loki/api/v1/push`: Loki's push API, so Promtail, Alloy, Vector, Fluent Bit and
//! Loki logging libraries can ship to Estuary unchanged.
//!
//! Snappy protobuf or JSON (`decode`), one line per entry (`map`), stored through the
//! same path as `POST /logs`, answered 204 like Loki. A request with any stream that cannot
//! be stored (a service label that is not a valid name, an entry over the size limit) is
//! refused whole with a 400 naming it, so a client that retries never duplicates entries.

mod decode;
mod map;
#[cfg(test)]
mod tests;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Grant;
use super::ingest::{receive, store, INLINE_PARSE_BYTES};
use super::line::{Batches, Refusals};
use super::{ApiError, AppState};

/// `POST /loki/api/v1/push`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(push))
}

/// Loki push: stores each entry of each stream; 204 after the write.
#[utoipa::path(
    post,
    path = "/loki/api/v1/push",
    tag = "ingest",
    request_body(content(
        (Object = "application/json"),
        (String = "application/x-protobuf")
    ), description = "A Loki `PushRequest`: snappy-compressed protobuf, or JSON `{\"streams\": [...]}`"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "The body does not decode, or a stream cannot be stored; nothing stored", body = super::openapi::ErrorBody),
        super::openapi::IngestErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn push(
    State(state): State<AppState>,
    grant: Grant,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let encoding = decode::PushEncoding::of(&headers)?;
    let max_entry = state.settings.max_entry_bytes;
    let limit = state.settings.max_body_bytes;
    let (batches, raw) = receive(&state, &headers, body, INLINE_PARSE_BYTES, move |bytes| {
        let streams = encoding.decode(bytes, limit)?;
        let mut batches = Batches::new(max_entry);
        let mut refused = Refusals::default();
        map::map_streams(&streams, crate::timefmt::now(), &mut batches, &mut refused);
        if refused.count > 0 {
            return Err(ApiError::BadRequest(format!(
                "{}; nothing was stored",
                refused.message("entries")
            )));
        }
        Ok(batches)
    })
    .await?;
    store(&state, &grant, batches.into_inner(), &raw).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
