//! The HTTP surface. Each module exposes `router()`; the protocol adapters ([`otlp`],
//! [`loki_push`], [`bulk`]) sit behind the same ingest gate as [`ingest`] and share its
//! receive and store steps; [`router`] merges them and adds the
//! cross-cutting layers (access gates and rate limits from [`auth`] and [`protect`], CORS,
//! request tracing, JSON fallbacks). [`connections`] serves the router on a capped listener.
//! [`console`] serves the web console, open like `/health`, beside the API it reads.

pub mod auth;
pub mod backend;
pub mod bulk;
pub mod connections;
pub mod console;
pub mod counts;
pub mod error;
pub mod health;
pub mod ingest;
pub(crate) mod line;
pub mod live;
pub mod loki_push;
pub mod metrics;
pub mod openapi;
pub mod otlp;
pub mod partial;
pub mod protect;
pub mod query;
pub mod query_params;
pub mod scan_pool;
pub mod services;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::from_fn_with_state;
use axum::Router;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{
    DefaultMakeSpan, DefaultOnFailure, DefaultOnRequest, DefaultOnResponse, TraceLayer,
};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::fanout::FanoutStats;
use crate::live::LiveHub;
use crate::store::Store;
pub use error::ApiError;

/// What the HTTP handlers are configured with.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The name `/health` reports.
    pub service_name: String,
    /// Origins CORS allows; empty allows any.
    pub cors_origins: Vec<String>,
    /// Largest request body, after decompression.
    pub max_body_bytes: usize,
    /// Largest single entry.
    pub max_entry_bytes: usize,
    /// Most entries in one request.
    pub max_request_entries: usize,
    /// Time between heartbeat comments on idle live streams.
    pub sse_heartbeat: std::time::Duration,
}

impl Default for ApiSettings {
    /// The defaults of `estuary serve`.
    fn default() -> Self {
        ApiSettings {
            service_name: "logging-service".into(),
            cors_origins: Vec::new(),
            max_body_bytes: 10 * 1024 * 1024,
            max_entry_bytes: 2 * 1024 * 1024,
            max_request_entries: 100_000,
            sse_heartbeat: std::time::Duration::from_secs(15),
        }
    }
}

/// What every handler can reach. One shared pointer: axum clones the state for every
/// extractor and middleware of every request, so a clone must cost one reference count.
#[derive(Clone)]
pub struct AppState(Arc<AppResources>);

impl AppState {
    /// The state holding `resources`.
    pub fn new(resources: AppResources) -> Self {
        AppState(Arc::new(resources))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppResources;

    fn deref(&self) -> &AppResources {
        &self.0
    }
}

/// What [`AppState`] shares with every handler.
pub struct AppResources {
    /// The per-service files.
    pub store: Store,
    /// The settings the handlers run with.
    pub settings: Arc<ApiSettings>,
    /// When the collector started (for `/health`).
    pub started: Instant,
    /// The live feed behind the streams.
    pub live: LiveHub,
    /// Redis fan-out counters, when fan-out is on.
    pub fanout: Option<Arc<FanoutStats>>,
    /// Cancelled when shutdown begins, so long-lived streams end and let it finish.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The tokens and what each may do.
    pub access: Arc<auth::AccessControl>,
    /// Rate limits, the body deadline and the stream cap.
    pub protect: Arc<protect::Protection>,
    /// Renders the recorded metrics for `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Each forwarder's progress and lag, for `/health`.
    pub forwarders: crate::forward::ForwardStatus,
    /// Where queries are answered from.
    pub backend: backend::QueryBackend,
}

/// The whole API: health, ingestion and queries, with CORS and tracing.
///
/// # Examples
///
/// ```
/// use std::{sync::Arc, time::Instant};
/// use estuary_collector::api::{self, protect::{Limits, Protection}};
/// use estuary_collector::store::{Store, StoreConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let state = api::AppState::new(api::AppResources {
///     store: Store::open(StoreConfig::new(dir.path())).unwrap(),
///     settings: Arc::default(),
///     started: Instant::now(),
///     live: estuary_collector::live::LiveHub::new(16),
///     fanout: None,
///     shutdown: Default::default(),
///     access: Arc::default(),
///     protect: Arc::new(Protection::new(Limits { max_streams: 8, ..Limits::default() }).unwrap()),
///     metrics: estuary_collector::metrics::install(),
///     forwarders: Default::default(),
///     backend: Default::default(),
/// });
/// let app: axum::Router = api::router(state);
/// ```
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.settings.cors_origins);
    // Every route but `/health` sits behind a gate (token scope, rate limit): new read
    // routes go in `read`.
    let read = OpenApiRouter::new()
        .merge(
            query::router()
                .merge(counts::router())
                .route_layer(from_fn_with_state(state.clone(), backend::name_backend)),
        )
        .merge(live::router())
        .route_layer(from_fn_with_state(state.clone(), auth::require_query));
    let (routes, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(
            metrics::router().route_layer(from_fn_with_state(state.clone(), auth::require_metrics)),
        )
        .merge(
            bulk::product_router()
                .route_layer(axum::middleware::from_fn(console::page_for_browsers)),
        )
        .merge(
            ingest::router()
                .merge(otlp::router())
                .merge(loki_push::router())
                .merge(bulk::router())
                .route_layer(from_fn_with_state(state.clone(), auth::require_ingest)),
        )
        .merge(read)
        .split_for_parts();
    routes
        .merge(openapi_route(&document))
        .merge(console::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(cors)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panicked,
        ))
        .layer(trace_layer())
        .with_state(state)
}

/// `GET /openapi.json`, serving the document generated from the routes above.
fn openapi_route(document: &utoipa::openapi::OpenApi) -> Router<AppState> {
    let json = document.to_json().unwrap_or_else(|_| String::from("{}"));
    Router::new()
        .route("/openapi.json", axum::routing::get(openapi::serve))
        .with_state(openapi::Document(Arc::new(json)))
}

/// The collector's own HTTP traffic, all at DEBUG so `RUST_LOG=info` stays quiet (errors
/// worth an operator's eye are logged where they happen). Headers are never recorded: they
/// carry tokens.
fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>> {
    TraceLayer::new_for_http()
        .make_span_with(
            DefaultMakeSpan::new()
                .level(Level::DEBUG)
                .include_headers(false),
        )
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        .on_failure(DefaultOnFailure::new().level(Level::DEBUG))
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
            HeaderName::from_static(auth::TOKEN_HEADER),
        ])
}
