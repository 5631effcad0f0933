//! The page engine: walks a service's stream newest-first or oldest-first, applies the
//! request's filter, and stops as soon as it has one entry more than the page needs.
//! Oldest-first pages read through the store's one forward reader ([`StreamReader`], the
//! one forwarders use); newest-first pages read the files backward from the end, which no
//! forward reader can do. Positions are stream positions (see [`super::segments`]), so
//! cursors stay valid while entries arrive and files rotate.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use super::reader::StreamReader;
use super::source::{self, Source};
use super::usage;
use crate::filter::timestamp_nanos;
use crate::query::{Direction, Hit, Page, PageRequest, ScanBudget, ScanMeter, Stop, Stopped};
use crate::service::ServiceName;

/// Bytes read per step, at most.
const CHUNK: usize = 256 * 1024;
/// The first step: a page of `limit=100` rarely needs more, so small pages read little;
/// each further step doubles up to [`CHUNK`].
const FIRST_STEP: usize = 32 * 1024;
/// Entries read per step of a filtered oldest-first page.
const FORWARD_ENTRIES: usize = 4096;
/// A scan's spending: its [`ScanMeter`] (bytes examined, the budget looked at every
/// [`ScanMeter::LINES_PER_LOOK`] lines) and the line it stopped at.
struct Spending {
    meter: ScanMeter,
    last_line: Option<Vec<u8>>,
}

impl Spending {
    fn new(budget: &ScanBudget) -> Self {
        Spending {
            meter: ScanMeter::new(budget.clone()),
            last_line: None,
        }
    }

    /// Counts one examined line; says whether the budget is spent.
    fn examined(&mut self, line: &[u8]) -> Option<Stop> {
        if self.meter.read(line.len() as u64 + 1) {
            return None;
        }
        self.last_line = Some(line.to_vec());
        self.meter.stopped()
    }

    /// Says whether the budget is spent, between reads. Until it has examined something,
    /// a scan stops only when cancelled: every page makes progress, however little is left.
    fn check(&mut self) -> Option<Stop> {
        if self.meter.read_bytes() == 0 {
            return self.meter.is_cancelled().then_some(Stop::Cancelled);
        }
        if self.meter.may_go_on() {
            None
        } else {
            self.meter.stopped()
        }
    }

    fn stopped(&self, reason: Stop, last_line: Option<&[u8]>) -> Stopped {
        let line = last_line.or(self.last_line.as_deref());
        Stopped {
            reason,
            last_examined: line.and_then(timestamp_nanos),
            examined_any: self.meter.read_bytes() > 0,
        }
    }
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
    if page.stopped.is_some_and(|s| s.reason == Stop::Cancelled) {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the query was cancelled",
        ));
    }
    if page.hits.len() > request.limit {
        page.stopped = None;
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
    let mut step = FIRST_STEP;
    let mut spending = Spending::new(&request.budget);
    let mut last: Option<Vec<u8>> = None;
    while page.hits.len() < want {
        if let Some(reason) = spending.check() {
            page.stopped = Some(spending.stopped(reason, last.as_deref()));
            page.next_cursor = Some(from);
            break;
        }
        // Unfiltered, exactly the entries still wanted; filtered, a good stride.
        let room = want - page.hits.len();
        let entries = if filter.is_empty() {
            room
        } else {
            FORWARD_ENTRIES
        };
        let chunk = reader.read(from, entries, step)?;
        step = (step * 2).min(CHUNK);
        page.work.scanned_bytes += chunk.read_bytes;
        page.work.files_scanned += chunk.files_opened;
        page.work.segments_skipped += chunk.segments_skipped;
        spending.meter.add(chunk.read_bytes);
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
        if let Some(i) = chunk.lines.len().checked_sub(1) {
            last = Some(chunk.line(i).to_vec());
        }
        if chunk.next == from {
            break;
        }
        from = chunk.next;
    }
    Ok(page)
}

/// Newest first, from the end (or the cursor) back; with a time window, only the ranges
/// the count index says can hold it (and what it does not cover) are read.
fn scan_backward(
    log_dir: &Path,
    service: &ServiceName,
    files: &RwLock<()>,
    request: &PageRequest,
) -> io::Result<Page> {
    let filter = &request.filter;
    let sources = source::open_all(log_dir, service, files, filter.since, filter.until)?;
    let mut page = Page {
        stream_end: sources.stream_end,
        ..Page::default()
    };
    page.work.segments_skipped = sources.skipped;
    let matcher = filter.prepared();
    let want = request.limit + 1;
    let high = request.cursor.unwrap_or(u64::MAX);
    let mut spending = Spending::new(&request.budget);
    for source in sources.files.iter().rev() {
        let ranges: Vec<(u64, u64)> = source
            .ranges(filter.since, filter.until)
            .into_iter()
            .map(|(low, end)| (low, end.min(high)))
            .filter(|(low, end)| low < end)
            .collect();
        if ranges.is_empty() {
            continue;
        }
        page.work.files_scanned += 1;
        for &(low, end) in ranges.iter().rev() {
            let left = want - page.hits.len();
            let mut found = Vec::new();
            if let Some(reason) = spending.check() {
                page.stopped = Some(spending.stopped(reason, None));
                page.next_cursor = Some(end);
                return Ok(page);
            }
            let mut stop = None;
            page.work.scanned_bytes += if source.compressed {
                let read = newest_of(
                    source,
                    low,
                    end,
                    &matcher,
                    left,
                    &mut found,
                    &request.budget,
                )?;
                spending.meter.add(read);
                read
            } else {
                let mut keep = |position: u64, line: &[u8]| {
                    if matcher.matches(line) {
                        found.push(Hit {
                            position,
                            line: line.to_vec(),
                        });
                    }
                    if found.len() >= left {
                        return false;
                    }
                    match spending.examined(line) {
                        Some(reason) => {
                            stop = Some((reason, position));
                            false
                        }
                        None => true,
                    }
                };
                backward(&source.file, source.start, low, end, &mut keep)?
            };
            page.hits.extend(found);
            if page.hits.len() >= want {
                return Ok(page);
            }
            if request.budget.is_cancelled() {
                page.stopped = Some(spending.stopped(Stop::Cancelled, None));
                return Ok(page);
            }
            if let Some((reason, position)) = stop {
                // Everything from `position` up was examined: the next page goes on below.
                page.stopped = Some(spending.stopped(reason, None));
                page.next_cursor = Some(position);
                return Ok(page);
            }
        }
    }
    Ok(page)
}

/// A gzip range can only be read forward: keep the newest `want` matches in `[low, high)`
/// and return them newest first.
fn newest_of(
    source: &Source,
    low: u64,
    high: u64,
    matcher: &crate::filter::Matcher<'_>,
    want: usize,
    found: &mut Vec<Hit>,
    budget: &ScanBudget,
) -> io::Result<u64> {
    let mut ring = std::collections::VecDeque::new();
    let mut lines = 0u32;
    let read = source.for_each_line(low, high, &mut |position, line| {
        lines = lines.wrapping_add(1);
        if lines % ScanMeter::LINES_PER_LOOK == 0 && budget.is_cancelled() {
            return false;
        }
        if matcher.matches(line) {
            ring.push_back(Hit {
                position,
                line: line.to_vec(),
            });
            if ring.len() > want {
                ring.pop_front();
            }
        }
        true
    })?;
    found.extend(ring.into_iter().rev());
    Ok(read)
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
    let mut step = FIRST_STEP as u64;
    while pos > floor {
        let from = pos.saturating_sub(step).max(floor);
        step = (step * 2).min(CHUNK as u64);
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

#[cfg(test)]
mod tests;
