//! How much a service keeps and where its stream ends: for `/services`, metrics, retention
//! and forwarder lag. One `metadata` call per file; nothing here reads entries except the
//! bounded count in [`backlog`].

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::segments;
use crate::service::ServiceName;

/// Unread bytes of the active file counted exactly; beyond this the entry count is
/// estimated from the mean entry size, so measuring stays cheap however far behind.
const COUNT_LIMIT: u64 = 8 * 1024 * 1024;

/// What one service keeps on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of the active file.
    pub active_bytes: u64,
    /// Bytes of the rotated segments (compressed size where compressed).
    pub segment_bytes: u64,
    /// How many segments there are.
    pub segments: usize,
    /// The end of the service's stream (one past its last stored byte).
    pub stream_end: u64,
}

impl Usage {
    /// Bytes on disk in all.
    pub fn bytes(&self) -> u64 {
        self.active_bytes + self.segment_bytes
    }
}

/// Entries stored after a position: how far a reader is behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Bytes after the position.
    pub bytes: u64,
    /// Entries after the position (exact up to 8 MiB, estimated beyond).
    pub entries: u64,
}

/// The bytes of `service`'s files and where its stream ends.
pub fn usage(log_dir: &Path, service: &ServiceName) -> io::Result<Usage> {
    let segments = segments::list(log_dir, service)?;
    let segment_bytes = segments
        .iter()
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum();
    let active_bytes = active_len(log_dir, service);
    Ok(Usage {
        active_bytes,
        segment_bytes,
        segments: segments.len(),
        stream_end: segments::active_base(log_dir, service)? + active_bytes,
    })
}

/// One past the last stored byte of `service`'s stream.
pub fn end_of(log_dir: &Path, service: &ServiceName) -> io::Result<u64> {
    Ok(segments::active_base(log_dir, service)? + active_len(log_dir, service))
}

/// Bytes and entries stored after `from` in `service`'s stream. `mean_entry` (bytes per
/// entry, with its `\n`) estimates the entries beyond what is cheap to count.
pub fn backlog(
    log_dir: &Path,
    service: &ServiceName,
    from: u64,
    mean_entry: u64,
) -> io::Result<Backlog> {
    let base = segments::active_base(log_dir, service)?;
    let path = segments::active_path(log_dir, service);
    let len = std::fs::metadata(&path).map_or(0, |m| m.len());
    let bytes = (base + len).saturating_sub(from);
    if bytes == 0 {
        return Ok(Backlog::default());
    }
    if from >= base && bytes <= COUNT_LIMIT {
        let mut buf = vec![0; bytes as usize];
        let n = File::open(&path)?.read_at(&mut buf, from - base)?;
        let entries = memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        return Ok(Backlog { bytes, entries });
    }
    Ok(Backlog {
        bytes,
        entries: bytes / mean_entry.max(1),
    })
}

fn active_len(log_dir: &Path, service: &ServiceName) -> u64 {
    std::fs::metadata(segments::active_path(log_dir, service)).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_active_and_segments_and_the_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let api = ServiceName::parse("api").unwrap();
        let seg_dir = segments::service_dir(dir.path(), &api);
        std::fs::create_dir_all(&seg_dir).unwrap();
        let name = segments::Segment::file_name(1, 0, 10, None, false);
        std::fs::write(seg_dir.join(name), "{\"a\":1234}\n").unwrap();
        std::fs::write(dir.path().join("api.log"), "{\"b\":1}\n{\"c\":1}\n").unwrap();
        let usage = usage(dir.path(), &api).unwrap();
        assert_eq!(
            usage,
            Usage {
                active_bytes: 16,
                segment_bytes: 11,
                segments: 1,
                stream_end: 26
            }
        );
        assert_eq!(usage.bytes(), 27);
        assert_eq!(end_of(dir.path(), &api).unwrap(), 26);
        let behind = backlog(dir.path(), &api, 18, 100).unwrap();
        assert_eq!(
            behind,
            Backlog {
                bytes: 8,
                entries: 1
            }
        );
        // Behind into a segment: estimated from the mean entry size.
        let behind = backlog(dir.path(), &api, 0, 2).unwrap();
        assert_eq!(
            behind,
            Backlog {
                bytes: 26,
                entries: 13
            }
        );
        assert_eq!(
            backlog(dir.path(), &api, 26, 2).unwrap(),
            Backlog::default()
        );
    }
}
