//! Forwarding to cluster-wide engines (Grafana Loki, Elasticsearch/OpenSearch), at least
//! once, from the files.
//!
//! Each forwarder is a task ([`task`]) that reads every service's stored entries
//! ([`reader`]) from its checkpoint ([`checkpoint`]), batches them by count, bytes and
//! time, hands a batch to its destination ([`Sink`]), and moves the checkpoint only once
//! the destination accepted it. The files are the queue: a destination outage of any
//! length, or a collector crash, only delays delivery. Commits wake the tasks; a timer
//! wakes them too. Destinations live in one folder each with the same files
//! (`mod.rs`, `config.rs`, `sink.rs`): [`loki`], [`elasticsearch`].

pub mod checkpoint;
pub mod elasticsearch;
pub mod http;
pub mod lag;
pub mod loki;
pub mod reader;
pub mod status;
pub mod task;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::ForwardConfig;
use crate::service::ServiceName;
use crate::store::{CommitListener, Committed};
pub use reader::ReadBatch;
pub use status::{ForwardStatus, ForwarderStatus};

/// How long shutdown waits for a forwarder to finish the request it is making.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Entries of one service on their way to a destination: a read batch and which of its
/// lines are still to be delivered (all at first, the retryable failures after a
/// partial failure).
#[derive(Debug)]
pub struct Batch {
    /// Whose entries they are.
    pub service: ServiceName,
    /// The lines as read from the files.
    pub read: ReadBatch,
    /// Indices into `read.lines` still to be delivered.
    pub pending: Vec<usize>,
}

impl Batch {
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
    /// Positions (in [`Batch::entries`] order) of entries to send again.
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
}

/// A destination.
pub trait Sink: Send + Sync + 'static {
    /// Sends `batch`'s pending entries once.
    fn send(&self, batch: &Batch) -> impl Future<Output = Result<Delivery, SendError>> + Send;
}

/// Why forwarding could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A checkpoint could not be read.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A Loki label would be a high-cardinality field.
    #[error("--loki-labels: {0:?} has a value per entry; Loki labels must be low-cardinality (keep it in the line)")]
    HighCardinalityLabel(String),
}

/// Spawns a built forwarder's task, given the stop signal.
type Start = Box<dyn FnOnce(watch::Receiver<bool>) -> JoinHandle<()> + Send>;

/// Every configured forwarder: their status, the commit listener that wakes them, and
/// (once spawned) their tasks.
pub struct Forwarders {
    /// What `/health` shows.
    pub status: ForwardStatus,
    /// Woken on every commit.
    wakers: Vec<Arc<Notify>>,
    /// Built, waiting for [`Forwarders::spawn`] (after the store repaired its files).
    pending: Vec<Start>,
    /// Resolves when the forwarders' thread has finished, awaited at shutdown.
    done: Option<tokio::sync::oneshot::Receiver<()>>,
    /// Tells the tasks to stop.
    stop: watch::Sender<bool>,
    /// `LOG_DIR`, for the retention cap.
    log_dir: PathBuf,
    /// Past this many bytes behind, retention stops waiting for a forwarder.
    retain_cap: Option<u64>,
}

impl Forwarders {
    /// Builds the forwarders `config` asks for (none when no URL is set).
    ///
    /// # Errors
    ///
    /// [`ForwardError`] when a checkpoint is corrupt, a label is high-cardinality or the
    /// HTTP client cannot be built.
    pub fn new(config: &ForwardConfig, log_dir: &Path) -> Result<Self, ForwardError> {
        let mut forwarders = Forwarders {
            status: ForwardStatus::default(),
            wakers: Vec::new(),
            pending: Vec::new(),
            done: None,
            stop: watch::channel(false).0,
            log_dir: log_dir.to_path_buf(),
            retain_cap: config.forward_retain_cap_bytes,
        };
        let mut statuses = Vec::new();
        if let Some(url) = config.loki_url.as_deref().filter(|u| !u.is_empty()) {
            let sink = loki::LokiSink::new(
                &loki::LokiConfig::from_flags(url, config)?,
                config.request_timeout(),
            )?;
            statuses.push(forwarders.add("loki", "loki", url, sink, config)?);
        }
        if let Some(url) = config
            .elasticsearch_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            let sink = elasticsearch::ElasticsearchSink::new(
                &elasticsearch::ElasticsearchConfig::from_flags(url, config),
                config.request_timeout(),
            )?;
            statuses.push(forwarders.add("elasticsearch", "elasticsearch", url, sink, config)?);
        }
        forwarders.status = ForwardStatus(statuses.into());
        Ok(forwarders)
    }

    fn add<S: Sink>(
        &mut self,
        name: &str,
        kind: &'static str,
        url: &str,
        sink: S,
        config: &ForwardConfig,
    ) -> Result<Arc<ForwarderStatus>, ForwardError> {
        let status = Arc::new(ForwarderStatus::new(name, kind, url));
        let wake = Arc::new(Notify::new());
        let task = task::Task::new(
            sink,
            status.clone(),
            &self.log_dir,
            config.batch_settings(),
            wake.clone(),
        )?;
        self.wakers.push(wake);
        self.pending
            .push(Box::new(move |stop| tokio::spawn(task.run(stop))));
        Ok(status)
    }

    /// Whether any forwarder is configured.
    pub fn is_empty(&self) -> bool {
        self.status.0.is_empty()
    }

    /// The listener that wakes the forwarders after each commit.
    pub fn listener(&self) -> Arc<dyn CommitListener> {
        Arc::new(Waker(self.wakers.clone()))
    }

    /// Starts the tasks on their own thread, at a lower CPU priority than ingestion: when
    /// the machine is busy, forwarding falls behind (the files are its queue) and catches
    /// up later, rather than slowing the acknowledgements of new entries.
    pub fn spawn(&mut self) {
        let starts: Vec<(Start, watch::Receiver<bool>)> = self
            .pending
            .drain(..)
            .map(|start| (start, self.stop.subscribe()))
            .collect();
        if starts.is_empty() {
            return;
        }
        let (done, finished) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("estuary-forward".into())
            .spawn(move || {
                run_forwarders(starts);
                let _ = done.send(());
            });
        match spawned {
            Ok(_) => self.done = Some(finished),
            Err(err) => tracing::error!(%err, "cannot start the forwarders' thread"),
        }
    }

    /// What retention must keep: per service, the lowest position of any forwarder — or,
    /// past the retention cap, only the last cap bytes (logged loudly).
    pub fn needed_from(&self) -> Option<Arc<crate::store::retention::NeededFrom>> {
        if self.is_empty() {
            return None;
        }
        let (status, log_dir, cap) = (self.status.clone(), self.log_dir.clone(), self.retain_cap);
        Some(Arc::new(move |service: &ServiceName| {
            let lowest = status.0.iter().map(|f| f.position(service)).min()?;
            Some(lag::apply_cap(&log_dir, service, lowest, cap, &status))
        }))
    }

    /// Stops the tasks and waits (boundedly) for them: a request in flight is abandoned,
    /// and its entries are sent again next time (at least once).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
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
fn run_forwarders(starts: Vec<(Start, watch::Receiver<bool>)>) {
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
        let tasks: Vec<JoinHandle<()>> = starts
            .into_iter()
            .map(|(start, stop)| start(stop))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// Wakes every forwarder after a commit; the commit's bytes themselves are ignored (the
/// forwarders read the files).
struct Waker(Vec<Arc<Notify>>);

impl CommitListener for Waker {
    fn committed(&self, _commit: &Arc<Committed>) {
        for wake in &self.0 {
            wake.notify_one();
        }
    }
}
