//! The store: the only module that knows files, segments and where a stream is kept.
//!
//! Each service's entries form one stream of bytes with stable positions. Appends go to a
//! writer task per service (`writer.rs`) that owns the service's active file and
//! group-commits: whatever appends queue up while one write is in flight go out together in
//! the next `write`. An append is acknowledged only after its bytes are written (and, with
//! [`FsyncPolicy::Batch`], synced); then every [`CommitListener`] hears of it.
//!
//! Everything else asks the [`Store`] through a small door:
//! - write: [`Store::append_all`];
//! - read: [`Store::query`] (a page, newest or oldest first, with a cursor),
//!   [`Store::reader`] (forward from a position, for forwarders),
//!   [`Store::services`], [`Store::usage`], [`Store::end_of`], [`Store::backlog`];
//! - keep: [`Store::enforce_retention`], [`Store::checkpoint`] (a reader's saved position);
//! - stop: [`Store::close`].
//!
//! Inside, privately: `file` (open, torn-tail repair, commit with rollback), `rotate`
//! (active file into a segment, then time range and gzip), `segments` (names and layout),
//! `scan` (the page engine), `reader` (the forward reader), `usage`, `retention`,
//! `checkpoint`. One lock, the *file lock*, is taken exclusively whenever a file is
//! renamed or deleted and shared while readers list and open files, so no reader ever
//! races a rotation, a compression or a retention pass.

mod checkpoint;
mod counts;
mod file;
mod health;
mod index;
mod reader;
mod retention;
mod rotate;
mod scan;
mod segments;
mod source;
mod usage;
mod writer;
mod writers;

#[cfg(test)]
mod property_tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::ServiceLines;
use crate::query::{
    FacetRequest, Facets, Histogram, HistogramRequest, Page, PageRequest, ScanMeter,
};
use crate::service::ServiceName;
use health::{probe_writable, WriteHealth};
use writer::{Append, Writer};
use writers::Writers;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use reader::{StreamChunk, StreamReader};
pub use retention::{NeededFrom, RetentionPolicy};
pub use rotate::RotationPolicy;
pub use usage::{Backlog, Usage};

/// A group commit that reached the file: what downstream consumers (Redis fan-out, live
/// streams) are given, only after the write succeeded.
#[derive(Debug)]
pub struct Committed {
    /// The service whose file was written.
    pub service: ServiceName,
    /// The lines written, each ending in `\n`.
    pub lines: Bytes,
    /// How many entries `lines` holds.
    pub entries: usize,
    /// The file's length after this commit (replays read up to a length; later commits
    /// are what follows).
    pub end_offset: u64,
}

/// Told about every successful commit. Must not block: it runs on the writer's task.
pub trait CommitListener: Send + Sync + 'static {
    /// Called once per group commit, after the bytes are written.
    fn committed(&self, commit: &std::sync::Arc<Committed>);
}

/// When a write counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Acknowledge once the OS has the bytes: survives a collector crash, not power loss.
    Never,
    /// `fdatasync` each group commit before acknowledging: survives power loss.
    Batch,
}

/// How the store behaves.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory of the `<service>.log` files.
    pub dir: PathBuf,
    /// Durability of an acknowledgement.
    pub fsync: FsyncPolicy,
    /// Appends a writer queues before callers wait.
    pub queue: usize,
    /// Most bytes one group commit writes.
    pub max_commit_bytes: usize,
    /// When the active file becomes a segment.
    pub rotation: RotationPolicy,
    /// Whether the count index is written (off only to measure what it costs: without it,
    /// histograms and time windows read the files).
    pub count_index: bool,
    /// Most files the writers keep open together (each writer holds its active file and,
    /// with the count index, the index beside it): beyond, the least recently used writer
    /// closes its files before another opens.
    pub max_open_files: usize,
    /// A writer with nothing to write for this long closes its files.
    pub writer_idle: Duration,
}

