//! Closing the active file into a segment, and finishing a segment afterwards (its time
//! range into its name, and optionally gzip) off the writer's path.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use super::file::LogFile;
use super::segments::{self, Segment};
use crate::service::ServiceName;
use crate::timefmt::{self, Nanos};

/// When the active file is closed into a segment. The default never rotates.
#[derive(Debug, Clone, Copy, Default)]
pub struct RotationPolicy {
    /// Rotate once the active file reaches this many bytes (0 = never by size).
    pub max_bytes: u64,
    /// Also rotate when the UTC day changes.
    pub daily: bool,
    /// Gzip closed segments.
    pub compress: bool,
}

impl RotationPolicy {
    /// Whether `file` should be closed before or after a write.
    pub fn is_due(&self, file: &LogFile) -> bool {
        (self.max_bytes > 0 && file.len() >= self.max_bytes)
            || (self.daily && file.is_from_before_today())
    }
}

/// Renames the active file into a pending segment and opens a fresh active file that starts
/// where it ended. Returns the new file and the pending segment's path.
///
/// # Errors
///
/// An I/O error renaming or opening; the old file is then still the active one.
pub fn rotate(
    file: LogFile,
    active: &Path,
    log_dir: &Path,
    service: &ServiceName,
) -> io::Result<(LogFile, PathBuf)> {
    let (start, end) = (file.base(), file.base() + file.len());
    let dir = segments::service_dir(log_dir, service);
    fs::create_dir_all(&dir)?;
    let pending = dir.join(Segment::file_name(timefmt::now(), start, end, None, false));
    drop(file);
    fs::rename(active, &pending)?;
    segments::record_base(log_dir, service, end)?;
    let fresh = LogFile::open(active, end)?;
    tracing::info!(%service, segment = %pending.display(), bytes = end - start, "rotated");
    Ok((fresh, pending))
}

/// Finishes a pending segment: its entries' time range goes into its name, and with
/// `compress` it is gzipped (written aside, then renamed, then the original removed, so a
/// complete copy exists at every moment). The renames take the store's file lock, so a
/// reader never lists a name that is gone before it opens it.
///
/// # Errors
///
/// An I/O error reading or writing; the pending segment then stays as it is (still valid).
pub fn finish(pending: &Path, compress: bool, files: &RwLock<()>) -> io::Result<PathBuf> {
    let Some(segment) = segments::list_one(pending) else {
        return Ok(pending.to_path_buf());
    };
    let range = time_range(pending)?;
    let name = Segment::file_name(segment.rotated, segment.start, segment.end, range, compress);
    let target = pending.with_file_name(name);
    let tmp = target.with_extension("gz.tmp");
    if compress {
        gzip_to(pending, &tmp)?;
    }
    let _exclusive = files
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if compress {
        fs::rename(&tmp, &target)?;
        fs::remove_file(pending)?;
    } else {
        fs::rename(pending, &target)?;
    }
    Ok(target)
}

/// Finishes every segment a crash left pending, and removes half-written compressions.
///
/// # Errors
///
/// An I/O error reading the folders.
pub fn finish_pending(log_dir: &Path, compress: bool, files: &RwLock<()>) -> io::Result<()> {
    for service in segments::services_with_segments(log_dir)? {
        let dir = segments::service_dir(log_dir, &service);
        for entry in fs::read_dir(&dir)?.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                fs::remove_file(&path)?;
            }
        }
        for segment in segments::list(log_dir, &service)? {
            if segment.range.is_none() && !segment.compressed {
                finish(&segment.path, compress, files)?;
            }
        }
    }
    Ok(())
}

/// The earliest and latest RFC 3339 `timestamp` among the file's entries.
fn time_range(path: &Path) -> io::Result<Option<(Nanos, Nanos)>> {
    let mut range: Option<(Nanos, Nanos)> = None;
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        if let Some(ts) = crate::filter::timestamp_nanos(&line?) {
            range = Some(range.map_or((ts, ts), |(a, b)| (a.min(ts), b.max(ts))));
        }
    }
    Ok(range)
}

fn gzip_to(source: &Path, target: &Path) -> io::Result<()> {
    let mut reader = BufReader::new(File::open(source)?);
    let out = File::create(target)?;
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    io::copy(&mut reader, &mut encoder)?;
    let file = encoder.finish()?;
    file.sync_all()?;
    let _ = (&file).flush();
    Ok(())
}

#[cfg(test)]
mod tests;
