//! `GET /services`: every service with its bytes on disk, segment count and the time of its
//! last entry.

use super::openapi::{ServiceInfo, ServiceList};
use axum::extract::State;
use axum::Json;

use super::{ApiError, AppState};
use crate::query::PageRequest;
use crate::service::ServiceName;
use crate::store::Store;

/// The services that have an active file or segments, sorted by name.
///
/// # Errors
///
/// [`ApiError::StorageUnavailable`] when the directory cannot be read.
pub async fn names(store: &Store) -> Result<Vec<ServiceName>, ApiError> {
    let store = store.clone();
    super::error::on_blocking_pool("listing services", move || store.services()).await
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
    if let super::backend::QueryBackend::ClickHouse(reader) = &state.backend {
        let services: Vec<ServiceInfo> = reader
            .services()
            .await?
            .into_iter()
            .map(|row| ServiceInfo {
                service: row.service,
                bytes: row.bytes,
                active_bytes: 0,
                segments: 0,
                last_timestamp: row.last.map(crate::timefmt::format_rfc3339),
            })
            .collect();
        return Ok(Json(ServiceList {
            count: services.len(),
            services,
        }));
    }
    let store = state.store.clone();
    let services =
        super::error::on_blocking_pool("describing services", move || describe_all(&store)).await?;
    Ok(Json(ServiceList {
        count: services.len(),
        services,
    }))
}

fn describe_all(store: &Store) -> std::io::Result<Vec<ServiceInfo>> {
    store
        .services()?
        .into_iter()
        .map(|s| describe(store, &s))
        .collect()
}

fn describe(store: &Store, service: &ServiceName) -> std::io::Result<ServiceInfo> {
    let usage = store.usage(service)?;
    // The newest entry may sit in a segment (the active file is empty right after rotation).
    let last_timestamp = store
        .query(service, &PageRequest::newest(1))?
        .hits
        .first()
        .map(|hit| crate::filter::timestamp_of(&hit.line))
        .filter(|t| !t.is_empty());
    Ok(ServiceInfo {
        service: service.as_str().to_owned(),
        bytes: usage.bytes(),
        active_bytes: usage.active_bytes,
        segments: usage.segments,
        last_timestamp,
    })
}
