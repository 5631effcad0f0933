//! Where queries are answered from: this collector's files (the default) or a ClickHouse
//! table that every collector of a cluster forwards to. The handlers in [`super::query`],
//! [`super::counts`] and [`super::services`] ask [`QueryBackend`]; the answers keep the
//! same JSON shapes, and each carries an `Estuary-Backend` header naming the backend.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::query_params::QuerySpec;
use super::{ApiError, AppState};
use crate::clickhouse::reader::{Key, PageQuery, Reader};
use crate::query::Order;
use crate::service::ServiceName;

/// The header naming the backend that answered.
pub const BACKEND_HEADER: &str = "estuary-backend";

/// The query backend a collector runs with.
#[derive(Debug, Clone, Default)]
pub enum QueryBackend {
    /// This collector's files, through the store.
    #[default]
    Files,
    /// A ClickHouse table holding every collector's entries.
    ClickHouse(Arc<Reader>),
}

impl QueryBackend {
    /// `files` or `clickhouse`.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::api::backend::QueryBackend;
    ///
    /// assert_eq!(QueryBackend::default().name(), "files");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            QueryBackend::Files => "files",
            QueryBackend::ClickHouse(_) => "clickhouse",
        }
    }
}

/// Adds the `Estuary-Backend` header to a read answer.
pub async fn name_backend(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        BACKEND_HEADER,
        HeaderValue::from_static(state.backend.name()),
    );
    response
}

/// The services a query names (`service=a,b`), else every service the backend knows.
///
/// # Errors
///
/// [`ApiError`] for an invalid name, or when the backend cannot list its services.
pub async fn names(state: &AppState, spec: &QuerySpec) -> Result<Vec<ServiceName>, ApiError> {
    if let Some(list) = spec.services.as_deref() {
        return list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| ServiceName::parse(s).map_err(ApiError::from))
            .collect();
    }
    match &state.backend {
        QueryBackend::Files => super::services::names(&state.store).await,
        QueryBackend::ClickHouse(reader) => Ok(reader
            .service_names()
            .await?
            .iter()
            .filter_map(|name| ServiceName::parse(name).ok())
            .collect()),
    }
}

/// The services to restrict a ClickHouse query to: those named, or all (`None`).
pub fn restriction(spec: &QuerySpec, names: &[ServiceName]) -> Option<Vec<String>> {
    spec.services
        .is_some()
        .then(|| names.iter().map(|n| n.as_str().to_owned()).collect())
}

/// One page from ClickHouse over `services` (`None`: all), rendered like the files' page
/// after `head`.
///
/// # Errors
///
/// [`ApiError::Parameter`] for a cursor that is not this backend's, or
/// [`ApiError::BackendUnavailable`].
pub async fn clickhouse_page(
    reader: &Reader,
    services: Option<Vec<String>>,
    spec: &QuerySpec,
    head: &str,
) -> Result<Response, ApiError> {
    let direction = spec.request.direction;
    let after = match spec.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(Key::decode(direction, text).ok_or(ApiError::Parameter {
            name: "cursor",
            reason: "is not a cursor from a previous page of this query".into(),
        })?),
    };
    let page = reader
        .page(&PageQuery {
            services,
            filter: spec.request.filter.clone(),
            limit: spec.request.limit,
            direction,
            after,
        })
        .await?;
    let mut lines: Vec<&[u8]> = page.lines.iter().map(Vec::as_slice).collect();
    if spec.order == Order::LatestOldestFirst {
        lines.reverse();
    }
    let next = page.next.map(|key| key.encode(direction));
    Ok(super::query::render(head, lines, next, &page.work, None))
}
