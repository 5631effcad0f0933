//! The OpenAPI 3 description of every endpoint, generated from the handlers' own
//! `#[utoipa::path]` annotations as the routes are registered (`utoipa-axum`), so the
//! document cannot list a route that is not served or miss one that is. Served at
//! `GET /openapi.json`. The response types here are the ones the handlers serialize.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's fixed parts; paths are added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Estuary collector",
        description = "One place to send logs, one place to read them. Errors are always JSON `{\"error\": ...}`."
    ),
    components(schemas(ErrorBody, Logged, LogsPage, MergedPage, ServiceList, ServiceInfo, super::otlp::OtlpResponse, super::otlp::OtlpPartialSuccess)),
    modifiers(&TokenSchemes)
)]
pub struct ApiDoc;

/// Declares the two ways to send a token.
struct TokenSchemes;

impl Modify for TokenSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "token_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Estuary-Token"))),
        );
    }
}

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// The offending entry's position in the body, when one entry is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The offending query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Seconds to wait before retrying (with 429).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// When storage failed for part of a request: entries stored per service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<std::collections::BTreeMap<String, usize>>,
    /// When storage failed for part of a request: entries not stored per service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_stored: Option<std::collections::BTreeMap<String, usize>>,
}

/// The answer to an accepted `POST /logs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Logged {
    /// Always `logged`.
    pub status: &'static str,
    /// Entries stored (for a batch; absent for a single object, as in the seed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<usize>,
}

/// One page of `GET /logs/{service}` (written as bytes; this is its shape).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct LogsPage {
    /// The service.
    pub service: String,
    /// Entries in `logs`.
    pub count: u64,
    /// The stored entries, as they were stored.
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<serde_json::Value>,
    /// Pass as `cursor` for the next page; present when more entries match.
    pub next_cursor: Option<String>,
    /// Bytes read to answer.
    pub scanned_bytes: u64,
    /// Files read to answer.
    pub files_scanned: u64,
    /// Segments skipped because their time range cannot match.
    pub segments_skipped: u64,
    /// Present when the scan stopped at its budget (`scan_bytes`, `scan_time`) before the
    /// page was full: `next_cursor` continues from where it stopped.
    pub stopped: Option<String>,
}

/// One page of `GET /logs` (several services merged by timestamp).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct MergedPage {
    /// The services searched.
    pub services: Vec<String>,
    /// Entries in `logs`.
    pub count: u64,
    /// The stored entries, as they were stored.
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<serde_json::Value>,
    /// Pass as `cursor` for the next page; present when more entries match.
    pub next_cursor: Option<String>,
    /// Bytes read to answer.
    pub scanned_bytes: u64,
    /// Files read to answer.
    pub files_scanned: u64,
    /// Segments skipped because their time range cannot match.
    pub segments_skipped: u64,
    /// Present when the scan stopped at its budget (`scan_bytes`, `scan_time`) before the
    /// page was full: `next_cursor` continues from where it stopped.
    pub stopped: Option<String>,
}

/// `GET /services`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    /// How many services.
    pub count: usize,
    /// One item per service, by name.
    pub services: Vec<ServiceInfo>,
}

/// A service's storage.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceInfo {
    /// The service.
    pub service: String,
    /// Bytes on disk, active file and segments.
    pub bytes: u64,
    /// Bytes of the active file.
    pub active_bytes: u64,
    /// Rotated segments.
    pub segments: usize,
    /// The `timestamp` of the newest entry, when it has one.
    pub last_timestamp: Option<String>,
}

/// The document, serialized once when the router is built.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// `GET /openapi.json`.
pub async fn serve(State(document): State<Document>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.0.as_str().to_owned(),
    )
}

/// One log entry as `POST /logs` accepts it: any JSON object; these keys have meaning.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct LogEntry {
    /// The file it goes to; `unknown` when absent.
    #[schema(
        pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$",
        max_length = 128,
        min_length = 1
    )]
    pub service: Option<String>,
    /// RFC 3339; added (UTC, nanoseconds) when absent, kept as given otherwise.
    pub timestamp: Option<String>,
    /// The severity (`trace` … `fatal`, any case).
    pub level: Option<String>,
    /// The message.
    pub message: Option<String>,
}

