//! The per-service writer: an actor that owns the service's file and group-commits.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::file::LogFile;
use super::{AppendError, CommitListener, Committed, FsyncPolicy, StoreConfig};
use crate::service::ServiceName;

/// One request's lines for this service, and where to send the outcome.
pub(super) struct Append {
    /// Complete lines, each ending in `\n`.
    pub lines: Vec<u8>,
    /// How many entries `lines` holds.
    pub entries: usize,
    /// Resolved once the lines are written (or failed to be).
    pub ack: oneshot::Sender<Result<(), AppendError>>,
}

/// The writer task's state.
pub(super) struct Writer {
    service: ServiceName,
    path: PathBuf,
    fsync: FsyncPolicy,
    max_commit_bytes: usize,
    listeners: Arc<[Arc<dyn CommitListener>]>,
    receiver: mpsc::Receiver<Append>,
    /// Opened on the first commit, and again after a failure left it in doubt.
    file: Option<LogFile>,
}

impl Writer {
    pub(super) fn new(
        service: ServiceName,
        path: PathBuf,
        config: &StoreConfig,
        listeners: Arc<[Arc<dyn CommitListener>]>,
        receiver: mpsc::Receiver<Append>,
    ) -> Self {
        Writer {
            service,
            path,
            fsync: config.fsync,
            max_commit_bytes: config.max_commit_bytes,
            listeners,
            receiver,
            file: None,
        }
    }

    /// Runs until every sender is gone and the queue is drained.
    pub(super) async fn run(mut self) {
        let mut group = Vec::new();
        while let Some(first) = self.receiver.recv().await {
            group.push(first);
            self.gather(&mut group);
            let entries = group.iter().map(|a| a.entries).sum();
            let result = self.commit(take_lines(&mut group)).await;
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

    /// Writes one group on the blocking pool so slow disks never stall the async workers.
    /// Returns the bytes written and the file's length after them.
    async fn commit(&mut self, buffer: Vec<u8>) -> std::io::Result<(Vec<u8>, u64)> {
        let file = self.file.take();
        let path = self.path.clone();
        let fsync = self.fsync;
        let joined = tokio::task::spawn_blocking(move || {
            let mut file = match file {
                Some(file) => file,
                None => LogFile::open(&path)?,
            };
            file.commit(&buffer, fsync).map(|()| (file, buffer))
        })
        .await;
        match joined {
            Ok(Ok((file, buffer))) => {
                let end = file.len();
                self.file = Some(file);
                Ok((buffer, end))
            }
            Ok(Err(err)) => {
                tracing::error!(path = %self.path.display(), %err, "write failed; entries refused");
                Err(err)
            }
            Err(join) => Err(std::io::Error::other(join.to_string())),
        }
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

/// Moves the group's lines into one buffer (no copy when the group is a single append).
fn take_lines(group: &mut [Append]) -> Vec<u8> {
    if let [only] = group {
        return std::mem::take(&mut only.lines);
    }
    let mut buffer = Vec::with_capacity(group.iter().map(|a| a.lines.len()).sum());
    for append in group {
        buffer.extend_from_slice(&append.lines);
    }
    buffer
}
