//! The per-service writer: an actor that owns the service's file and group-commits.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::file::LogFile;
use super::rotate::{self, RotationPolicy};
use super::writers::Lifecycle;
use super::{segments, AppendError, CommitListener, Committed, FsyncPolicy, StoreConfig};
use crate::body::LineFacts;
use crate::service::ServiceName;

/// The first pause before finishing a segment is tried again.
const FINISH_RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest pause between tries.
const FINISH_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(60);
/// Commits up to this size that need neither an open, a rotation nor an `fdatasync` are
/// written on the writer's own task: a `write(2)` into the page cache costs about what
/// parsing the same bytes inline does (the ingest path parses bodies up to the same size on
/// the async workers), while a hop to the blocking pool (a pool mutex, a thread woken, the
/// task woken back) costs several times the write of a small commit
/// (docs/benchmarks/single-entry.md).
const INLINE_COMMIT_BYTES: usize = 256 * 1024;

/// One request's lines for this service, and where to send the outcome.
pub(super) struct Append {
    /// Complete lines, each ending in `\n`.
    pub lines: Vec<u8>,
    /// How many entries `lines` holds.
    pub entries: usize,
    /// Each line's length and facts, for the count index.
    pub facts: Vec<LineFacts>,
    /// Resolved once the lines are written (or failed to be).
    pub ack: oneshot::Sender<Result<(), AppendError>>,
}

/// The writer task's state.
pub(super) struct Writer {
    service: ServiceName,
    path: PathBuf,
    log_dir: PathBuf,
    rotation: RotationPolicy,
    /// The store's file lock, held exclusively while the active file is renamed, so
    /// readers never see it half-moved.
    files: Arc<RwLock<()>>,
    /// Where segment-finishing jobs are tracked, so closing the store waits for them.
    tasks: TaskTracker,
    fsync: FsyncPolicy,
    max_commit_bytes: usize,
    /// Whether the active file keeps a count index.
    count_index: bool,
    listeners: Arc<[Arc<dyn CommitListener>]>,
    receiver: mpsc::Receiver<Append>,
    /// Opened on the first commit, and again after a failure left it in doubt.
    file: Option<LogFile>,
    /// Told about each commit's outcome, for `/health`.
    health: Arc<super::WriteHealth>,
    /// How this writer takes its slot and retires; `None` runs until the queue closes.
    lifecycle: Option<Lifecycle>,
    /// Cancelled when the store closes: segment finishing stops retrying then.
    closing: CancellationToken,
    /// This service's ingestion counters, counted per commit before the acks go out.
    counters: crate::metrics::ServiceCounters,
}

impl Writer {
    pub(super) fn new(
        service: ServiceName,
        path: PathBuf,
        config: &StoreConfig,
        listeners: Arc<[Arc<dyn CommitListener>]>,
        files: Arc<RwLock<()>>,
        tasks: TaskTracker,
        receiver: mpsc::Receiver<Append>,
    ) -> Self {
        let counters = crate::metrics::ServiceCounters::of(service.as_str());
        Writer {
            service,
            path,
            log_dir: config.dir.clone(),
            rotation: config.rotation,
            files,
            tasks,
            fsync: config.fsync,
            max_commit_bytes: config.max_commit_bytes,
            count_index: config.count_index,
            listeners,
            receiver,
            file: None,
            health: Arc::default(),
            lifecycle: None,
            closing: CancellationToken::new(),
            counters,
        }
    }

    /// Stops retrying a segment's finishing once `closing` is cancelled.
    pub(super) fn closing_with(mut self, closing: CancellationToken) -> Self {
        self.closing = closing;
        self
    }

