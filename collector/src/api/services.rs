//! `GET /services`: every service with its bytes on disk, segment count and the time of its
//! last entry.

use super::openapi::{ServiceInfo, ServiceList};
use axum::extract::State;
use axum::Json;

use super::{ApiError, AppState};
use crate::service::ServiceName;
use crate::store::{segments, tail, Store};

/// The services that have an active file or segments, sorted by name.
///
/// # Errors
///
/// [`ApiError::StorageUnavailable`] when the directory cannot be read.
pub async fn names(store: &Store) -> Result<Vec<ServiceName>, ApiError> {
    let dir = store.dir().to_path_buf();
    super::error::on_blocking_pool("listing services", move || all_services(&dir)).await
}

fn all_services(dir: &std::path::Path) -> std::io::Result<Vec<ServiceName>> {
    let mut services = super::stream::list_services(dir)?;
    services.extend(segments::services_with_segments(dir)?);
    services.sort();
    services.dedup();
    Ok(services)
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
    let dir = state.store.dir().to_path_buf();
    let services =
        super::error::on_blocking_pool("describing services", move || describe_all(&dir)).await?;
    Ok(Json(ServiceList {
        count: services.len(),
        services,
    }))
}

fn describe_all(dir: &std::path::Path) -> std::io::Result<Vec<ServiceInfo>> {
    all_services(dir)?
        .into_iter()
        .map(|s| describe(dir, &s))
        .collect()
}

fn describe(dir: &std::path::Path, service: &ServiceName) -> std::io::Result<ServiceInfo> {
    let active = dir.join(service.file_name());
    let active_bytes = std::fs::metadata(&active).map_or(0, |m| m.len());
    let segments = segments::list(dir, service)?;
    let segment_bytes: u64 = segments
        .iter()
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum();
    let last = tail::last_lines(&active, 1)?.pop();
    let last_timestamp = last
        .map(|l| crate::filter::timestamp_of(&l))
        .filter(|t| !t.is_empty());
    Ok(ServiceInfo {
        service: service.as_str().to_owned(),
        bytes: active_bytes + segment_bytes,
        active_bytes,
        segments: segments.len(),
        last_timestamp,
    })
}
