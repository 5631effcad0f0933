//! `GET /services`: every service with its bytes on disk, segment count and the time of its
//! last entry.

use super::openapi::{ServiceInfo, ServiceList};
use axum::extract::State;
use axum::Json;

use super::{ApiError, AppState};
use crate::filter::LineFilter;
use crate::service::ServiceName;
use crate::store::scan::{Direction, ScanRequest};
use crate::store::{segments, Store};

/// The services that have an active file or segments, sorted by name.
///
/// # Errors
///
/// [`ApiError::StorageUnavailable`] when the directory cannot be read.
pub async fn names(store: &Store) -> Result<Vec<ServiceName>, ApiError> {
    let dir = store.dir().to_path_buf();
    super::error::on_blocking_pool("listing services", move || segments::services(&dir)).await
}

/// `GET /services`: every service with its bytes on disk and its newest timestamp.
#[utoipa::path(
    get,
    path = "/services",
    tag = "query",
    responses(
        (status = 200, description = "The services", body = super::openapi::ServiceList),
        super::openapi::ReadErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<ServiceList>, ApiError> {
    let store = state.store.clone();
    let services =
        super::error::on_blocking_pool("describing services", move || describe_all(&store)).await?;
    Ok(Json(ServiceList {
        count: services.len(),
        services,
    }))
}

fn describe_all(store: &Store) -> std::io::Result<Vec<ServiceInfo>> {
    segments::services(store.dir())?
        .into_iter()
        .map(|s| describe(store, &s))
        .collect()
}

fn describe(store: &Store, service: &ServiceName) -> std::io::Result<ServiceInfo> {
    let dir = store.dir();
    let active = dir.join(service.file_name());
    let active_bytes = std::fs::metadata(&active).map_or(0, |m| m.len());
    let segments = segments::list(dir, service)?;
    let segment_bytes: u64 = segments
        .iter()
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum();
    // The newest entry may sit in a segment (the active file is empty right after rotation).
    let newest = ScanRequest {
        filter: LineFilter::default(),
        limit: 1,
        direction: Direction::Backward,
        cursor: None,
    };
    let last_timestamp = store
        .scan(service, &newest)?
        .hits
        .first()
        .map(|hit| crate::filter::timestamp_of(&hit.line))
        .filter(|t| !t.is_empty());
    Ok(ServiceInfo {
        service: service.as_str().to_owned(),
        bytes: active_bytes + segment_bytes,
        active_bytes,
        segments: segments.len(),
        last_timestamp,
    })
}
