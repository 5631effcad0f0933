//! The per-service writer: an actor that owns the service's file and group-commits.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use super::file::LogFile;
use super::{AppendError, FsyncPolicy, StoreConfig};

/// One request's lines for this service, and where to send the outcome.
pub(super) struct Append {
    /// Complete lines, each ending in `\n`.
    pub lines: Vec<u8>,
    /// Resolved once the lines are written (or failed to be).
    pub ack: oneshot::Sender<Result<(), AppendError>>,
}

/// The writer task's state.
pub(super) struct Writer {
    path: PathBuf,
    fsync: FsyncPolicy,
    max_commit_bytes: usize,
    receiver: mpsc::Receiver<Append>,
    /// Opened on the first commit, and again after a failure left it in doubt.
    file: Option<LogFile>,
}

impl Writer {
    pub(super) fn new(path: PathBuf, config: &StoreConfig, receiver: mpsc::Receiver<Append>) -> Self {
        Writer {
            path,
            fsync: config.fsync,
            max_commit_bytes: config.max_commit_bytes,
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
            let buffer = concat(&group);
            let result = self.commit(buffer).await.map_err(AppendError::from);
            for append in group.drain(..) {
                // The requester may have gone away; its entries are written all the same.
                let _ = append.ack.send(result.clone());
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
    async fn commit(&mut self, buffer: Vec<u8>) -> std::io::Result<()> {
        let file = self.file.take();
        let path = self.path.clone();
        let fsync = self.fsync;
        let joined = tokio::task::spawn_blocking(move || {
            let mut file = match file {
                Some(file) => file,
                None => LogFile::open(&path)?,
            };
            file.commit(&buffer, fsync).map(|()| file)
        })
        .await;
        match joined {
            Ok(Ok(file)) => {
                self.file = Some(file);
                Ok(())
            }
            Ok(Err(err)) => {
                tracing::error!(path = %self.path.display(), %err, "write failed; entries refused");
                Err(err)
            }
            Err(join) => Err(std::io::Error::other(join.to_string())),
        }
    }
}

fn concat(group: &[Append]) -> Vec<u8> {
    if let [only] = group {
        return only.lines.clone();
    }
    let mut buffer = Vec::with_capacity(group.iter().map(|a| a.lines.len()).sum());
    for append in group {
        buffer.extend_from_slice(&append.lines);
    }
    buffer
}
