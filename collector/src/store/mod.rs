//! Durable storage: one append-only JSON-lines file per service.
//!
//! Each service has a writer task (`writer.rs`) that owns the open file and group-commits:
//! whatever appends queue up while one write is in flight go out together in the next
//! `write`. An append is acknowledged only after its bytes are written (and, with
//! [`FsyncPolicy::Batch`], synced). [`mod@file`] holds the file-level operations (open, torn
//! tail repair, commit with rollback); [`rotate`] closes the active file into
//! [`segments`]; [`retention`] deletes old segments; [`scan`] answers queries over them
//! all.

pub mod file;
pub mod retention;
pub mod rotate;
pub mod scan;
pub mod segments;
mod writer;

use bytes::Bytes;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::entry::ServiceBatch;
use crate::service::ServiceName;
use writer::{Append, Writer};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
    pub rotation: rotate::RotationPolicy,
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
}

/// The per-service files and their writers. Cheap to clone.
///
/// # Examples
///
/// ```
/// use estuary_collector::entry::{parse_body, BodyFormat};
/// use estuary_collector::store::{FsyncPolicy, Store, StoreConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig {
///     dir: dir.path().into(),
///     fsync: FsyncPolicy::Never,
///     queue: 64,
///     max_commit_bytes: 1 << 20,
///     rotation: estuary_collector::store::rotate::RotationPolicy { max_bytes: 0, daily: false, compress: false },
/// })?;
/// let parsed = parse_body(br#"{"service":"api","m":1}"#, BodyFormat::Json, 1024, "now")?;
/// store.append_all(parsed.batches).await?;
/// store.close().await;
/// assert!(std::fs::read_to_string(dir.path().join("api.log"))?.contains(r#""m":1"#));
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
    /// Senders to each service's writer; created on a service's first append. A std mutex
    /// is enough: it is held only to look up or insert, never across an await.
    writers: Mutex<HashMap<ServiceName, mpsc::Sender<Append>>>,
    /// The writer tasks, awaited on close so every queued append is written first.
    tasks: Mutex<JoinSet<()>>,
    /// Rotation takes it exclusively; scans share it while opening files.
    rotation_lock: Arc<std::sync::RwLock<()>>,
}

impl Store {
    /// Creates the directory if needed and repairs torn tails left by a crash.
    ///
    /// # Errors
    ///
    /// [`StoreError::Dir`] when the directory cannot be created or read.
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
        file::repair_dir(&config.dir).map_err(dir_error)?;
        rotate::finish_pending(&config.dir, config.rotation.compress).map_err(dir_error)?;
        Ok(Store {
            inner: Arc::new(Inner {
                config,
                listeners: listeners.into(),
                writers: Mutex::default(),
                tasks: Mutex::new(JoinSet::new()),
                rotation_lock: Arc::default(),
            }),
        })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// The active file of `service`.
    pub fn path_of(&self, service: &ServiceName) -> PathBuf {
        self.inner.config.dir.join(service.file_name())
    }

    /// Runs a query over `service`'s segments and active file.
    ///
    /// # Errors
    ///
    /// An I/O error reading the files.
    pub fn scan(
        &self,
        service: &ServiceName,
        request: &scan::ScanRequest,
    ) -> io::Result<scan::ScanOutcome> {
        scan::scan(
            &self.inner.config.dir,
            service,
            &self.inner.rotation_lock,
            request,
        )
    }

    /// The number of services with a running writer.
    pub fn open_writers(&self) -> usize {
        self.lock_writers().len()
    }

    /// Appends every batch and waits until all are written.
    ///
    /// # Errors
    ///
    /// The first [`AppendError`] among the batches.
    pub async fn append_all(&self, batches: Vec<ServiceBatch>) -> Result<(), AppendError> {
        let mut acks = Vec::with_capacity(batches.len());
        for batch in batches {
            acks.push(self.enqueue(batch).await?);
        }
        let mut result = Ok(());
        for ack in acks {
            let outcome = ack.await.unwrap_or(Err(AppendError::Closed));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    async fn enqueue(
        &self,
        batch: ServiceBatch,
    ) -> Result<oneshot::Receiver<Result<(), AppendError>>, AppendError> {
        let sender = self.writer_for(&batch.service);
        let (ack, acked) = oneshot::channel();
        let append = Append {
            lines: batch.lines,
            entries: batch.entries,
            ack,
        };
        sender.send(append).await.map_err(|_| AppendError::Closed)?;
        Ok(acked)
    }

    fn writer_for(&self, service: &ServiceName) -> mpsc::Sender<Append> {
        let mut writers = self.lock_writers();
        if let Some(sender) = writers.get(service) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(self.inner.config.queue.max(1));
        let writer = Writer::new(
            service.clone(),
            self.path_of(service),
            &self.inner.config,
            self.inner.listeners.clone(),
            self.inner.rotation_lock.clone(),
            receiver,
        );
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(writer.run());
        writers.insert(service.clone(), sender.clone());
        sender
    }

    fn lock_writers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ServiceName, mpsc::Sender<Append>>> {
        self.inner
            .writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops accepting appends, lets every writer finish its queue, and waits for them.
    pub async fn close(&self) {
        self.lock_writers().clear();
        let mut tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        while tasks.join_next().await.is_some() {}
    }
}
