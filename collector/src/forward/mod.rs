//! Forwarding to cluster-wide engines (Grafana Loki, Elasticsearch/OpenSearch, ClickHouse),
//! at least once, from the files.
//!
//! Each forwarder is a task ([`task`]) that reads every service's stored entries through
//! the store's forward reader ([`crate::store::StreamReader`]) from its saved position
//! ([`crate::store::Checkpoint`]), groups them into a [`Shipment`] by count, bytes and
//! time, hands it to its destination ([`Sink`]), and moves the checkpoint only once the
//! destination accepted it. The files are the queue: a destination outage of any
//! length, or a collector crash, only delays delivery. Commits wake the tasks; a timer
//! wakes them too. Destinations live in one folder each with the same files
//! (`mod.rs`, `config.rs`, `sink.rs`): [`loki`], [`elasticsearch`], [`clickhouse`].

pub mod clickhouse;
pub mod elasticsearch;
pub mod http;
pub mod loki;
mod retain;
pub mod status;
pub mod task;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::service::ServiceName;
use crate::store::{CheckpointError, CommitListener, Committed, NeededFrom, Store, StreamChunk};
pub use status::{ForwardStatus, ForwarderStatus};

/// How long shutdown waits for a forwarder to finish the request it is making.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Entries of one service on their way to a destination: a chunk of its stream and which
/// of its lines are still to be delivered (all at first, the retryable failures after a
/// partial failure).
#[derive(Debug)]
pub struct Shipment {
    /// Whose entries they are.
    pub service: ServiceName,
    /// The lines as read from the store.
    pub read: StreamChunk,
    /// Indices into `read.lines` still to be delivered.
    pub pending: Vec<usize>,
}

impl Shipment {
    /// The entries still to be delivered, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.pending.iter().map(|&i| self.read.line(i))
    }

    /// How many entries are still to be delivered.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is left to deliver.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// A destination's answer to a batch it accepted at least in part.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Entries refused for good (counted, skipped).
    pub rejected: u64,
    /// Positions (in [`Shipment::entries`] order) of entries to send again.
    pub retry: Vec<usize>,
}

/// Why a batch was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Try the whole batch again after a backoff (429, 5xx, unreachable).
    #[error("destination unavailable, will retry: {0}")]
    Retry(String),
    /// The destination refused the whole batch as malformed (400): skip it and count it.
    #[error("destination refused the batch: {0}")]
    Reject(String),
    /// The batch is larger than the destination takes (413): send it again in halves, and
    /// count and skip an entry that is too large on its own.
    #[error("destination refused the batch as too large: {0}")]
    TooLarge(String),
}

/// A destination.
///
/// Sending is split in two so that a forwarder can overlap them: while one shipment is in
/// flight, the next one is read and [encoded](Sink::encode) on a blocking thread.
pub trait Sink: Send + Sync + 'static {
    /// A request body built from a shipment, ready to send (and to send again on a retry).
    type Body: Send + Sync + 'static;

    /// Builds the body for `shipment`'s pending entries: the CPU-heavy half (rows,
    /// compression), run off the forwarder's async thread.
    fn encode(&self, shipment: &Shipment) -> Self::Body;

    /// Sends `body`, encoded from `shipment`, once.
    fn send(
        &self,
        shipment: &Shipment,
        body: &Self::Body,
    ) -> impl Future<Output = Result<Delivery, SendError>> + Send;
}

/// Encodes `shipment` and sends it once (what a forwarder does for a batch's first try).
#[cfg(test)]
pub(crate) async fn send_once<S: Sink>(
    sink: &S,
    shipment: &Shipment,
) -> Result<Delivery, SendError> {
    sink.send(shipment, &sink.encode(shipment)).await
}

