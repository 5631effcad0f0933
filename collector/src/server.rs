//! Wiring: open the store with its commit listeners (live hub, Redis fan-out), build the
//! router, serve until the shutdown future resolves, then finish in-flight requests, flush
//! every writer and drain the fan-out queue.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::fanout::{self, FanoutQueue, FanoutStats};
use crate::live::LiveHub;
use crate::store::{CommitListener, Store, StoreConfig, StoreError};

/// How long shutdown waits for the fan-out queue to drain into Redis.
const FANOUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not open its directory.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `REDIS_URL` is not a valid Redis URL.
    #[error("invalid REDIS_URL: {0}")]
    RedisUrl(#[from] redis::RedisError),
    /// Accepting or serving connections failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The Redis side: counters, the publisher to await at shutdown, the cluster follower.
struct Fanout {
    stats: Arc<FanoutStats>,
    publisher: JoinHandle<()>,
    cluster: JoinHandle<()>,
}

/// Serves the collector on `listener` until `shutdown` resolves; then stops accepting,
/// lets in-flight requests finish, and waits until every writer has flushed its queue.
///
/// # Errors
///
/// [`ServerError`] when the store cannot open, `REDIS_URL` is invalid, or the listener fails.
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
    let live = LiveHub::new(config.live_buffer);
    let mut listeners: Vec<Arc<dyn CommitListener>> = vec![Arc::new(live.clone())];
    let fanout = match config.redis_url() {
        Some(url) => Some(start_fanout(&config, url, &live, &mut listeners)?),
        None => None,
    };
    let store = Store::open_with(store_config(&config), listeners)?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    log_start(&config, &listener);
    let state = AppState {
        store: store.clone(),
        config: Arc::new(config),
        started: Instant::now(),
        live,
        fanout: fanout.as_ref().map(|f| f.stats.clone()),
        stopping,
    };
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    store.close().await;
    drop(store);
    if let Some(fanout) = fanout {
        fanout.cluster.abort();
        if tokio::time::timeout(FANOUT_DRAIN_TIMEOUT, fanout.publisher)
            .await
            .is_err()
        {
            tracing::warn!("Redis fan-out did not drain in time at shutdown");
        }
    }
    tracing::info!("every writer flushed; bye");
    Ok(())
}

fn store_config(config: &ServeConfig) -> StoreConfig {
    StoreConfig {
        dir: config.log_dir.clone(),
        fsync: config.fsync,
        queue: config.writer_queue,
        max_commit_bytes: config.max_commit_bytes,
    }
}

fn start_fanout(
    config: &ServeConfig,
    url: &str,
    live: &LiveHub,
    listeners: &mut Vec<Arc<dyn CommitListener>>,
) -> Result<Fanout, ServerError> {
    let client = redis::Client::open(url)?;
    let stats = Arc::new(FanoutStats::default());
    let (queue, receiver) = FanoutQueue::new(config.fanout_queue, stats.clone());
    listeners.push(Arc::new(queue));
    let id = fanout::collector_id();
    let prefix = config.redis_prefix.clone();
    let publisher =
        fanout::publisher::Publisher::new(client.clone(), prefix.clone(), id, stats.clone());
    let cluster = fanout::cluster::follow(client, prefix, id, live.clone());
    Ok(Fanout {
        stats,
        publisher: tokio::spawn(publisher.run(receiver)),
        cluster: tokio::spawn(cluster),
    })
}

fn log_start(config: &ServeConfig, listener: &TcpListener) {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
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
