//! Wiring: open the store with its commit listeners (live hub, Redis fan-out, forwarders),
//! build the router, serve until the shutdown future resolves, then stop everything in one
//! order, written once in [`run`]:
//!
//! 1. stop accepting connections; in-flight requests finish and live streams end;
//! 2. drain the store's writers (every acknowledged entry is on disk);
//! 3. flush the Redis fan-out queue (bounded wait);
//! 4. forwarders stop at a checkpoint (bounded wait);
//! 5. retention and the cluster follower end.
//!
//! Each stage has its own [`CancellationToken`]; every background task is spawned on one
//! [`TaskTracker`] and awaited, none is aborted.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::auth::{AccessConfigError, AccessControl};
use crate::api::connections::{self, LimitedListener};
use crate::api::protect::Protection;
use crate::api::{self, AppResources, AppState};
use crate::config::Settings;
use crate::fanout::{self, FanoutQueue, FanoutSettings, FanoutStats};
use crate::forward::Forwarders;
use crate::live::LiveHub;
use crate::store::{CommitListener, NeededFrom, Store, StoreError};

/// How long shutdown waits for the fan-out queue to drain into Redis.
const FANOUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not open its directory.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Accepting or serving connections failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    /// The tokens file cannot be used.
    #[error(transparent)]
    Access(#[from] AccessConfigError),
    /// A forwarder could not be set up.
    #[error(transparent)]
    Forward(#[from] crate::forward::ForwardError),
    /// The query threads could not start.
    #[error("cannot start the query threads: {0}")]
    QueryThreads(std::io::Error),
}

/// The query backend the settings ask for. A ClickHouse that does not answer yet is only
/// logged: queries answer 503 until it does, while ingestion goes on.
async fn query_backend(settings: &Settings) -> Result<api::backend::QueryBackend, ServerError> {
    let crate::config::QueryBackendSettings::ClickHouse(config) = &settings.query_backend else {
        return Ok(api::backend::QueryBackend::Files);
    };
    let client = crate::clickhouse::Client::new(config, settings.forward.request_timeout)
        .map_err(crate::forward::ForwardError::from)?;
    match client.version().await {
        Ok(version) => {
            tracing::info!(url = %config.url, ?version, "queries are answered from ClickHouse")
        }
        Err(err) => {
            tracing::error!(%err, "queries are answered from ClickHouse, which does not answer yet")
        }
    }
    Ok(api::backend::QueryBackend::ClickHouse(Arc::new(
        crate::clickhouse::reader::Reader::new(client),
    )))
}

/// The stop signal of each shutdown stage, in order.
#[derive(Default)]
struct Stages {
    /// Stop accepting; in-flight requests finish, live streams end.
    http: CancellationToken,
    /// Publish what is queued for Redis, then stop.
    fanout: CancellationToken,
    /// Forwarders stop at a checkpoint.
    forward: CancellationToken,
    /// Retention and the cluster follower end.
    background: CancellationToken,
}

/// Serves the collector on `listener` until `shutdown` resolves, then shuts down in the
/// order above.
///
/// # Errors
///
/// [`ServerError`] when the store cannot open, the tokens file or a forwarder's checkpoint
/// cannot be read, or the listener fails.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use clap::Parser;
/// let settings = estuary_collector::config::ServeArgs::parse_from(["serve"]).settings()?;
/// let listener = tokio::net::TcpListener::bind(settings.listen).await?;
/// estuary_collector::server::run(settings, listener, estuary_collector::shutdown::signal()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let stages = Stages::default();
    let tasks = TaskTracker::new();
    let access = Arc::new(AccessControl::new(&settings.access)?);
    let live = LiveHub::new(settings.live_buffer);
    let mut listeners: Vec<Arc<dyn CommitListener>> = vec![Arc::new(live.clone())];
    let (fanout, publisher) = match &settings.fanout {
        Some(f) => {
            let (stats, publisher) = start_fanout(f, &live, &mut listeners, &tasks, &stages);
            (Some(stats), Some(publisher))
        }
        None => (None, None),
    };
    let forwarders = Forwarders::new(&settings.forward)?;
    if !forwarders.is_empty() {
        listeners.push(forwarders.listener());
    }
    let forward_status = forwarders.status.clone();
    let store = Store::open_with(settings.store.clone(), listeners)?;
    // After the store repaired torn tails and finished pending segments.
    let forwarders = forwarders.start(&store, stages.forward.clone())?;
    if !settings.retention.is_off() {
        let needed: Arc<NeededFrom> = forwarders
            .needed_from()
            .unwrap_or_else(|| Arc::new(|_service: &crate::service::ServiceName| None));
        let retention = store.clone().run_retention(
            settings.retention,
            settings.retention_interval,
            needed,
            stages.background.clone(),
        );
        tasks.spawn(retention);
    }
    log_start(&settings, &listener);
    log_protection(&settings, &access);
    let listener = LimitedListener::with_per_address(
        listener,
        settings.protect.max_connections,
        settings.protect.max_connections_per_address,
    );
    let state = AppState::new(AppResources {
        store: store.clone(),
        settings: Arc::new(settings.api.clone()),
        started: Instant::now(),
        live,
        fanout,
        shutdown: stages.http.clone(),
        protect: Arc::new(Protection::new(settings.protect).map_err(ServerError::QueryThreads)?),
        access,
        metrics: crate::metrics::install(),
        forwarders: forward_status,
        backend: query_backend(&settings).await?,
    });
    let header_timeout = state.protect.header_timeout();
    let serving = connections::serve(
        listener,
        api::router(state),
        header_timeout,
        stages.http.clone(),
    );
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => {}
        () = shutdown => {
            stages.http.cancel();
            serving.await;
        }
    }
    store.close().await;
    stages.fanout.cancel();
    if let Some(publisher) = publisher {
        if tokio::time::timeout(FANOUT_DRAIN_TIMEOUT, publisher)
            .await
            .is_err()
        {
            tracing::warn!("Redis fan-out did not drain in time at shutdown");
        }
    }
    stages.forward.cancel();
    forwarders.stopped().await;
    stages.background.cancel();
    tasks.close();
    tasks.wait().await;
    tracing::info!("every writer flushed; bye");
    Ok(())
}

