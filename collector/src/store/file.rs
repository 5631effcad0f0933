//! File-level operations on a service's log: open for append, repair a torn tail, and
//! commit a group of lines with rollback on failure.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::index::ActiveIndex;
use super::FsyncPolicy;
use crate::body::LineFacts;

/// How far back a torn tail is searched for the last complete line, per read.
const REPAIR_CHUNK: u64 = 64 * 1024;

/// An open, append-only log file and its length (the length a failed write rolls back to).
pub struct LogFile {
    file: File,
    len: u64,
    /// Where this file starts in the service's virtual stream (see [`super::segments`]).
    base: u64,
    /// The UTC day (days since the epoch) the file's entries belong to, for daily rotation.
    day: i64,
    /// Its count index; `None` when it failed (it is rebuilt on the next open).
    index: Option<ActiveIndex>,
}

impl LogFile {
    /// Opens (creating if needed) `path` for appending, repairing a torn tail first.
    ///
    /// # Errors
    ///
    /// Any I/O error from opening or repairing.
    pub fn open(path: &Path, base: u64) -> io::Result<Self> {
        Self::open_with_index(path, base, None)
    }

    /// Like [`LogFile::open`], keeping the file's count index in `index_dir` (repaired or
    /// rebuilt from the file first).
    ///
    /// # Errors
    ///
    /// Any I/O error from opening or repairing the file or its index.
    pub fn open_indexed(path: &Path, base: u64, index_dir: &Path) -> io::Result<Self> {
        Self::open_with_index(path, base, Some(index_dir))
    }

    fn open_with_index(path: &Path, base: u64, index_dir: Option<&Path>) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let len = repair_torn_tail(&file, path)?;
        let day = match len {
            0 => today(),
            _ => file.metadata()?.modified().map_or_else(|_| today(), day_of),
        };
        let index = match index_dir {
            Some(dir) => Some(ActiveIndex::open(dir, &file, base, len)?),
            None => None,
        };
        Ok(LogFile {
            file,
            len,
            base,
            day,
            index,
        })
    }

    /// Where this file starts in the service's virtual stream.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Whether the file holds entries from an earlier UTC day than today.
    pub fn is_from_before_today(&self) -> bool {
        self.len > 0 && self.day < today()
    }

    /// The file's length: everything committed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was ever committed to the file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `lines` in one write; on failure truncates back so no partial line remains.
    ///
    /// # Errors
    ///
    /// The write or sync error; the file is then as it was before the call.
    pub fn commit(
        &mut self,
        lines: &[u8],
        facts: &[LineFacts],
        fsync: FsyncPolicy,
    ) -> io::Result<()> {
        let result = self.file.write_all(lines).and_then(|()| match fsync {
            FsyncPolicy::Batch => self.file.sync_data(),
            FsyncPolicy::Never => Ok(()),
        });
        match result {
            Ok(()) => {
                self.len += lines.len() as u64;
                self.record(facts);
                Ok(())
            }
            Err(err) => {
                // Truncating also releases the space a partial write took on a full disk.
                self.file.set_len(self.len)?;
                Err(err)
            }
        }
    }
}

impl LogFile {
    /// Adds a commit's lines to the count index. The entries are already written: an index
    /// failure never fails them; the index is dropped and rebuilt on the next open.
    fn record(&mut self, facts: &[LineFacts]) {
        if let Some(index) = &mut self.index {
            if let Err(err) = index.record(facts) {
                tracing::warn!(%err, "count index write failed; it is rebuilt from the file on the next open");
                self.index = None;
            }
        }
    }

    /// Closes the count index's open block (before the file becomes a segment).
    pub fn seal_index(&mut self) {
        if let Some(index) = self.index.take() {
            if let Err(err) = index.seal() {
                tracing::warn!(%err, "sealing the count index failed; it is rebuilt from the segment");
            }
        }
    }
}

/// Repairs every `*.log` file in `dir` (run at start-up, before anything reads).
///
/// # Errors
///
/// An I/O error reading the directory or repairing a file.
pub fn repair_dir(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "log") && path.is_file() {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            repair_torn_tail(&file, &path)?;
        }
    }
    Ok(())
}

/// Truncates a file that does not end in `\n` back to its last complete line (a crash
/// mid-write leaves such a tail; it was never acknowledged). Returns the resulting length.
fn repair_torn_tail(file: &File, path: &Path) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 || last_byte(file, len)? == b'\n' {
        return Ok(len);
    }
    let keep = last_line_end(file, len)?;
    file.set_len(keep)?;
    tracing::warn!(
        path = %path.display(),
        dropped_bytes = len - keep,
        "repaired a torn last line left by an interrupted write"
    );
    Ok(keep)
}

fn last_byte(file: &File, len: u64) -> io::Result<u8> {
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, len - 1)?;
    Ok(byte[0])
}

/// The offset just past the last `\n` in the file, or 0 when there is none.
fn last_line_end(file: &File, len: u64) -> io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; REPAIR_CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(REPAIR_CHUNK);
        let buf = &mut chunk[..(end - start) as usize];
        file.read_exact_at(buf, start)?;
        if let Some(pos) = memchr::memrchr(b'\n', buf) {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn today() -> i64 {
    day_of(std::time::SystemTime::now())
}

fn day_of(time: std::time::SystemTime) -> i64 {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_before_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.log");
        std::fs::write(&path, b"{\"a\":1}\n{\"torn").unwrap();
        let mut log = LogFile::open(&path, 100).unwrap();
        assert_eq!((log.base(), log.len()), (100, 8));
        log.commit(b"{\"b\":2}\n", &[], FsyncPolicy::Never).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(log.len(), 16);
    }

    #[test]
    fn a_file_with_no_complete_line_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.log");
        std::fs::write(&path, vec![b'x'; 3 * REPAIR_CHUNK as usize]).unwrap();
        repair_dir(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