    /// Takes a slot before opening files, and retires when idle or asked to.
    pub(super) fn retiring_by(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// Reports each commit's outcome to `health`.
    pub(super) fn reporting_to(mut self, health: Arc<super::WriteHealth>) -> Self {
        self.health = health;
        self
    }

    /// Runs until every sender is gone and the queue is drained, or until it retires: then
    /// it writes what was queued, closes its files and gives its slot back.
    pub(super) async fn run(mut self) {
        let mut lifecycle = self.lifecycle.take();
        let slot = match lifecycle.as_mut() {
            Some(lifecycle) => Some(lifecycle.start().await),
            None => None,
        };
        let mut group = Vec::new();
        loop {
            let next = match &lifecycle {
                None => self.receiver.recv().await,
                Some(lifecycle) => self.next_unless_retiring(lifecycle).await,
            };
            let Some(first) = next else { break };
            self.commit_group(first, &mut group).await;
        }
        // Out of the registry (or the store is closing): nothing new arrives; an append
        // sent meanwhile comes back to its sender, which finds the next writer.
        self.receiver.close();
        while let Some(first) = self.receiver.recv().await {
            self.commit_group(first, &mut group).await;
        }
        drop(self.file.take());
        drop(slot);
        if let Some(lifecycle) = lifecycle {
            lifecycle.finished();
        }
    }

    /// The next append, or `None` once this writer retires: asked to, or idle with an
    /// empty queue.
    async fn next_unless_retiring(&mut self, lifecycle: &Lifecycle) -> Option<Append> {
        if lifecycle.retire.asked() {
            return None;
        }
        loop {
            tokio::select! {
                biased;
                next = self.receiver.recv() => return next,
                () = lifecycle.retire.requested() => return None,
                () = tokio::time::sleep(lifecycle.idle()) => {
                    let receiver = &self.receiver;
                    if lifecycle.leave_if(|| receiver.is_empty()) {
                        return None;
                    }
                }
            }
        }
    }

    /// Commits `first` and whatever else is queued, and answers each append.
    async fn commit_group(&mut self, first: Append, group: &mut Vec<Append>) {
        group.push(first);
        self.gather(group);
        let entries = group.iter().map(|a| a.entries).sum();
        let (lines, facts) = take_lines(group);
        let result = self.commit(lines, facts).await;
        if let Ok((lines, _)) = &result {
            self.counters.stored(entries, lines.len());
        }
        self.health
            .record(&self.service, result.as_ref().map(|_| ()));
        let outcome = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| AppendError::from(clone_io(e)));
        for append in group.drain(..) {
            // The requester may have gone away; its entries are written all the same.
            let _ = append.ack.send(outcome.clone());
        }
        if let Ok((lines, end_offset)) = result {
            self.announce(lines, entries, end_offset);
        }
    }

    /// Takes whatever else is already queued, up to the commit size.
    fn gather(&mut self, group: &mut Vec<Append>) {
        let mut bytes: usize = group.iter().map(|a| a.lines.len()).sum();
        while bytes < self.max_commit_bytes {
            match self.receiver.try_recv() {
                Ok(append) => {
                    bytes += append.lines.len();
                    group.push(append);
                }
                Err(_) => break,
            }
        }
    }

    /// Writes one group, rotating the active file when the policy says so. Returns the bytes
    /// written and the virtual offset after them.
    ///
    /// A small commit to an open file with nothing else to do is written right here (see
    /// [`INLINE_COMMIT_BYTES`]); anything that may wait on the disk (an open, a rotation, an
    /// `fdatasync`, a big group) goes to the blocking pool so slow disks never stall the async
    /// workers.
    async fn commit(
        &mut self,
        buffer: Vec<u8>,
        facts: Vec<LineFacts>,
    ) -> std::io::Result<(Vec<u8>, u64)> {
        let _timer = self.counters.time_commit();
        let result = match self.file.take() {
            // On failure the file is left closed: reopened (its length read again) next time.
            Some(mut file) if self.commits_inline(&file, buffer.len()) => file
                .commit(&buffer, &facts, self.fsync)
                .map(|()| CommitDone {
                    file: Some(file),
                    buffer,
                    rotated: None,
                }),
            file => self.commit_blocking(file, buffer, facts).await,
        };
        match result {
            Ok(done) => {
                let end = done.file.as_ref().map_or(0, |f| f.base() + f.len());
                self.file = done.file;
                if let Some(pending) = done.rotated {
                    self.spawn_finish(pending);
                }
                Ok((done.buffer, end))
            }
            Err(err) => {
                if let Some(unlogged) = self.health.failure_to_log() {
                    tracing::error!(path = %self.path.display(), %err, unlogged, "write failed; entries refused (repeats are logged at most every 10 s; `unlogged` counts those between)");
                }
                Err(err)
            }
        }
    }

    /// Whether a commit of `bytes` to `file` is cheap enough to write on the writer's task.
    fn commits_inline(&self, file: &LogFile, bytes: usize) -> bool {
        self.fsync == FsyncPolicy::Never
            && bytes <= INLINE_COMMIT_BYTES
            && self.rotation.leaves_open(file, bytes)
    }

