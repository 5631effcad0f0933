//! Elasticsearch's bulk API, so Filebeat, Fluent Bit, Vector, Logstash and the official
//! clients can ship to Estuary: `POST /_bulk`, `POST /{index}/_bulk`, and `GET /` answering
//! the product check clients make before their first request.
//!
//! `index` and `create` store their document as an entry (`map`); `update` and `delete`
//! are answered per item with a 400 (the store is append-only). The answer is
//! Elasticsearch's, a status per item; every answer carries `X-Elastic-Product`.

mod decode;
mod map;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Grant;
use super::ingest::{receive, store, INLINE_PARSE_BYTES};
use super::line::Batches;
use super::{ApiError, AppState};
use decode::Op;

/// The Elasticsearch version `GET /` reports: clients and shippers of the 7.x and 8.x lines
/// accept it, and it is what the bulk answers follow.
pub const REPORTED_VERSION: &str = "8.17.0";
/// The header every Elasticsearch answer carries; clients refuse a 2xx without it.
const PRODUCT_HEADER: HeaderName = HeaderName::from_static("x-elastic-product");

/// `POST /_bulk` and `POST /{index}/_bulk` (also `PUT`), behind the ingest gate.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bulk, bulk_put))
        .routes(routes!(bulk_index, bulk_index_put))
        .layer(axum::middleware::map_response(product_header))
}

/// `GET /`: open, like `/health`, since clients probe it before sending credentials.
pub fn product_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(product))
        .layer(axum::middleware::map_response(product_header))
}

async fn product_header(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(PRODUCT_HEADER, HeaderValue::from_static("Elasticsearch"));
    response
}

/// The Elasticsearch product check: what `GET /` of a cluster answers.
///
/// Browsers (an `Accept` that prefers `text/html`) get the web console here instead.
#[utoipa::path(get, path = "/", tag = "compat", responses(
    (status = 200, description = "Elasticsearch's root answer, with `X-Elastic-Product: Elasticsearch`", body = Object)
))]
async fn product(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "name": state.settings.service_name,
        "cluster_name": "estuary",
        "cluster_uuid": "estuary",
        "version": {
            "number": REPORTED_VERSION,
            "build_flavor": "default",
            "build_type": "estuary",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_date": "2024-01-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
}

/// Elasticsearch bulk: each `index`/`create` document becomes an entry (service from its
/// `service` field, else ECS `service.name`, else the index name).
#[utoipa::path(post, path = "/_bulk", tag = "ingest",
    request_body(content((String = "application/x-ndjson"), (String = "application/json")), description = "Action and source lines"),
    responses(
        (status = 200, description = "Elasticsearch's bulk answer: a status per item", body = Object),
        (status = 400, description = "The body is not a bulk body; nothing stored", body = super::openapi::ErrorBody),
        super::openapi::IngestErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn bulk(
    state: State<AppState>,
    grant: Grant,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    handle(&state, &grant, &headers, body, None).await
}

/// `PUT /_bulk`, as `POST`.
#[utoipa::path(put, path = "/_bulk", tag = "ingest",
    request_body(content((String = "application/x-ndjson"), (String = "application/json"))),
    responses((status = 200, description = "As POST", body = Object), (status = 400, description = "As POST", body = super::openapi::ErrorBody), super::openapi::IngestErrors),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn bulk_put(
    state: State<AppState>,
    grant: Grant,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    handle(&state, &grant, &headers, body, None).await
}

/// Elasticsearch bulk with a default index (the service when documents name none).
#[utoipa::path(post, path = "/{index}/_bulk", tag = "ingest",
    params(("index" = String, Path, description = "The default index for actions without `_index`")),
    request_body(content((String = "application/x-ndjson"), (String = "application/json"))),
    responses((status = 200, description = "As /_bulk", body = Object), (status = 400, description = "As /_bulk", body = super::openapi::ErrorBody), super::openapi::IngestErrors),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn bulk_index(
    state: State<AppState>,
    grant: Grant,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    handle(&state, &grant, &headers, body, Some(index)).await
}

/// `PUT /{index}/_bulk`, as `POST`.
#[utoipa::path(put, path = "/{index}/_bulk", tag = "ingest",
    params(("index" = String, Path, description = "The default index")),
    request_body(content((String = "application/x-ndjson"), (String = "application/json"))),
    responses((status = 200, description = "As POST", body = Object), (status = 400, description = "As POST", body = super::openapi::ErrorBody), super::openapi::IngestErrors),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn bulk_index_put(
    state: State<AppState>,
    grant: Grant,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    handle(&state, &grant, &headers, body, Some(index)).await
}

async fn handle(
    state: &AppState,
    grant: &Grant,
    headers: &HeaderMap,
    body: Body,
    path_index: Option<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let max_entry = state.settings.max_entry_bytes;
    let ((batches, items), raw) = receive(state, headers, body, INLINE_PARSE_BYTES, move |bytes| {
        let actions = decode::parse(bytes, path_index.as_deref())?;
        Ok(apply(&actions, max_entry, crate::timefmt::now()))
    })
    .await?;
    store(state, grant, batches.into_inner(), &raw).await?;
    let errors = items.iter().any(item_failed);
    Ok(Json(json!({
        "took": started.elapsed().as_millis() as u64,
        "errors": errors,
        "items": items,
    }))
    .into_response())
}

fn item_failed(item: &Value) -> bool {
    item.as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v.get("error"))
        .is_some()
}

/// Maps each action, returning the lines to store and the answer's items in order.
fn apply(actions: &[decode::Action<'_>], max_entry: usize, now: i128) -> (Batches, Vec<Value>) {
    let mut batches = Batches::new(max_entry);
    let mut items = Vec::with_capacity(actions.len());
    let mut line = Vec::new();
    for action in actions {
        let id = action.id.clone().unwrap_or_else(generated_id);
        let index = action.index.clone().unwrap_or_default();
        let result = match (action.op, action.source) {
            (Op::Index | Op::Create, Some(source)) => {
                map::map_document(&mut line, source, action.index.as_deref(), now).and_then(
                    |service| {
                        batches
                            .push(&service, &line)
                            .map_err(|reason| map::ItemError {
                                kind: "illegal_argument_exception",
                                reason,
                            })
                    },
                )
            }
            _ => Err(map::ItemError {
                kind: "illegal_argument_exception",
                reason: format!(
                    "Estuary stores logs append-only: {} is not supported; use index or create",
                    action.op.name()
                ),
            }),
        };
        let item = match result {
            Ok(()) => json!({
                "_index": index, "_id": id, "_version": 1, "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": 0, "_primary_term": 1, "status": 201
            }),
            Err(err) => json!({
                "_index": index, "_id": id, "status": 400,
                "error": {"type": err.kind, "reason": err.reason}
            }),
        };
        items.push(json!({ action.op.name(): item }));
    }
    (batches, items)
}

/// An id for a document sent without one: unique within this process, ordered by arrival.
fn generated_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n:x}", crate::timefmt::now() / 1_000_000)
}
