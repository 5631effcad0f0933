//! `GET /services`: every service with its bytes on disk, segment count and the time of its
//! last entry.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

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
    tokio::task::spawn_blocking(move || all_services(&dir))
        .await
        .map_err(|_| ApiError::StorageUnavailable)?
        .map_err(|_| ApiError::StorageUnavailable)
}

fn all_services(dir: &std::path::Path) -> std::io::Result<Vec<ServiceName>> {
    let mut services = super::stream::list_services(dir)?;
    services.extend(segments::services_with_segments(dir)?);
    services.sort();
    services.dedup();
    Ok(services)
}

/// `GET /services`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let dir = state.store.dir().to_path_buf();
    let services = tokio::task::spawn_blocking(move || describe_all(&dir))
        .await
        .map_err(|_| ApiError::StorageUnavailable)?
        .map_err(|_| ApiError::StorageUnavailable)?;
    Ok(Json(
        json!({ "count": services.len(), "services": services }),
    ))
}

fn describe_all(dir: &std::path::Path) -> std::io::Result<Vec<Value>> {
    all_services(dir)?
        .into_iter()
        .map(|s| describe(dir, &s))
        .collect()
}

fn describe(dir: &std::path::Path, service: &ServiceName) -> std::io::Result<Value> {
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
    Ok(json!({
        "service": service.as_str(),
        "bytes": active_bytes + segment_bytes,
        "active_bytes": active_bytes,
        "segments": segments.len(),
        "last_timestamp": last_timestamp,
    }))
}
