//! The spill file: where whole sealed batches go when the queue's memory bound is reached,
//! so that a burst the worker cannot keep up with is delivered late instead of dropped.
//!
//! The file is created on the first overflow, in the configured directory, and unlinked at
//! once (`tempfile`), so nothing is left behind whatever way the process ends. Batches are
//! written at offsets reserved under the queue's lock and read back by the worker in queue
//! order; once nothing on disk is still waiting, the file is truncated, so its pages are
//! given back without ever having to reach the disk. Lines pass through as bytes: a batch is
//! written and read back exactly as the app threads serialized it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

/// Where and how much to spill (`Builder::spill_dir`, `Builder::spill_max_bytes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpillLimits {
    /// The directory the unlinked file is created in.
    pub(crate) dir: PathBuf,
    /// The file's size at most; past it the overflow policy applies again.
    pub(crate) max_bytes: u64,
}

/// The file and the room used in it; kept in the queue's state, used under its lock except
/// for the reads and writes themselves.
#[derive(Default)]
pub(super) struct SpillFile {
    /// `None` until the first overflow (or for good after an error: see `broken`).
    file: Option<Arc<File>>,
    /// The end of the reserved part of the file: the next batch is written here.
    pub(super) end: u64,
    /// Whether the file may have pages to give back (written since the last truncation).
    sized: bool,
    /// Set when the file could not be created, written or truncated: spilling is off from
    /// then on (the worker reports `problem` once).
    broken: bool,
    /// What went wrong, for the worker to report.
    pub(super) problem: Option<String>,
}

impl SpillFile {
    /// Reserves `len` bytes for a batch; `None` when spilling is off, broken or full. Creates
    /// the file on first use.
    pub(super) fn reserve(
        &mut self,
        limits: Option<&SpillLimits>,
        len: usize,
    ) -> Option<(Arc<File>, u64)> {
        let limits = limits?;
        if self.broken || self.end + len as u64 > limits.max_bytes {
            return None;
        }
        if self.file.is_none() {
            match tempfile::tempfile_in(&limits.dir) {
                Ok(file) => self.file = Some(Arc::new(file)),
                Err(e) => {
                    let dir = limits.dir.display();
                    self.fail(format!("cannot create a spill file in {dir}: {e}"));
                    return None;
                }
            }
        }
        let at = self.end;
        self.end += len as u64;
        self.sized = true;
        Some((Arc::clone(self.file.as_ref()?), at))
    }

    /// Whether any batch could still go to the file (a cheap check before looking for one:
    /// with the file full, every refused event would otherwise scan the queue).
    pub(super) fn has_room(&self, limits: &SpillLimits) -> bool {
        !self.broken && self.end < limits.max_bytes
    }

    /// The file, for reading a batch back.
    pub(super) fn file(&self) -> Option<Arc<File>> {
        self.file.clone()
    }

    /// Nothing on disk is waiting any more: the next batch is written at the start again,
    /// over pages the file already has (cheaper than new ones while a burst goes on).
    pub(super) fn rewind(&mut self) {
        self.end = 0;
    }

    /// The burst is over and nothing on disk is waiting: gives the file's pages back.
    pub(super) fn truncate(&mut self) {
        if self.end != 0 || !std::mem::take(&mut self.sized) {
            return;
        }
        if let Some(file) = &self.file {
            if let Err(e) = file.set_len(0) {
                self.fail(format!("cannot truncate the spill file: {e}"));
            }
        }
    }

    /// Turns spilling off for good, keeping the reason for the worker.
    pub(super) fn fail(&mut self, problem: String) {
        self.broken = true;
        self.file = None;
        self.problem.get_or_insert(problem);
    }
}

/// Writes all of `buf` at `offset`.
pub(super) fn write_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(file, buf, offset)? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}