impl StoreConfig {
    /// The defaults for `dir`: no fsync, 1,024 queued appends per writer, 8 MiB commits,
    /// no rotation, 1,024 open files, writers closing after a minute idle.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = estuary_collector::store::StoreConfig::new("/var/lib/estuary");
    /// assert_eq!(config.rotation.max_bytes, 0);
    /// ```
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::Never,
            queue: 1024,
            max_commit_bytes: 8 * 1024 * 1024,
            rotation: RotationPolicy::default(),
            count_index: true,
            max_open_files: 1024,
            writer_idle: Duration::from_secs(60),
        }
    }

    /// How many writers may hold their files open together.
    fn max_writers(&self) -> usize {
        let per_writer = if self.count_index { 2 } else { 1 };
        (self.max_open_files / per_writer).max(1)
    }
}

/// How many writers an append is offered to before it is refused (each retired or ended
/// just as it was sent to).
const MAX_SEND_ATTEMPTS: usize = 8;

/// Raises the process's open-file limit to its hard limit, where allowed (the default of
/// [`StoreConfig::max_open_files`] then follows from it: [`default_max_open_files`]).
pub fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.maximum != limit.current {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(err) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(%err, "cannot raise the open-file limit");
        }
    }
}

/// The default of [`StoreConfig::max_open_files`] for this process: half its open-file
/// limit, leaving the rest to connections, queries and segment work.
pub fn default_max_open_files() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    usize::try_from(limit / 2).unwrap_or(usize::MAX).max(2)
}

/// Why an append failed; the bytes were not kept (a partial write is rolled back).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// The disk (or a quota or file size limit) is full.
    #[error("storage is full: {0}")]
    Full(String),
    /// Any other I/O failure.
    #[error("storage failed: {0}")]
    Io(String),
    /// The store is shutting down.
    #[error("the store is shutting down")]
    Closed,
}

impl From<io::Error> for AppendError {
    fn from(err: io::Error) -> Self {
        use io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
        match err.kind() {
            StorageFull | QuotaExceeded | FileTooLarge => AppendError::Full(err.to_string()),
            _ => AppendError::Io(err.to_string()),
        }
    }
}

/// Why the store could not open.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory could not be created or scanned.
    #[error("cannot use log directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The directory exists but a file cannot be created in it: every append would fail.
    #[error("log directory {dir} is not writable: {source}")]
    NotWritable {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// The per-service files and their writers. Cheap to clone.
///
/// # Examples
///
/// ```
/// use estuary_collector::body::{parse_body, BodyFormat};
/// use estuary_collector::query::PageRequest;
/// use estuary_collector::service::ServiceName;
/// use estuary_collector::store::{Store, StoreConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let parsed = parse_body(br#"{"service":"api","m":1}"#, BodyFormat::Json, 1024, "now")?;
/// store.append_all(parsed.per_service).await?;
/// let api = ServiceName::parse("api")?;
/// let page = store.query(&api, &PageRequest::newest(10))?;
/// assert_eq!(page.hits[0].line, br#"{"service":"api","m":1,"timestamp":"now"}"#);
/// store.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    config: StoreConfig,
    /// Who hears about commits (fan-out, live streams).
    listeners: Arc<[Arc<dyn CommitListener>]>,
    /// Each service's writer, started on demand, retired when idle or to stay within the
    /// open-file bound.
    writers: Arc<Writers>,
    /// The writer tasks and segment-finishing jobs, awaited on close so every queued
    /// append is written first.
    tasks: TaskTracker,
    /// The file lock: renames and deletions take it exclusively, readers share it while
    /// they list and open files.
    files: Arc<RwLock<()>>,
    /// Which services' writes are failing, shared with their writers.
    health: Arc<WriteHealth>,
    /// Cancelled when the store closes, so background retries give up.
    closing: CancellationToken,
}

