//! How far behind a forwarder is, which services there are to forward, and the retention
//! cap that stops a forwarder stuck behind from filling the disk.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::ForwardStatus;
use crate::service::ServiceName;
use crate::store::segments;

/// Unread bytes of the active file counted exactly; beyond this the entry count is
/// estimated from the mean entry size, so measuring stays cheap however far behind.
const COUNT_LIMIT: u64 = 8 * 1024 * 1024;

/// One past the last stored byte of `service`'s virtual stream.
///
/// # Errors
///
/// An I/O error reading the segments folder.
pub fn end_of(log_dir: &Path, service: &ServiceName) -> io::Result<u64> {
    let base = segments::active_base(log_dir, service)?;
    let len = std::fs::metadata(log_dir.join(service.file_name())).map_or(0, |m| m.len());
    Ok(base + len)
}

/// Bytes and entries stored after `from` in `service`'s stream. `mean_entry` (bytes per
/// entry, with its `\n`) estimates the entries beyond what is cheap to count.
///
/// # Errors
///
/// An I/O error reading the files.
pub fn behind(
    log_dir: &Path,
    service: &ServiceName,
    from: u64,
    mean_entry: u64,
) -> io::Result<(u64, u64)> {
    let base = segments::active_base(log_dir, service)?;
    let path = log_dir.join(service.file_name());
    let len = std::fs::metadata(&path).map_or(0, |m| m.len());
    let bytes = (base + len).saturating_sub(from);
    if bytes == 0 {
        return Ok((0, 0));
    }
    if from >= base && bytes <= COUNT_LIMIT {
        let mut buf = vec![0; bytes as usize];
        let n = File::open(&path)?.read_at(&mut buf, from - base)?;
        return Ok((bytes, memchr::memchr_iter(b'\n', &buf[..n]).count() as u64));
    }
    Ok((bytes, bytes / mean_entry.max(1)))
}

/// The offset retention must keep from, given the lowest forwarder position: past `cap`
/// bytes behind the end, only the last `cap` bytes are kept, and that is logged loudly
/// (the forwarder reports the exact range it lost when it gets there).
pub fn apply_cap(
    log_dir: &Path,
    service: &ServiceName,
    lowest: u64,
    cap: Option<u64>,
    status: &ForwardStatus,
) -> u64 {
    let Some(cap) = cap else { return lowest };
    let Ok(end) = end_of(log_dir, service) else {
        return lowest;
    };
    let floor = end.saturating_sub(cap);
    if lowest >= floor {
        return lowest;
    }
    let behind: Vec<&str> = status
        .0
        .iter()
        .filter(|f| f.position(service) < floor)
        .map(|f| f.name.as_str())
        .collect();
    tracing::error!(
        %service,
        forwarders = ?behind,
        behind_bytes = end - lowest,
        cap_bytes = cap,
        give_up_before = floor,
        "forwarders are further behind than --forward-retain-cap-bytes: retention may delete entries they have not sent"
    );
    floor
}
