//! The page engine: walks a service's stream newest-first or oldest-first, applies the
//! request's filter, and stops as soon as it has one entry more than the page needs.
//! Oldest-first pages read through the store's one forward reader ([`StreamReader`], the
//! one forwarders use); newest-first pages read the files backward from the end, which no
//! forward reader can do. Positions are stream positions (see [`super::segments`]), so
//! cursors stay valid while entries arrive and files rotate.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use super::reader::StreamReader;
use super::{segments, usage};
use crate::query::{Direction, Hit, Page, PageRequest};
use crate::service::ServiceName;

/// Bytes read per step.
const CHUNK: usize = 256 * 1024;
/// Entries read per step of a filtered oldest-first page.
const FORWARD_ENTRIES: usize = 4096;

/// A file to read: its virtual range and whether it is gzip.
struct Source {
    file: File,
    start: u64,
    end: u64,
    compressed: bool,
}

/// Runs `request` over `service`'s files. `files` (the store's file lock) is held (shared)
/// only while files are located and opened, so a concurrent rotation, compression or
/// retention pass cannot make the scan miss or repeat a file.
pub fn scan(
    log_dir: &Path,
    service: &ServiceName,
    files: &Arc<RwLock<()>>,
    request: &PageRequest,
) -> io::Result<Page> {
    let mut page = match request.direction {
        Direction::Backward => scan_backward(log_dir, service, files, request)?,
        Direction::Forward => scan_forward(log_dir, service, files, request)?,
    };
    if page.hits.len() > request.limit {
        let extra = page.hits.pop().expect("limit + 1 hits");
        page.next_cursor = Some(match request.direction {
            Direction::Backward => page.hits.last().map_or(extra.position, |h| h.position),
            Direction::Forward => extra.position,
        });
    }
    Ok(page)
}

/// Oldest first, from the cursor, through the forward reader; segments outside the time
/// window are passed over unopened.
fn scan_forward(
    log_dir: &Path,
    service: &ServiceName,
    files: &Arc<RwLock<()>>,
    request: &PageRequest,
) -> io::Result<Page> {
    let mut page = Page {
        stream_end: usage::end_of(log_dir, service)?,
        ..Page::default()
    };
    let filter = &request.filter;
    let mut reader = StreamReader::new(log_dir, service.clone(), files.clone())
        .within(filter.since, filter.until);
    let matcher = filter.prepared();
    let want = request.limit + 1;
    let mut from = request.cursor.unwrap_or(0);
    while page.hits.len() < want {
        // Unfiltered, exactly the entries still wanted; filtered, a good stride.
        let room = want - page.hits.len();
        let entries = if filter.is_empty() {
            room
        } else {
            FORWARD_ENTRIES
        };
        let chunk = reader.read(from, entries, CHUNK)?;
        page.work.scanned_bytes += chunk.read_bytes;
        page.work.files_scanned += chunk.files_opened;
        page.work.segments_skipped += chunk.segments_skipped;
        let lines = (0..chunk.lines.len()).map(|i| (chunk.positions[i], chunk.line(i)));
        for (position, line) in lines.filter(|(_, line)| matcher.matches(line)) {
            page.hits.push(Hit {
                position,
                line: line.to_vec(),
            });
            if page.hits.len() == want {
                break;
            }
        }
        if chunk.next == from {
            break;
        }
        from = chunk.next;
    }
    Ok(page)
}

/// Newest first, from the end (or the cursor) back.
fn scan_backward(
    log_dir: &Path,
    service: &ServiceName,
    files: &RwLock<()>,
    request: &PageRequest,
) -> io::Result<Page> {
    let mut outcome = Page::default();
    let mut sources = open_sources(log_dir, service, files, request, &mut outcome)?;
    sources.reverse();
    let want = request.limit + 1;
    for source in sources {
        let (low, high) = bounds(&source, request);
        if low >= high {
            continue;
        }
        outcome.work.files_scanned += 1;
        let left = want - outcome.hits.len();
        let mut found = Vec::new();
        outcome.work.scanned_bytes += read_source(&source, low, high, request, left, &mut found)?;
        outcome.hits.extend(found);
        if outcome.hits.len() >= want {
            break;
        }
    }
    Ok(outcome)
}

fn open_sources(
    log_dir: &Path,
    service: &ServiceName,
    files: &RwLock<()>,
    request: &PageRequest,
    outcome: &mut Page,
) -> io::Result<Vec<Source>> {
    let _shared = files
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut sources = Vec::new();
    for segment in segments::list(log_dir, service)? {
        if request.filter.has_time()
            && !segment.may_overlap(request.filter.since, request.filter.until)
        {
            outcome.work.segments_skipped += 1;
            continue;
        }
        sources.push(Source {
            file: File::open(&segment.path)?,
            start: segment.start,
            end: segment.end,
            compressed: segment.compressed,
        });
    }
    let base = segments::active_base(log_dir, service)?;
    outcome.stream_end = base;
    match File::open(segments::active_path(log_dir, service)) {
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

/// The range of `source` that the cursor (an exclusive upper bound) leaves to read.
fn bounds(source: &Source, request: &PageRequest) -> (u64, u64) {
    match request.cursor {
        Some(cursor) => (source.start, source.end.min(cursor)),
        None => (source.start, source.end),
    }
}

/// Collects up to `want` matches of `source` within `[low, high)` in scan order; returns
/// the bytes read.
fn read_source(
    source: &Source,
    low: u64,
    high: u64,
    request: &PageRequest,
    want: usize,
    found: &mut Vec<Hit>,
) -> io::Result<u64> {
    let matcher = request.filter.prepared();
    let mut keep = |offset: u64, line: &[u8]| {
        if matcher.matches(line) {
            found.push(Hit {
                position: offset,
                line: line.to_vec(),
            });
        }
        found.len() < want
    };
    if !source.compressed {
        return backward(&source.file, source.start, low, high, &mut keep);
    }
    let gz = BufReader::with_capacity(CHUNK, flate2::read::MultiGzDecoder::new(&source.file));
    compressed(gz, source.start, high, request, want, found)
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

/// A gzip segment can only be read forward: keep the newest `want` matches below `high`
/// and return them newest first.
fn compressed(
    reader: impl BufRead,
    start: u64,
    high: u64,
    request: &PageRequest,
    want: usize,
    found: &mut Vec<Hit>,
) -> io::Result<u64> {
    let mut ring = std::collections::VecDeque::new();
    let matcher = request.filter.prepared();
    let mut visit = |offset: u64, line: &[u8]| {
        if matcher.matches(line) {
            ring.push_back(Hit {
                position: offset,
                line: line.to_vec(),
            });
            if ring.len() > want {
                ring.pop_front();
            }
        }
        true
    };
    let read = forward(reader, start, high, &mut visit)?;
    found.extend(ring.into_iter().rev());
    Ok(read)
}

#[cfg(test)]
mod tests;