/// Every forwarding setting: the destinations, and how all forwarders batch and retry.
#[derive(Debug, Clone)]
pub struct ForwardSettings {
    /// Grafana Loki, when set.
    pub loki: Option<loki::LokiConfig>,
    /// Elasticsearch or OpenSearch, when set.
    pub elasticsearch: Option<elasticsearch::ElasticsearchConfig>,
    /// ClickHouse, when set.
    pub clickhouse: Option<crate::clickhouse::ClickHouseConfig>,
    /// Batching and retries.
    pub batch: task::BatchSettings,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Past this many bytes behind, retention stops waiting for a forwarder.
    pub retain_cap: Option<u64>,
}

/// Why forwarding could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A checkpoint could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A Loki label would be a high-cardinality field.
    #[error("--loki-labels: {0:?} has a value per entry; Loki labels must be low-cardinality (keep it in the line)")]
    HighCardinalityLabel(String),
    /// A ClickHouse database or table name that is not a plain identifier.
    #[error("--clickhouse-{flag}: {given:?} must be ASCII letters, digits and _ (not starting with a digit)")]
    ClickHouseName {
        /// `database` or `table`.
        flag: &'static str,
        /// What was given.
        given: String,
    },
}

/// Makes a built forwarder's task once the store is open: loads its checkpoint and returns
/// the future that forwards until the token is cancelled.
type Start = Box<
    dyn FnOnce(
            &Store,
            CancellationToken,
        ) -> Result<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>, ForwardError>
        + Send,
>;

/// Every configured forwarder: their status, the commit listener that wakes them, and
/// (once started) the thread they run on.
pub struct Forwarders {
    /// What `/health` shows.
    pub status: ForwardStatus,
    /// Woken on every commit.
    wakers: Vec<Arc<Notify>>,
    /// Built, waiting for [`Forwarders::start`] (after the store repaired its files).
    pending: Vec<Start>,
    /// Past this many bytes behind, retention stops waiting for a forwarder.
    retain_cap: Option<u64>,
}

/// The running forwarders, as the server keeps them until shutdown.
pub struct RunningForwarders {
    /// Resolves when the forwarders' thread has finished.
    done: Option<tokio::sync::oneshot::Receiver<()>>,
    /// What retention must keep for them; `None` when there are none.
    needed_from: Option<Arc<NeededFrom>>,
}

impl Forwarders {
    /// Builds the forwarders `settings` asks for (none when no destination is set).
    ///
    /// # Errors
    ///
    /// [`ForwardError::Client`] when the HTTP client cannot be built.
    pub fn new(settings: &ForwardSettings) -> Result<Self, ForwardError> {
        let mut forwarders = Forwarders {
            status: ForwardStatus::default(),
            wakers: Vec::new(),
            pending: Vec::new(),
            retain_cap: settings.retain_cap,
        };
        let mut statuses = Vec::new();
        if let Some(config) = &settings.loki {
            let sink = loki::LokiSink::new(config, settings.request_timeout)?;
            statuses.push(forwarders.add("loki", &config.url, sink, settings.batch));
        }
        if let Some(config) = &settings.elasticsearch {
            let sink = elasticsearch::ElasticsearchSink::new(config, settings.request_timeout)?;
            statuses.push(forwarders.add("elasticsearch", &config.url, sink, settings.batch));
        }
        if let Some(config) = &settings.clickhouse {
            let sink = clickhouse::ClickHouseSink::new(config, settings.request_timeout)?;
            let batch = task::BatchSettings {
                max_entries: config.insert.max_rows,
                max_bytes: config.insert.max_bytes,
                ..settings.batch
            };
            statuses.push(forwarders.add("clickhouse", &config.url, sink, batch));
        }
        forwarders.status = ForwardStatus(statuses.into());
        Ok(forwarders)
    }

    fn add<S: Sink>(
        &mut self,
        kind: &'static str,
        url: &str,
        sink: S,
        batch: task::BatchSettings,
    ) -> Arc<ForwarderStatus> {
        let status = Arc::new(ForwarderStatus::new(kind, kind, url));
        let wake = Arc::new(Notify::new());
        self.wakers.push(wake.clone());
        let task_status = status.clone();
        self.pending.push(Box::new(move |store, stop| {
            let task = task::Task::new(sink, task_status, store.clone(), batch, wake)?;
            Ok(Box::pin(task.run(stop)))
        }));
        status
    }

