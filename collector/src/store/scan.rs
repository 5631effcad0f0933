//! The query engine: walks a service's segments and active file newest-first (or
//! oldest-first), applies a [`LineFilter`], and stops as soon as it has one entry more than
//! the page needs. Positions are virtual offsets (see [`super::segments`]), so cursors stay
//! valid while entries arrive and files rotate.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::RwLock;

use super::segments;
use crate::filter::LineFilter;
use crate::service::ServiceName;

/// Bytes read per step.
const CHUNK: usize = 256 * 1024;

/// Which way a scan walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first; a cursor is an exclusive upper bound.
    Backward,
    /// Oldest first; a cursor is an inclusive lower bound.
    Forward,
}

/// What to look for.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Which entries match.
    pub filter: LineFilter,
    /// How many to return.
    pub limit: usize,
    /// Newest or oldest first.
    pub direction: Direction,
    /// Where the previous page stopped.
    pub cursor: Option<u64>,
}

/// One matching entry.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Its virtual offset.
    pub offset: u64,
    /// The stored line, without `\n`.
    pub line: Vec<u8>,
}

/// What a scan found and what it cost.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// Matches in scan order.
    pub hits: Vec<Hit>,
    /// Where the next page starts, when more entries match.
    pub next_cursor: Option<u64>,
    /// Bytes read (uncompressed).
    pub scanned_bytes: u64,
    /// Files read.
    pub files_scanned: usize,
    /// Segments skipped because their time range cannot match.
    pub segments_skipped: usize,
    /// The end of the service's stream when the scan opened its files: a live follower
    /// skips commits ending at or before it (it has seen them in the scan).
    pub stream_end: u64,
}

/// A file to read: its virtual range and whether it is gzip.
struct Source {
    file: File,
    start: u64,
    end: u64,
    compressed: bool,
}

/// Runs `request` over `service`'s files. `rotation` is held (shared) only while the files
/// are opened, so a concurrent rotation cannot make the scan miss or repeat a file.
///
/// # Errors
///
/// An I/O error opening or reading a file.
pub fn scan(
    log_dir: &Path,
    service: &ServiceName,
    rotation: &RwLock<()>,
    request: &ScanRequest,
) -> io::Result<ScanOutcome> {
    let mut outcome = ScanOutcome::default();
    let mut sources = open_sources(log_dir, service, rotation, request, &mut outcome)?;
    if request.direction == Direction::Backward {
        sources.reverse();
    }
    let want = request.limit + 1;
    for source in sources {
        let (low, high) = bounds(&source, request);
        if low >= high {
            continue;
        }
        outcome.files_scanned += 1;
        let left = want - outcome.hits.len();
        let mut found = Vec::new();
        outcome.scanned_bytes += read_source(&source, low, high, request, left, &mut found)?;
        outcome.hits.extend(found);
        if outcome.hits.len() >= want {
            break;
        }
    }
    if outcome.hits.len() > request.limit {
        let extra = outcome.hits.pop().expect("limit + 1 hits");
        outcome.next_cursor = Some(match request.direction {
            Direction::Backward => outcome.hits.last().map_or(extra.offset, |h| h.offset),
            Direction::Forward => extra.offset,
        });
    }
    Ok(outcome)
}

