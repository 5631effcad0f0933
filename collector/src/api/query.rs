//! `GET /logs/{service}?limit=N`: the last N entries, oldest first, in the seed's shape
//! `{"service","count","logs"}`. Stored lines are passed through as bytes.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::service::ServiceName;
use crate::store::tail;

/// Entries returned when `limit` is not given (the seed's default).
pub const DEFAULT_LIMIT: usize = 100;
/// The most entries one query returns.
pub const MAX_LIMIT: usize = 10_000;

/// `GET /logs/{service}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/logs/{service}", get(query))
}

/// Query parameters, kept as text so that bad values get our own 400 message.
#[derive(Debug, Deserialize)]
struct QueryParams {
    limit: Option<String>,
}

async fn query(
    State(state): State<AppState>,
    service: Result<Path<String>, PathRejection>,
    params: Result<Query<QueryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(service) = service.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let service = ServiceName::parse(&service)?;
    let limit = parse_limit(params.limit.as_deref())?;
    let path = state.store.path_of(&service);
    let lines = tokio::task::spawn_blocking(move || tail::last_lines(&path, limit))
        .await
        .map_err(|_| ApiError::StorageUnavailable)?
        .map_err(|err| {
            tracing::error!(%service, %err, "query failed");
            ApiError::StorageUnavailable
        })?;
    let body = render(&service, &lines);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    let reason = || format!("must be an integer from 1 to {MAX_LIMIT}");
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::Parameter {
            name: "limit",
            reason: reason(),
        }),
    }
}

/// Writes `{"service":…,"count":N,"logs":[…]}` with each stored line spliced in as is.
/// A line that is not valid JSON (a hand-edited file) is skipped, so the answer always is.
fn render(service: &ServiceName, lines: &[Vec<u8>]) -> Vec<u8> {
    let valid: Vec<&Vec<u8>> = lines
        .iter()
        .filter(|line| serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok())
        .collect();
    let mut out = Vec::with_capacity(64 + valid.iter().map(|l| l.len() + 1).sum::<usize>());
    out.extend_from_slice(b"{\"service\":\"");
    // Service names are [A-Za-z0-9._-]: nothing to escape.
    out.extend_from_slice(service.as_str().as_bytes());
    out.extend_from_slice(b"\",\"count\":");
    out.extend_from_slice(valid.len().to_string().as_bytes());
    out.extend_from_slice(b",\"logs\":[");
    for (i, line) in valid.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"]}");
    out
}