    /// Whether any forwarder is configured.
    pub fn is_empty(&self) -> bool {
        self.status.0.is_empty()
    }

    /// The listener that wakes the forwarders after each commit.
    pub fn listener(&self) -> Arc<dyn CommitListener> {
        Arc::new(CommitWaker(self.wakers.clone()))
    }

    /// Loads each forwarder's checkpoint from `store` and starts them on their own thread,
    /// at a lower CPU priority than ingestion: when the machine is busy, forwarding falls
    /// behind (the files are its queue) and catches up later, rather than slowing the
    /// acknowledgements of new entries. They run until `stop` is cancelled.
    ///
    /// # Errors
    ///
    /// [`ForwardError::Checkpoint`] when a checkpoint exists but cannot be read.
    pub fn start(
        self,
        store: &Store,
        stop: CancellationToken,
    ) -> Result<RunningForwarders, ForwardError> {
        let needed_from = (!self.is_empty()).then(|| {
            let (status, store, cap) = (self.status.clone(), store.clone(), self.retain_cap);
            Arc::new(move |service: &ServiceName| {
                let lowest = status.0.iter().map(|f| f.position(service)).min()?;
                Some(retain::apply_cap(&store, service, lowest, cap, &status))
            }) as Arc<NeededFrom>
        });
        let tasks = self
            .pending
            .into_iter()
            .map(|start| start(store, stop.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut running = RunningForwarders {
            done: None,
            needed_from,
        };
        if tasks.is_empty() {
            return Ok(running);
        }
        let (done, finished) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("estuary-forward".into())
            .spawn(move || {
                run_forwarders(tasks);
                let _ = done.send(());
            });
        match spawned {
            Ok(_) => running.done = Some(finished),
            Err(err) => tracing::error!(%err, "cannot start the forwarders' thread"),
        }
        Ok(running)
    }
}

impl RunningForwarders {
    /// What retention must keep: per service, the lowest position of any forwarder — or,
    /// past the retention cap, only the last cap bytes (logged loudly). `None` without
    /// forwarders.
    pub fn needed_from(&self) -> Option<Arc<NeededFrom>> {
        self.needed_from.clone()
    }

    /// Waits (boundedly) for the forwarders to stop after their token was cancelled: a
    /// request in flight is abandoned, and its entries are sent again next time (at least
    /// once).
    pub async fn stopped(self) {
        if let Some(done) = self.done {
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, done).await.is_err() {
                tracing::warn!(
                    "forwarders did not stop in time; unsent entries go out after the restart"
                );
            }
        }
    }
}

/// Niceness of the forwarders' thread (higher is lower priority; ingestion runs at 0).
const FORWARD_NICENESS: i32 = 19;

/// The forwarders' thread: lowers its own priority (on Linux a thread's niceness is its
/// own), then runs every forwarder task on a current-thread runtime until they stop.
fn run_forwarders(tasks: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>) {
    if let Err(err) = rustix::process::setpriority_process(None, FORWARD_NICENESS) {
        tracing::debug!(%err, "cannot lower the forwarders' priority");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "cannot start the forwarders' runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let running: Vec<JoinHandle<()>> = tasks.into_iter().map(tokio::spawn).collect();
        for task in running {
            let _ = task.await;
        }
    });
}

/// Wakes every forwarder after a commit; the commit's bytes themselves are ignored (the
/// forwarders read the store).
struct CommitWaker(Vec<Arc<Notify>>);

impl CommitListener for CommitWaker {
    fn committed(&self, _commit: &Arc<Committed>) {
        for wake in &self.0 {
            wake.notify_one();
        }
    }
}
