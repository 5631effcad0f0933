//! Closing the active file into a segment, and finishing a segment afterwards (its time
//! range into its name, and optionally gzip) off the writer's path.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use flate2::{Compress, FlushCompress, Status};

use super::file::LogFile;
use super::index::{self, Block};
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

    /// Whether `bytes` more can be appended to `file` without a rotation before or after.
    pub fn leaves_open(&self, file: &LogFile, bytes: usize) -> bool {
        !self.is_due(file) && (self.max_bytes == 0 || file.len() + (bytes as u64) < self.max_bytes)
    }
}

/// Renames the active file into a pending segment and opens a fresh active file that starts
/// where it ended. Returns the new file and the pending segment's path.
///
/// # Errors
///
/// An I/O error renaming or opening; the old file is then still the active one.
pub fn rotate(
    mut file: LogFile,
    active: &Path,
    log_dir: &Path,
    service: &ServiceName,
    count_index: bool,
) -> io::Result<(LogFile, PathBuf)> {
    let (start, end) = (file.base(), file.base() + file.len());
    let dir = segments::service_dir(log_dir, service);
    fs::create_dir_all(&dir)?;
    let pending = dir.join(Segment::file_name(timefmt::now(), start, end, None, false));
    file.seal_index();
    drop(file);
    fs::rename(active, &pending)?;
    segments::record_base(log_dir, service, end)?;
    let fresh = match count_index {
        true => LogFile::open_indexed(active, end, &dir)?,
        false => LogFile::open(active, end)?,
    };
    tracing::info!(%service, segment = %pending.display(), bytes = end - start, "rotated");
    Ok((fresh, pending))
}

/// Finishes a pending segment: its entries' time range goes into its name (read from its
/// count index, rebuilt from the file when incomplete), and with `compress` it is gzipped
/// one block per gzip member, so readers can start decompressing at any block (each
/// block's member offset goes into the index). Both are written aside, then renamed under
/// the store's file lock, so a reader never lists a name that is gone before it opens it,
/// nor sees a segment with another segment's index.
///
/// # Errors
///
/// An I/O error reading or writing; the pending segment then stays as it is (still valid)
/// and the temporaries are removed, so finishing can be tried again.
pub fn finish(
    pending: &Path,
    compress: bool,
    files: &RwLock<()>,
    count_index: bool,
) -> io::Result<PathBuf> {
    let Some(segment) = segments::list_one(pending) else {
        return Ok(pending.to_path_buf());
    };
    let dir = pending.parent().unwrap_or(Path::new("."));
    let sidecar = index::sidecar(dir, segment.start);
    let mut blocks = index::load(&sidecar, segment.start)?;
    if blocks.last().map_or(segment.start, |b| b.end) != segment.end {
        let len = segment.end - segment.start;
        blocks = index::build_from(File::open(pending)?, segment.start, 0, len)?;
    }
    let range = time_range(&blocks);
    let name = Segment::file_name(segment.rotated, segment.start, segment.end, range, compress);
    let target = pending.with_file_name(name);
    let tmp = target.with_extension("gz.tmp");
    let new_sidecar = sidecar.with_extension("idx.new");
    let finished = (|| {
        if compress {
            gzip_blocks(pending, &tmp, segment.start, &mut blocks)?;
        }
        if count_index {
            index::write_all(&new_sidecar, &blocks)?;
        }
        let _exclusive = files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if compress {
            fs::rename(&tmp, &target)?;
        } else {
            fs::rename(pending, &target)?;
        }
        if count_index {
            fs::rename(&new_sidecar, &sidecar)?;
        }
        if compress {
            fs::remove_file(pending)?;
        }
        Ok(target)
    })();
    if finished.is_err() {
        // A half-written compression (a full disk) would hold its space until restart.
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(&new_sidecar);
    }
    finished
}

/// Finishes every segment a crash left pending, and removes half-written compressions.
///
/// # Errors
///
/// An I/O error reading the folders.
pub fn finish_pending(
    log_dir: &Path,
    compress: bool,
    files: &RwLock<()>,
    count_index: bool,
) -> io::Result<()> {
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
                finish(&segment.path, compress, files, count_index)?;
            }
        }
    }
    Ok(())
}

/// The earliest and latest entry time among the blocks.
fn time_range(blocks: &[Block]) -> Option<(Nanos, Nanos)> {
    let first = blocks.iter().map(|b| b.first).min()?;
    let last = blocks.iter().map(|b| b.last).max()?;
    (first <= last).then_some((Nanos::from(first), Nanos::from(last)))
}

/// Writes `source` to `target` gzipped, one gzip member per block (a segment without
/// blocks gets one empty member), and records each member's offset in its block. One
/// compressor is reset for each member rather than built anew: its state is several times
/// a 64 KiB block, and setting it up per block cost more than compressing the block.
fn gzip_blocks(source: &Path, target: &Path, start: u64, blocks: &mut [Block]) -> io::Result<()> {
    let file = File::open(source)?;
    let mut out = io::BufWriter::new(File::create(target)?);
    let mut offset = 0u64;
    let mut plain = Vec::new();
    let mut gz = Compress::new_gzip(flate2::Compression::fast(), 15);
    let mut member = Vec::new();
    let mut write_member = |data: &[u8], out: &mut io::BufWriter<File>| -> io::Result<u64> {
        gzip_member(&mut gz, data, &mut member)?;
        out.write_all(&member)?;
        Ok(member.len() as u64)
    };
    if blocks.is_empty() {
        write_member(&[], &mut out)?;
    }
    for block in blocks.iter_mut() {
        plain.resize((block.end - block.start) as usize, 0);
        file.read_exact_at(&mut plain, block.start - start)?;
        block.gz_offset = offset;
        offset += write_member(&plain, &mut out)?;
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// `data` as one gzip member in `out` (cleared first), with `gz` reset for it.
fn gzip_member(gz: &mut Compress, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    gz.reset();
    out.clear();
    // JSON lines compress about 8:1 at level 1; start near that.
    out.reserve(data.len() / 6 + 64);
    loop {
        let read = usize::try_from(gz.total_in()).map_err(io::Error::other)?;
        match gz.compress_vec(&data[read..], out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Ok(()),
            Ok(Status::Ok | Status::BufError) => out.reserve(out.capacity().max(4096)),
            Err(err) => return Err(io::Error::other(err)),
        }
    }
}

#[cfg(test)]
mod tests;
