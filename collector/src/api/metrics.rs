//! `GET /metrics`: the collector's own metrics in Prometheus text format (see
//! [`crate::metrics`] for the list). Open unless `--metrics-token-required`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{ApiError, AppState};
use crate::metrics::{disk_usage, Scrape};

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let dir = state.store.dir().to_path_buf();
    // Listing the directory touches the disk: keep it off the async workers.
    let disk = tokio::task::spawn_blocking(move || disk_usage(&dir))
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