    /// Runs a [`CommitJob`] on the blocking pool.
    async fn commit_blocking(
        &self,
        file: Option<LogFile>,
        buffer: Vec<u8>,
        facts: Vec<LineFacts>,
    ) -> std::io::Result<CommitDone> {
        let job = CommitJob {
            path: self.path.clone(),
            count_index: self.count_index,
            log_dir: self.log_dir.clone(),
            service: self.service.clone(),
            rotation: self.rotation,
            lock: self.files.clone(),
            fsync: self.fsync,
        };
        tokio::task::spawn_blocking(move || job.run(file, buffer, &facts))
            .await
            .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())))
    }

    /// Names a closed segment by its time range and compresses it, off the writer's path.
    /// A failure (a full disk) is retried with a growing pause until it succeeds or the
    /// store closes; the segment stays readable as it is meanwhile, and a collector that
    /// stops first finishes it at its next start.
    fn spawn_finish(&self, pending: PathBuf) {
        let (compress, files) = (self.rotation.compress, self.files.clone());
        let (count_index, closing) = (self.count_index, self.closing.clone());
        self.tasks.spawn_blocking(move || {
            let mut pause = FINISH_RETRY_FIRST;
            while let Err(err) = rotate::finish(&pending, compress, &files, count_index) {
                tracing::error!(segment = %pending.display(), %err, "finishing a segment failed; it stays readable as is, retrying in {pause:?}");
                let until = std::time::Instant::now() + pause;
                while std::time::Instant::now() < until {
                    if closing.is_cancelled() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                pause = (pause * 2).min(FINISH_RETRY_MAX);
            }
        });
    }

    fn announce(&self, lines: Vec<u8>, entries: usize, end_offset: u64) {
        if self.listeners.is_empty() {
            return;
        }
        let commit = Arc::new(Committed {
            service: self.service.clone(),
            lines: lines.into(),
            entries,
            end_offset,
        });
        for listener in self.listeners.iter() {
            listener.committed(&commit);
        }
    }
}

fn clone_io(err: &std::io::Error) -> std::io::Error {
    std::io::Error::new(err.kind(), err.to_string())
}

/// Moves the group's lines into one buffer, and their facts into one list (no copy when
/// the group is a single append).
fn take_lines(group: &mut [Append]) -> (Vec<u8>, Vec<LineFacts>) {
    if let [only] = group {
        return (
            std::mem::take(&mut only.lines),
            std::mem::take(&mut only.facts),
        );
    }
    let mut buffer = Vec::with_capacity(group.iter().map(|a| a.lines.len()).sum());
    let mut facts = Vec::with_capacity(group.iter().map(|a| a.facts.len()).sum());
    for append in group {
        buffer.extend_from_slice(&append.lines);
        facts.extend_from_slice(&append.facts);
    }
    (buffer, facts)
}

/// Everything one commit needs on the blocking pool.
struct CommitJob {
    path: PathBuf,
    /// Whether the active file keeps a count index.
    count_index: bool,
    log_dir: PathBuf,
    service: ServiceName,
    rotation: RotationPolicy,
    lock: Arc<RwLock<()>>,
    fsync: FsyncPolicy,
}

/// What a commit leaves behind.
struct CommitDone {
    /// The active file (`None` after a failed rotation: reopened on the next commit).
    file: Option<LogFile>,
    buffer: Vec<u8>,
    /// A segment just closed, to finish in the background.
    rotated: Option<PathBuf>,
}

impl CommitJob {
    fn run(
        self,
        file: Option<LogFile>,
        buffer: Vec<u8>,
        facts: &[LineFacts],
    ) -> std::io::Result<CommitDone> {
        let mut file = match file {
            Some(file) => file,
            None => {
                let base = segments::active_base(&self.log_dir, &self.service)?;
                match self.count_index {
                    true => LogFile::open_indexed(
                        &self.path,
                        base,
                        &segments::service_dir(&self.log_dir, &self.service),
                    )?,
                    false => LogFile::open(&self.path, base)?,
                }
            }
        };
        let mut rotated = None;
        if self.rotation.daily && file.is_from_before_today() {
            let (fresh, pending) = self.rotate(file)?;
            file = fresh;
            rotated = Some(pending);
        }
        file.commit(&buffer, facts, self.fsync)?;
        if rotated.is_none() && self.rotation.is_due(&file) {
            // The entries are written: a failed rotation must not fail them.
            return Ok(match self.rotate(file) {
                Ok((fresh, pending)) => CommitDone {
                    file: Some(fresh),
                    buffer,
                    rotated: Some(pending),
                },
                Err(err) => {
                    tracing::error!(service = %self.service, %err, "rotation failed; will retry");
                    CommitDone {
                        file: None,
                        buffer,
                        rotated: None,
                    }
                }
            });
        }
        Ok(CommitDone {
            file: Some(file),
            buffer,
            rotated,
        })
    }

    fn rotate(&self, file: LogFile) -> std::io::Result<(LogFile, PathBuf)> {
        let _exclusive = self
            .lock
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rotate::rotate(
            file,
            &self.path,
            &self.log_dir,
            &self.service,
            self.count_index,
        )
    }
}

#[cfg(test)]
mod tests;