fn open_sources(
    log_dir: &Path,
    service: &ServiceName,
    rotation: &RwLock<()>,
    request: &ScanRequest,
    outcome: &mut ScanOutcome,
) -> io::Result<Vec<Source>> {
    let _shared = rotation
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut sources = Vec::new();
    for segment in segments::list(log_dir, service)? {
        if request.filter.has_time()
            && !segment.may_overlap(request.filter.since, request.filter.until)
        {
            outcome.segments_skipped += 1;
            continue;
        }
        let file = match File::open(&segment.path) {
            Ok(file) => file,
            // Compressed and removed a moment ago: the compressed twin has the same content.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                match reopen_compressed(log_dir, service, segment.start)? {
                    Some(file) => file,
                    None => continue,
                }
            }
            Err(err) => return Err(err),
        };
        let compressed = segment.compressed || !segment.path.exists();
        sources.push(Source {
            file,
            start: segment.start,
            end: segment.end,
            compressed,
        });
    }
    let base = segments::active_base(log_dir, service)?;
    outcome.stream_end = base;
    match File::open(log_dir.join(service.file_name())) {
        Ok(file) => {
            let len = file.metadata()?.len();
            outcome.stream_end = base + len;
            sources.push(Source {
                file,
                start: base,
                end: base + len,
                compressed: false,
            });
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    Ok(sources)
}

fn reopen_compressed(
    log_dir: &Path,
    service: &ServiceName,
    start: u64,
) -> io::Result<Option<File>> {
    let twin = segments::list(log_dir, service)?
        .into_iter()
        .find(|s| s.start == start && s.compressed);
    twin.map(|s| File::open(s.path)).transpose()
}

/// The virtual range of `source` that the cursor leaves to read.
fn bounds(source: &Source, request: &ScanRequest) -> (u64, u64) {
    match (request.direction, request.cursor) {
        (Direction::Backward, Some(cursor)) => (source.start, source.end.min(cursor)),
        (Direction::Forward, Some(cursor)) => (source.start.max(cursor), source.end),
        (_, None) => (source.start, source.end),
    }
}

/// Collects up to `want` matches of `source` within `[low, high)` in scan order; returns
/// the bytes read.
fn read_source(
    source: &Source,
    low: u64,
    high: u64,
    request: &ScanRequest,
    want: usize,
    found: &mut Vec<Hit>,
) -> io::Result<u64> {
    let matcher = request.filter.prepared();
    let mut keep = |offset: u64, line: &[u8]| {
        if matcher.matches(line) {
            found.push(Hit {
                offset,
                line: line.to_vec(),
            });
        }
        found.len() < want
    };
    match (source.compressed, request.direction) {
        (false, Direction::Backward) => backward(&source.file, source.start, low, high, &mut keep),
        (false, Direction::Forward) => forward(
            BufReader::with_capacity(CHUNK, PlainAt::new(&source.file, low - source.start)),
            low,
            high,
            &mut keep,
        ),
        (true, direction) => {
            let gz =
                BufReader::with_capacity(CHUNK, flate2::read::MultiGzDecoder::new(&source.file));
            compressed(gz, source.start, low, high, direction, request, want, found)
        }
    }
}

/// Reads `[low, high)` backward, calling `visit(offset, line)` newest first until it says stop.
fn backward(
    file: &File,
    start: u64,
    low: u64,
    high: u64,
    visit: &mut dyn FnMut(u64, &[u8]) -> bool,
) -> io::Result<u64> {
    let (floor, mut pos) = (low - start, high - start);
    let mut pending: Vec<u8> = Vec::new();
    let mut read = 0u64;
    let mut trimmed = false;
    while pos > floor {
        let from = pos.saturating_sub(CHUNK as u64).max(floor);
        let mut chunk = vec![0u8; (pos - from) as usize];
        file.read_exact_at(&mut chunk, from)?;
        read += chunk.len() as u64;
        chunk.extend_from_slice(&pending);
        pending = chunk;
        pos = from;
        if !trimmed {
            // Bytes after the last newline are a write in progress: not an entry yet.
            match memchr::memrchr(b'\n', &pending) {
                Some(i) => pending.truncate(i + 1),
                None => {
                    pending.clear();
                    continue;
                }
            }
            trimmed = true;
        }
        while let Some(body_end) = pending.len().checked_sub(1) {
            let (line_start, at_floor) = match memchr::memrchr(b'\n', &pending[..body_end]) {
                Some(i) => (i + 1, false),
                None if pos == floor => (0, true),
                None => break,
            };
            let line = &pending[line_start..body_end];
            if !line.is_empty() && !visit(start + pos + line_start as u64, line) {
                return Ok(read);
            }
            pending.truncate(line_start);
            if at_floor {
                break;
            }
        }
    }
    Ok(read)
}

/// Reads complete lines from `reader` (positioned at virtual `low`) until `high`.
fn forward(
    mut reader: impl BufRead,
    low: u64,
    high: u64,
    visit: &mut dyn FnMut(u64, &[u8]) -> bool,
) -> io::Result<u64> {
    let mut offset = low;
    let mut line = Vec::new();
    while offset < high {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)? as u64;
        if n == 0 || line.last() != Some(&b'\n') || offset + n > high {
            break;
        }
        let body = &line[..line.len() - 1];
        if !body.is_empty() && !visit(offset, body) {
            return Ok(offset + n - low);
        }
        offset += n;
    }
    Ok(offset - low)
}

/// A gzip segment can only be read forward; backward scans keep the newest `want` matches
/// below `high` and return them newest first.
#[allow(clippy::too_many_arguments)]
fn compressed(
    reader: impl BufRead,
    start: u64,
    low: u64,
    high: u64,
    direction: Direction,
    request: &ScanRequest,
    want: usize,
    found: &mut Vec<Hit>,
) -> io::Result<u64> {
    let mut ring = std::collections::VecDeque::new();
    let matcher = request.filter.prepared();
    let mut visit = |offset: u64, line: &[u8]| {
        if offset < low || !matcher.matches(line) {
            return true;
        }
        ring.push_back(Hit {
            offset,
            line: line.to_vec(),
        });
        match direction {
            Direction::Forward => ring.len() < want,
            Direction::Backward => {
                if ring.len() > want {
                    ring.pop_front();
                }
                true
            }
        }
    };
    let read = forward(reader, start, high, &mut visit)?;
    match direction {
        Direction::Forward => found.extend(ring),
        Direction::Backward => found.extend(ring.into_iter().rev()),
    }
    Ok(read)
}

/// `Read` over a file from an offset, with positioned reads (no shared seek position).
struct PlainAt<'f> {
    file: &'f File,
    pos: u64,
}

impl<'f> PlainAt<'f> {
    fn new(file: &'f File, pos: u64) -> Self {
        PlainAt { file, pos }
    }
}

impl io::Read for PlainAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
