//! `GET /metrics`: the collector's own metrics in Prometheus text format (see
//! [`crate::metrics`] for the list). Open unless `--metrics-token-required`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState};
use crate::metrics::Scrape;
use crate::store::Store;

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus text format; open unless `--metrics-token-required`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "status",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "Missing or unknown token", body = super::openapi::ErrorBody),
        (status = 403, description = "Token lacks the query scope", body = super::openapi::ErrorBody),
        (status = 503, description = "Storage unavailable", body = super::openapi::ErrorBody)
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    // Measuring touches the disk: keep it off the async workers.
    let disk = tokio::task::spawn_blocking(move || disk_usage(&store))
        .await
        .map_err(|_| ApiError::StorageUnavailable)?
        .unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot measure the log directory for /metrics");
            Vec::new()
        });
    let scrape = Scrape {
        disk,
        live_streams: state.live.readers(),
        fanout: state.fanout.as_ref().map(|f| {
            (
                f.published.load(Ordering::Relaxed),
                f.skipped.load(Ordering::Relaxed),
                f.connected.load(Ordering::Relaxed),
            )
        }),
        uptime_seconds: state.started.elapsed().as_secs(),
    };
    let mut body = state.metrics.render();
    scrape.render(&mut body);
    Ok(([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response())
}

/// Bytes on disk per service (active file and segments).
fn disk_usage(store: &Store) -> std::io::Result<Vec<(String, u64)>> {
    store
        .services()?
        .into_iter()
        .map(|service| Ok((service.to_string(), store.usage(&service)?.bytes())))
        .collect()
}
