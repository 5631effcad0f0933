//! Wiring: open the store with its commit listeners (live hub, Redis fan-out), build the
//! router, serve until the shutdown future resolves, then finish in-flight requests, flush
//! every writer and drain the fan-out queue.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::auth::{AccessConfigError, AccessControl};
use crate::api::connections::{self, LimitedListener};
use crate::api::protect::Protection;
use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::fanout::{self, FanoutLimits, FanoutQueue, FanoutStats};
use crate::forward::Forwarders;
use crate::live::LiveHub;
use crate::store::retention::{self, RetentionPolicy};
use crate::store::rotate::RotationPolicy;
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
    /// The tokens file cannot be used.
    #[error(transparent)]
    Access(#[from] AccessConfigError),
    /// A forwarder could not be set up.
    #[error(transparent)]
    Forward(#[from] crate::forward::ForwardError),
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
    let access = Arc::new(AccessControl::from_config(&config.access)?);
    let live = LiveHub::new(config.live_buffer);
    let mut listeners: Vec<Arc<dyn CommitListener>> = vec![Arc::new(live.clone())];
    let fanout = match config.redis_url() {
        Some(url) => Some(start_fanout(&config, url, &live, &mut listeners)?),
        None => None,
    };
    let mut forwarders = Forwarders::new(&config.forward, &config.log_dir)?;
    if !forwarders.is_empty() {
        listeners.push(forwarders.listener());
    }
    let store = Store::open_with(store_config(&config), listeners)?;
    // After the store repaired torn tails and finished pending segments.
    forwarders.spawn();
    let retention = start_retention(&config, forwarders.needed_from());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    log_start(&config, &listener);
    log_protection(&config, &access);
    let listener = LimitedListener::new(listener, config.protect.max_connections);
    let protect = Arc::new(Protection::new(&config.protect));
    let state = AppState {
        store: store.clone(),
        config: Arc::new(config),
        started: Instant::now(),
        live,
        fanout: fanout.as_ref().map(|f| f.stats.clone()),
        stopping,
        protect,
        access,
        metrics: crate::metrics::install(),
        forwarders: forwarders.status.clone(),
    };
    let header_timeout = state.protect.header_timeout();
    connections::serve(listener, api::router(state), header_timeout, shutdown).await;
    if let Some(retention) = retention {
        retention.abort();
    }
    store.close().await;
    drop(store);
    forwarders.shutdown().await;
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
        rotation: RotationPolicy {
            max_bytes: config.rotate_bytes,
            daily: config.rotate_daily,
            compress: config.compress_segments,
        },
    }
}

/// Starts the background retention pass when any retention setting is given.
/// Forwarders' unsent segments are kept (see [`Forwarders::needed_from`]).
fn start_retention(
    config: &ServeConfig,
    forwarders: Option<Arc<retention::NeededFrom>>,
) -> Option<JoinHandle<()>> {
    let policy = RetentionPolicy {
        max_age: config.retain_age,
        max_service_bytes: config.retain_service_bytes,
        max_total_bytes: config.retain_bytes,
    };
    if policy.is_off() {
        return None;
    }
    let interval = Duration::from_secs(config.retention_interval_secs.max(1));
    let needed: Arc<retention::NeededFrom> =
        forwarders.unwrap_or_else(|| Arc::new(|_service: &crate::service::ServiceName| None));
    Some(tokio::spawn(retention::run(
        config.log_dir.clone(),
        policy,
        interval,
        needed,
    )))
}

fn start_fanout(
    config: &ServeConfig,
    url: &str,
    live: &LiveHub,
    listeners: &mut Vec<Arc<dyn CommitListener>>,
) -> Result<Fanout, ServerError> {
    let client = redis::Client::open(url)?;
    let stats = Arc::new(FanoutStats::default());
    let limits = FanoutLimits {
        queue_commits: config.fanout_queue,
        queue_bytes: config.fanout_queue_bytes,
        max_rate: config.fanout_max_rate,
    };
    let (queue, receiver) = FanoutQueue::new(limits, stats.clone());
    listeners.push(Arc::new(queue));
    let id = fanout::collector_id();
    let prefix = config.redis_prefix.clone();
    let publisher =
        fanout::publisher::Publisher::new(client.clone(), prefix.clone(), id, stats.clone());
    let cluster = fanout::cluster::follow(client, prefix, id, live.clone(), stats.clone());
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

/// Says how the API is protected (never showing a token), so an open API is not silent.
fn log_protection(config: &ServeConfig, access: &AccessControl) {
    if access.is_open() {
        tracing::info!(
            "no API tokens configured: anyone who can reach the collector may send and read \
             logs; set --ingest-token/--query-token or --tokens-file to require tokens"
        );
    } else {
        tracing::info!(
            tokens = access.tokens(),
            metrics_token_required = access.metrics_token_required(),
            "API tokens required"
        );
    }
    let protect = &config.protect;
    if protect.rate_limit == 0 {
        tracing::info!("rate limiting is off; set --rate-limit to enable it");
    } else {
        tracing::info!(
            per_second = protect.rate_limit,
            burst = protect.rate_limit_burst,
            "rate limit per client (token, else IP address)"
        );
    }
    tracing::info!(
        max_connections = protect.max_connections,
        max_streams = protect.max_streams,
        body_timeout_secs = protect.body_timeout_secs,
        header_timeout_secs = protect.header_timeout_secs,
        "connection limits"
    );
}