/// Starts the Redis publisher and the cluster follower; returns their counters and the
/// publisher's handle (shutdown waits for it before the later stages).
fn start_fanout(
    settings: &FanoutSettings,
    live: &LiveHub,
    listeners: &mut Vec<Arc<dyn CommitListener>>,
    tasks: &TaskTracker,
    stages: &Stages,
) -> (Arc<FanoutStats>, tokio::task::JoinHandle<()>) {
    let stats = Arc::new(FanoutStats::default());
    let (queue, receiver) = FanoutQueue::new(settings.limits, stats.clone());
    listeners.push(Arc::new(queue));
    let id = fanout::collector_id();
    let (client, prefix) = (settings.client.clone(), settings.prefix.clone());
    let publisher =
        fanout::publisher::Publisher::new(client.clone(), prefix.clone(), id, stats.clone());
    let publisher = tasks.spawn(publisher.run(receiver, stages.fanout.clone()));
    let cluster = fanout::peers::follow(
        client,
        prefix,
        id,
        live.clone(),
        stats.clone(),
        stages.background.clone(),
    );
    tasks.spawn(cluster);
    (stats, publisher)
}

fn log_start(settings: &Settings, listener: &TcpListener) {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        %addr,
        log_dir = %settings.store.dir.display(),
        fsync = ?settings.store.fsync,
        "estuary collector listening"
    );
    if settings.api.cors_origins.is_empty() {
        tracing::info!("CORS allows any origin; set --cors-origins to restrict it");
    }
    if settings.fanout.is_none() {
        tracing::info!("REDIS_URL is not set: real-time fan-out over Redis is off");
    }
}

/// Says how the API is protected (never showing a token), so an open API is not silent.
fn log_protection(settings: &Settings, access: &AccessControl) {
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
    let protect = &settings.protect;
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
        body_timeout = ?protect.body_timeout,
        header_timeout = ?protect.header_timeout,
        "connection limits"
    );
}