/// A `POST /logs` JSON body: one entry (the seed's form) or an array of entries.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum LogBody {
    /// One entry.
    One(LogEntry),
    /// A batch.
    Many(Vec<LogEntry>),
}

/// The filters and paging of `GET /logs/{service}` and `GET /logs` (documentation; the
/// handlers parse them with [`super::query_params`], which names a bad one in its 400).
/// `field.<path>=<value>` parameters filter on any key and `field.<path>!=<value>` leave
/// out entries where it holds the value; they are not listed.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FilterParams {
    /// Entries per page (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// Minimum severity: trace, debug, info, warn, error, fatal.
    pub level: Option<String>,
    /// RFC 3339 or a span back from now (15m, 2h, 7d).
    pub since: Option<String>,
    /// RFC 3339 or a span back from now.
    pub until: Option<String>,
    /// Text contained in the stored line.
    pub q: Option<String>,
    /// Module path, or a prefix of it at a `::`.
    pub target: Option<String>,
    /// Leave out lines containing this text (repeatable; `field.<path>!=<value>` leaves
    /// out entries where the path holds the value).
    #[param(rename = "q!")]
    pub not_q: Option<String>,
    /// Leave out entries in this module path or nested in it (repeatable).
    #[param(rename = "target!")]
    pub not_target: Option<String>,
    /// `asc` or `desc`; absent: the newest matches, listed oldest first.
    pub order: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The parameters of the live streams (documentation, as [`FilterParams`]).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamDocParams {
    /// Minimum severity.
    pub level: Option<String>,
    /// Text contained in the line.
    pub q: Option<String>,
    /// Module path, or a prefix of it at a `::`.
    pub target: Option<String>,
    /// Leave out lines containing this text (repeatable).
    #[param(rename = "q!")]
    pub not_q: Option<String>,
    /// Leave out entries in this module path or nested in it (repeatable).
    #[param(rename = "target!")]
    pub not_target: Option<String>,
    /// Replay this many stored entries first.
    #[param(maximum = 10000)]
    pub tail: Option<u32>,
}

/// The failures every read route can answer with.
#[derive(Debug, utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// A parameter is invalid.
    #[response(status = 400, description = "Invalid parameter")]
    BadRequest(ErrorBody),
    /// No token, or an unknown one.
    #[response(status = 401, description = "Missing or unknown token")]
    Unauthorized(ErrorBody),
    /// The token lacks the `query` scope.
    #[response(status = 403, description = "Token lacks the query scope")]
    Forbidden(ErrorBody),
    /// Rate limited.
    #[response(status = 429, description = "Rate limited")]
    TooManyRequests(ErrorBody),
    /// The files could not be read, or (with `--query-backend clickhouse`) ClickHouse did
    /// not answer.
    #[response(status = 503, description = "Storage or query backend unavailable")]
    Unavailable(ErrorBody),
}

/// The failures every ingest route shares beyond its own 400 (`POST /logs`, Loki push,
/// `_bulk`): they all receive and store through `api::ingest`.
#[derive(Debug, utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum IngestErrors {
    /// No token, or an unknown one.
    #[response(status = 401, description = "Missing or unknown token")]
    Unauthorized(ErrorBody),
    /// The token lacks the `ingest` scope, or may not write a service.
    #[response(status = 403, description = "Token lacks the scope or the service")]
    Forbidden(ErrorBody),
    /// The body arrived too slowly.
    #[response(status = 408, description = "The body arrived too slowly")]
    Timeout(ErrorBody),
    /// The body (or an entry) is over its limit.
    #[response(status = 413, description = "Body or entry too large")]
    TooLarge(ErrorBody),
    /// A content type or encoding the collector does not read.
    #[response(status = 415, description = "Unsupported content type or encoding")]
    Unsupported(ErrorBody),
    /// Rate limited.
    #[response(status = 429, description = "Rate limited (see Retry-After)")]
    TooManyRequests(ErrorBody),
    /// Storage failed; nothing was stored.
    #[response(status = 503, description = "Storage unavailable; nothing stored")]
    Unavailable(ErrorBody),
    /// The disk is full; nothing was stored.
    #[response(status = 507, description = "Disk full; nothing stored")]
    Full(ErrorBody),
}
