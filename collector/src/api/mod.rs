//! The HTTP surface. Each module exposes `router()`; [`router`] merges them and adds the
//! cross-cutting layers (CORS, request tracing, JSON fallbacks).

pub mod error;
pub mod health;
pub mod ingest;
pub mod query;
pub mod stream;

use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::config::ServeConfig;
use crate::fanout::FanoutStats;
use crate::live::LiveHub;
use crate::store::Store;
pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The per-service files.
    pub store: Store,
    /// The settings the collector runs with.
    pub config: Arc<ServeConfig>,
    /// When the collector started (for `/health`).
    pub started: Instant,
    /// The live feed behind the streams.
    pub live: LiveHub,
    /// Redis fan-out counters, when fan-out is on.
    pub fanout: Option<Arc<FanoutStats>>,
    /// Turns true when shutdown begins, so long-lived streams end and let it finish.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// The whole API: health, ingestion and queries, with CORS and tracing.
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, time::Instant};
/// use clap::Parser;
/// use estuary_collector::{api, config::ServeConfig, store::{FsyncPolicy, Store, StoreConfig}};
///
/// let dir = tempfile::tempdir().unwrap();
/// let config = ServeConfig::parse_from(["serve"]);
/// let store = Store::open(StoreConfig {
///     dir: dir.path().into(),
///     fsync: FsyncPolicy::Never,
///     queue: 64,
///     max_commit_bytes: 1 << 20,
/// })
/// .unwrap();
/// let state = api::AppState {
///     store,
///     config: Arc::new(config),
///     started: Instant::now(),
///     live: estuary_collector::live::LiveHub::new(16),
///     fanout: None,
///     stopping: tokio::sync::watch::channel(false).1,
/// };
/// let app: axum::Router = api::router(state);
/// ```
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config.cors_origins);
    Router::new()
        .merge(health::router())
        .merge(ingest::router())
        .merge(query::router())
        .merge(stream::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Any origin when `origins` is empty (the seed's behaviour), else exactly those listed.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.is_empty() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::AUTHORIZATION,
        ])
}
