//! Counting without listing: histograms from the count index (reading only the blocks it
//! cannot answer for), and facets by reading the window newest first under a budget.

use std::io;
use std::path::Path;
use std::sync::RwLock;

use super::index::{Block, LEVELS};
use super::source::{self, Source};
use crate::filter::{EntryFacts, LineFilter, Severity};
use crate::query::{FacetRequest, Facets, Histogram, HistogramRequest, ScanMeter};
use crate::service::ServiceName;

/// Counts `service`'s entries per bucket and level, reading what the index cannot answer
/// for while `meter` allows (oldest first: a stopped histogram has counted the older part).
pub fn histogram(
    log_dir: &Path,
    service: &ServiceName,
    files: &RwLock<()>,
    request: &HistogramRequest,
    meter: &mut ScanMeter,
) -> io::Result<Histogram> {
    let (since, until) = (Some(request.since), Some(request.until));
    let sources = source::open_all(log_dir, service, files, since, until)?;
    let mut histogram = Histogram {
        buckets: vec![[0; 6]; request.buckets()],
        ..Histogram::default()
    };
    histogram.work.segments_skipped = sources.skipped;
    let rest = Rest::of(&request.filter);
    for source in &sources.files {
        if !meter.may_go_on() {
            break;
        }
        count_source(source, request, &rest, meter, &mut histogram)?;
    }
    histogram.stopped = meter.stopped();
    Ok(histogram)
}

/// The part of a filter beyond level and time, which only the entries themselves answer.
struct Rest {
    filter: LineFilter,
}

impl Rest {
    fn of(filter: &LineFilter) -> Self {
        Rest {
            filter: LineFilter {
                min_level: None,
                since: None,
                until: None,
                ..filter.clone()
            },
        }
    }

    /// Whether the index's counts answer it (no text, target or field filter).
    fn is_empty(&self) -> bool {
        self.filter.is_empty()
    }
}

fn count_source(
    source: &Source,
    request: &HistogramRequest,
    rest: &Rest,
    meter: &mut ScanMeter,
    histogram: &mut Histogram,
) -> io::Result<()> {
    let mut to_read: Vec<(u64, u64)> = Vec::new();
    for range in source.ranges(Some(request.since), Some(request.until)) {
        let blocks = source
            .blocks
            .iter()
            .filter(|b| b.start >= range.0 && b.end <= range.1);
        let mut from = range.0;
        for block in blocks {
            if rest.is_empty() && answers(block, request) {
                add_block(block, request, histogram);
                if from < block.start {
                    to_read.push((from, block.start));
                }
                from = block.end;
            }
        }
        if from < range.1 {
            to_read.push((from, range.1));
        }
    }
    if !to_read.is_empty() {
        histogram.work.files_scanned += 1;
    }
    let matcher = rest.filter.prepared();
    let min_level = request.filter.min_level;
    let mut count = |line: &[u8]| {
        // The text test on the raw bytes first: most lines of a `q` histogram fail it.
        if !matcher.matches(line) {
            return;
        }
        let facts = EntryFacts::of_line(line);
        let Some(ts) = facts.timestamp else { return };
        if !(request.since..=request.until).contains(&ts) {
            return;
        }
        let severity = Severity::of_slot(facts.level);
        if min_level.is_none_or(|min| severity >= min) {
            histogram.buckets[request.bucket_of(ts)][severity as usize] += 1;
        }
    };
    let mut read = 0;
    if source.enterable() {
        for (from, to) in to_read {
            if !meter.may_go_on() {
                break;
            }
            read += source.for_each_line(from, to, &mut |_, line| {
                count(line);
                meter.read(line.len() as u64 + 1)
            })?;
        }
    } else if let (Some(first), Some(last)) = (to_read.first(), to_read.last()) {
        // A gzip segment without member offsets: one pass, counting only the ranges.
        let (from, to) = (first.0, last.1);
        read = source.for_each_line(from, to, &mut |position, line| {
            if to_read.iter().any(|r| (r.0..r.1).contains(&position)) {
                count(line);
            }
            meter.read(line.len() as u64 + 1)
        })?;
    }
    histogram.work.scanned_bytes += read;
    Ok(())
}

/// Whether a block's counts can be used as they are: all its timed entries fall in the
/// window and in one bucket.
fn answers(block: &Block, request: &HistogramRequest) -> bool {
    let (first, last) = (i128::from(block.first), i128::from(block.last));
    if first > last {
        // Only untimed entries: they belong to no bucket.
        return true;
    }
    request.since <= first
        && last <= request.until
        && request.bucket_of(first) == request.bucket_of(last)
}

fn add_block(block: &Block, request: &HistogramRequest, histogram: &mut Histogram) {
    histogram.index_blocks += 1;
    if block.first > block.last {
        return;
    }
    let bucket = &mut histogram.buckets[request.bucket_of(i128::from(block.first))];
    for slot in 0..LEVELS {
        let severity = Severity::of_slot(slot as u8);
        if request.filter.min_level.is_none_or(|min| severity >= min) {
            bucket[severity as usize] += u64::from(block.counts[slot]);
        }
    }
}

/// Counts the values of a field among `service`'s matching entries, newest first, into
/// `facets`, while `meter` (shared by every service of one request) allows.
pub fn facets(
    log_dir: &Path,
    service: &ServiceName,
    files: &RwLock<()>,
    request: &FacetRequest,
    meter: &mut ScanMeter,
    facets: &mut Facets,
) -> io::Result<()> {
    let filter = &request.filter;
    let sources = source::open_all(log_dir, service, files, filter.since, filter.until)?;
    facets.work.segments_skipped += sources.skipped;
    let matcher = filter.prepared();
    for source in sources.files.iter().rev() {
        let ranges = source.ranges(filter.since, filter.until);
        if !ranges.is_empty() {
            facets.work.files_scanned += 1;
        }
        for &(from, to) in ranges.iter().rev() {
            if !meter.may_go_on() {
                break;
            }
            facets.work.scanned_bytes += source.for_each_line(from, to, &mut |_, line| {
                if matcher.matches(line) {
                    facets.entries += 1;
                    if let Some(value) = field_value(line, &request.field) {
                        *facets.values.entry(value).or_default() += 1;
                    }
                }
                meter.read(line.len() as u64 + 1)
            })?;
        }
    }
    if let Some(stop) = meter.stopped() {
        facets.stopped = Some(stop);
        facets.exhaustive = false;
    }
    Ok(())
}

/// The value at `path` in `line`: a string as itself, any other scalar as its JSON text;
/// objects and arrays are not values.
fn field_value(line: &[u8], path: &[String]) -> Option<String> {
    let entry: serde_json::Value = serde_json::from_slice(line).ok()?;
    let mut value = &entry;
    for key in path {
        value = value.get(key)?;
    }
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Object(_) | serde_json::Value::Array(_) => None,
        other => Some(other.to_string()),
    }
}