impl Store {
    /// Creates the directory if needed and repairs torn tails left by a crash.
    ///
    /// # Errors
    ///
    /// [`StoreError::Dir`] when the directory cannot be created or read,
    /// [`StoreError::NotWritable`] when no file can be created in it.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with(config, Vec::new())
    }

    /// Like [`Store::open`], telling `listeners` about every commit.
    ///
    /// # Errors
    ///
    /// [`StoreError::Dir`] when the directory cannot be created or read.
    pub fn open_with(
        config: StoreConfig,
        listeners: Vec<Arc<dyn CommitListener>>,
    ) -> Result<Self, StoreError> {
        let dir_error = |source| StoreError::Dir {
            dir: config.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&config.dir).map_err(dir_error)?;
        probe_writable(&config.dir).map_err(|source| StoreError::NotWritable {
            dir: config.dir.clone(),
            source,
        })?;
        file::repair_dir(&config.dir).map_err(dir_error)?;
        let files = Arc::new(RwLock::new(()));
        rotate::finish_pending(
            &config.dir,
            config.rotation.compress,
            &files,
            config.count_index,
        )
        .map_err(dir_error)?;
        let writers = Writers::new(config.max_writers(), config.writer_idle);
        let store = Store {
            inner: Arc::new(Inner {
                config,
                listeners: listeners.into(),
                writers,
                tasks: TaskTracker::new(),
                files,
                health: Arc::default(),
                closing: CancellationToken::new(),
            }),
        };
        store.repair_indexes_in_background();
        Ok(store)
    }

    /// Rebuilds missing or short segment indexes off the start-up path; until then,
    /// queries scan what the index does not cover.
    fn repair_indexes_in_background(&self) {
        let dir = self.dir().to_path_buf();
        let Ok(services) = segments::services_with_segments(&dir) else {
            return;
        };
        let wanted = self.inner.config.count_index;
        if !wanted || services.is_empty() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        // On its own thread at the lowest CPU priority (a thread's niceness is its own on
        // Linux), so a rebuild after an upgrade never slows ingestion or queries; tracked
        // through the blocking task that waits for it.
        self.inner.tasks.spawn_blocking(move || {
            let repair = move || {
                if let Err(err) = rustix::process::setpriority_process(None, 19) {
                    tracing::debug!(%err, "cannot lower the index repair's priority");
                }
                for service in services {
                    let repaired = segments::list(&dir, &service).and_then(|list| {
                        index::repair_segments(&segments::service_dir(&dir, &service), &list)
                    });
                    if let Err(err) = repaired {
                        tracing::warn!(%service, %err, "rebuilding segment indexes failed; queries scan instead");
                    }
                }
            };
            match std::thread::Builder::new()
                .name("estuary-index-repair".into())
                .spawn(repair)
            {
                Ok(thread) => {
                    let _ = thread.join();
                }
                Err(err) => tracing::warn!(%err, "cannot start the index repair"),
            }
        });
    }

    /// The directory holding the files (for display: nothing outside the store opens it).
    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// When an acknowledged write counts as done.
    pub fn fsync(&self) -> FsyncPolicy {
        self.inner.config.fsync
    }

    /// Every service with stored entries, sorted by name.
    ///
    /// # Errors
    ///
    /// An I/O error reading the directory.
    pub fn services(&self) -> io::Result<Vec<ServiceName>> {
        self.with_descriptors("listing services", || segments::services(self.dir()))
    }

    /// Runs `read`; when it fails for want of a file descriptor, closes the least recently
    /// used writers and tries again, for up to a second: reads never fail for it while
    /// writers hold files that can be given back.
    fn with_descriptors<T>(
        &self,
        doing: &str,
        mut read: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        let mut attempts = 0;
        loop {
            match read() {
                Err(err) if health::out_of_descriptors(&err) && attempts < 50 => {
                    self.inner.health.short_of_descriptors(doing);
                    let running = self.inner.writers.running();
                    if running == 0 {
                        return Err(err);
                    }
                    self.inner.writers.shed((running / 4).max(1));
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                outcome => return outcome,
            }
        }
    }

    /// One page of `service`'s entries (blocking: call it off the async workers).
    ///
    /// # Errors
    ///
    /// An I/O error reading the files.
    pub fn query(&self, service: &ServiceName, request: &PageRequest) -> io::Result<Page> {
        self.with_descriptors("a query", || {
            scan::scan(self.dir(), service, &self.inner.files, request)
        })
    }

    /// Counts `service`'s entries per time bucket and level: from the count index where its
    /// blocks answer, reading only the rest while `meter` allows (blocking: call it off the
    /// async workers).
    ///
    /// # Errors
    ///
    /// An I/O error reading the files or indexes.
    pub fn histogram(
        &self,
        service: &ServiceName,
        request: &HistogramRequest,
        meter: &mut ScanMeter,
    ) -> io::Result<Histogram> {
        self.with_descriptors("a histogram", || {
            counts::histogram(self.dir(), service, &self.inner.files, request, meter)
        })
    }

    /// Counts the values of a field among `service`'s matching entries, newest first,
    /// into `facets`, while `meter` (shared by the services of one request) allows.
    ///
    /// # Errors
    ///
    /// An I/O error reading the files or indexes.
    pub fn facets(
        &self,
        service: &ServiceName,
        request: &FacetRequest,
        meter: &mut ScanMeter,
        facets: &mut Facets,
    ) -> io::Result<()> {
        counts::facets(
            self.dir(),
            service,
            &self.inner.files,
            request,
            meter,
            facets,
        )
    }

    /// A reader of `service`'s stream forward from any position, across segments into the
    /// active file; it keeps its file open between reads.
    pub fn reader(&self, service: ServiceName) -> StreamReader {
        StreamReader::new(self.dir(), service, self.inner.files.clone())
    }

    /// One past the last stored byte of `service`'s stream.
    ///
    /// # Errors
    ///
    /// An I/O error reading the segments folder.
    pub fn end_of(&self, service: &ServiceName) -> io::Result<u64> {
        usage::end_of(self.dir(), service)
    }

    /// What is stored after position `from` of `service`'s stream; entries beyond 8 MiB
    /// are estimated with `mean_entry` bytes each.
    ///
    /// # Errors
    ///
    /// An I/O error reading the files.
    pub fn backlog(
        &self,
        service: &ServiceName,
        from: u64,
        mean_entry: u64,
    ) -> io::Result<Backlog> {
        usage::backlog(self.dir(), service, from, mean_entry)
    }

    /// The bytes `service` keeps on disk and where its stream ends.
    ///
    /// # Errors
    ///
    /// An I/O error reading the segments folder.
    pub fn usage(&self, service: &ServiceName) -> io::Result<Usage> {
        self.with_descriptors("reading usage", || usage::usage(self.dir(), service))
    }

    /// Applies `policy` once, keeping what `needed` says a reader still needs; returns how
    /// many segments were deleted.
    ///
    /// # Errors
    ///
    /// An I/O error listing the folders or deleting a file.
    pub fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        needed: &NeededFrom,
    ) -> io::Result<usize> {
        retention::enforce(self.dir(), &self.inner.files, policy, needed).map(|d| d.len())
    }

    /// Runs [`Store::enforce_retention`] every `interval` on the blocking pool until
    /// `stop` is cancelled.
    pub async fn run_retention(
        self,
        policy: RetentionPolicy,
        interval: Duration,
        needed: Arc<NeededFrom>,
        stop: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => return,
            }
            let (store, needed) = (self.clone(), needed.clone());
            let pass =
                tokio::task::spawn_blocking(move || store.enforce_retention(&policy, &*needed));
            if let Ok(Err(err)) = pass.await {
                tracing::error!(%err, "retention pass failed");
            }
        }
    }

    /// The saved position of reader `name` (a forwarder), empty when it has none yet.
    ///
    /// # Errors
    ///
    /// [`CheckpointError`] when the checkpoint exists but cannot be read.
    pub fn checkpoint(&self, name: &str) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::load(self.dir(), name)
    }

    /// Services whose last write failed, with the error, sorted by service; empty while
    /// storage works.
    pub fn write_failures(&self) -> Vec<(String, String)> {
        self.inner.health.failures()
    }

    /// Says when the process last ran out of file descriptors, if that was in the last
    /// few seconds (`/health` reports it as `degraded`).
    pub fn descriptor_shortage(&self) -> Option<String> {
        self.inner.health.descriptor_shortage()
    }

    /// The most writers that hold their files open together.
    pub fn max_open_writers(&self) -> usize {
        self.inner.config.max_writers()
    }

    /// The number of services with a running writer (each holds its files open).
    pub fn open_writers(&self) -> usize {
        self.inner.writers.running()
    }

    /// Appends every batch and waits until all are written.
    ///
    /// # Errors
    ///
    /// The first [`AppendError`] among the batches.
    pub async fn append_all(&self, batches: Vec<ServiceLines>) -> Result<(), AppendError> {
        self.append_each(batches)
            .await
            .into_iter()
            .find_map(|(_, outcome)| outcome.err())
            .map_or(Ok(()), Err)
    }

    /// Appends every batch and waits until all are written or failed; returns each
    /// batch's service and outcome, in order. Batches go to different files, so some may
    /// be written while others fail.
    pub async fn append_each(
        &self,
        batches: Vec<ServiceLines>,
    ) -> Vec<(ServiceName, Result<(), AppendError>)> {
        let mut acks = Vec::with_capacity(batches.len());
        for batch in batches {
            let service = batch.service.clone();
            acks.push((service, self.enqueue(batch).await));
        }
        let mut outcomes = Vec::with_capacity(acks.len());
        for (service, ack) in acks {
            let outcome = match ack {
                Ok(acked) => acked.await.unwrap_or(Err(AppendError::Closed)),
                Err(err) => Err(err),
            };
            outcomes.push((service, outcome));
        }
        outcomes
    }

    async fn enqueue(
        &self,
        batch: ServiceLines,
    ) -> Result<oneshot::Receiver<Result<(), AppendError>>, AppendError> {
        let (ack, acked) = oneshot::channel();
        let mut append = Append {
            lines: batch.lines,
            entries: batch.entries,
            facts: batch.facts,
            ack,
        };
        for _ in 0..MAX_SEND_ATTEMPTS {
            let sender = self.writer_for(&batch.service)?;
            match sender.send(append).await {
                Ok(()) => return Ok(acked),
                // That writer retired between the lookup and the send: the next one of
                // this service takes the append.
                Err(mpsc::error::SendError(back)) => append = back,
            }
        }
        Err(AppendError::Closed)
    }

    fn writer_for(&self, service: &ServiceName) -> Result<mpsc::Sender<Append>, AppendError> {
        let inner = &self.inner;
        inner
            .writers
            .sender_for(service, inner.config.queue, |receiver, lifecycle| {
                let writer = Writer::new(
                    service.clone(),
                    segments::active_path(&inner.config.dir, service),
                    &inner.config,
                    inner.listeners.clone(),
                    inner.files.clone(),
                    inner.tasks.clone(),
                    receiver,
                )
                .reporting_to(inner.health.clone())
                .closing_with(inner.closing.clone())
                .retiring_by(lifecycle);
                inner.tasks.spawn(writer.run());
            })
            .ok_or(AppendError::Closed)
    }

    /// Stops accepting appends, lets every writer finish its queue, and waits for them and
    /// for the segments they closed to be finished.
    pub async fn close(&self) {
        self.inner.closing.cancel();
        self.inner.writers.close();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}
