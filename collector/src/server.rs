//! Wiring: open the store, build the router, serve until the shutdown future resolves, then
//! finish in-flight requests and flush every writer.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::store::{Store, StoreConfig, StoreError};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not open its directory.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Accepting or serving connections failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the collector on `listener` until `shutdown` resolves; then stops accepting,
/// lets in-flight requests finish, and waits until every writer has flushed its queue.
///
/// # Errors
///
/// [`ServerError`] when the store cannot open or the listener fails.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), estuary_collector::server::ServerError> {
/// use clap::Parser;
/// let config = estuary_collector::config::ServeConfig::parse_from(["serve"]);
/// let listener = tokio::net::TcpListener::bind(config.listen_addr()).await?;
/// estuary_collector::server::run(config, listener, estuary_collector::shutdown::signal()).await
/// # }
/// ```
pub async fn run(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let store = Store::open(StoreConfig {
        dir: config.log_dir.clone(),
        fsync: config.fsync,
        queue: config.writer_queue,
        max_commit_bytes: config.max_commit_bytes,
    })?;
    log_start(&config, &listener);
    let state = AppState {
        store: store.clone(),
        config: Arc::new(config),
        started: Instant::now(),
    };
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    store.close().await;
    tracing::info!("every writer flushed; bye");
    Ok(())
}

fn log_start(config: &ServeConfig, listener: &TcpListener) {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(
        %addr,
        log_dir = %config.log_dir.display(),
        fsync = ?config.fsync,
        "estuary collector listening"
    );
    if config.cors_origins.is_empty() {
        tracing::info!("CORS allows any origin; set --cors-origins to restrict it");
    }
    if config.redis_url().is_none() {
        tracing::info!("REDIS_URL is not set: real-time fan-out over Redis is off");
    }
}
