//! What a `bench_counts` run measured, and how it is printed: the table (with the targets),
//! the details under it, and notes on the machine.

use std::path::Path;
use std::time::Duration;

use super::client::Counted;
use super::entries::{Spread, LINE_BYTES};
use crate::query::client::Walk;
use crate::report::{self, count, millis, Latencies, Row};
use crate::run::Machine;

/// (1) and (2)'s target for the index, judged on the p99.
const HISTOGRAM_TARGET: Duration = Duration::from_millis(20);
/// (3)'s target: the `q` histogram against the filtered query's scan.
const RARE_TARGET: f64 = 1.2;
/// (4)'s latency target, judged on the p50.
const RECENT_TARGET: Duration = Duration::from_millis(5);
/// (4)'s page: 100 lines.
const RECENT_PAGE: u64 = 100 * LINE_BYTES as u64;
/// (4)'s read target beyond the page: "about one 64 KiB block" — two at most.
const RECENT_SLACK: u64 = 2 * 64 * 1024;
/// (5)'s target: ingestion with the index against without.
const INGEST_TARGET: f64 = 0.95;

/// The data the queries read.
pub struct Data {
    /// Entries posted.
    pub entries: u64,
    /// Bytes as posted (and as stored before gzip).
    pub raw_bytes: u64,
    /// Bytes on disk: gzip segments and the active file.
    pub bytes: u64,
    /// Bytes of the `.idx` files.
    pub index_bytes: u64,
    /// Gzip segments.
    pub segments: usize,
    /// The active file's size.
    pub active_bytes: u64,
    /// `--rotate-bytes`.
    pub rotate_bytes: u64,
    /// Time to post everything.
    pub load_took: Duration,
    /// Time from the last 201 until every segment was gzipped and the index stopped growing.
    pub settle_took: Duration,
}

impl Data {
    /// Sizes `service`'s files under `log_dir`.
    ///
    /// # Errors
    ///
    /// When the folder cannot be listed.
    pub fn of(
        log_dir: &Path,
        service: &str,
        spread: Spread,
        rotate_bytes: u64,
        load_took: Duration,
        settle_took: Duration,
    ) -> std::io::Result<Self> {
        let active_bytes = std::fs::metadata(log_dir.join(format!("{service}.log")))?.len();
        let mut data = Data {
            entries: spread.entries,
            raw_bytes: spread.entries * LINE_BYTES as u64,
            bytes: active_bytes,
            index_bytes: 0,
            segments: 0,
            active_bytes,
            rotate_bytes,
            load_took,
            settle_took,
        };
        for entry in std::fs::read_dir(log_dir.join("segments").join(service))?.flatten() {
            let (name, len) = (entry.file_name(), entry.metadata()?.len());
            let name = name.to_string_lossy();
            if name.ends_with(".idx") {
                data.index_bytes += len;
            } else if name.ends_with(".log.gz") {
                data.segments += 1;
                data.bytes += len;
            }
        }
        Ok(data)
    }
}

/// A histogram's answer and its timed runs.
pub struct Timed {
    /// The (untimed) first answer; every timed one was the same.
    pub answer: Counted,
    /// The timed runs.
    pub latencies: Latencies,
}

/// (4): the last 10 minutes, 100 lines.
#[derive(Default)]
pub struct Recent {
    /// Newest first (the default order).
    pub newest: Latencies,
    /// `order=asc`.
    pub oldest: Latencies,
    /// `scanned_bytes` of each newest-first run.
    pub newest_scanned: Vec<u64>,
    /// `scanned_bytes` of each `order=asc` run.
    pub oldest_scanned: Vec<u64>,
}

/// (1) to (4) on the collector with the count index.
pub struct Side {
    /// (1).
    pub all: Timed,
    /// (1) by a full scan (`q` matching every line).
    pub scan_all: Timed,
    /// (2).
    pub errors: Timed,
    /// (2) by a full scan.
    pub scan_errors: Timed,
    /// (3): the `q` histogram's runs.
    pub rare: Vec<Counted>,
    /// (3): `GET /logs` with the same `q`, all pages, alternating with the histogram.
    pub rare_logs: Vec<Walk>,
    /// (4).
    pub recent: Recent,
}

/// One ingestion phase.
pub struct Throughput {
    /// Entries acknowledged per second in the window.
    pub per_sec: f64,
    /// Errors, warm-up included.
    pub errors: u64,
    /// The first of them.
    pub first_error: Option<String>,
}

/// (5): every phase, by index on/off and kind.
#[derive(Default)]
pub struct Ingest {
    /// (index on, single-entry) phases, and so on.
    phases: Vec<(bool, bool, Throughput)>,
}

impl Ingest {
    /// Adds a phase.
    pub fn record(&mut self, index: bool, single: bool, throughput: Throughput) {
        self.phases.push((index, single, throughput));
    }

    fn runs(&self, index: bool, single: bool) -> impl Iterator<Item = &Throughput> {
        self.phases
            .iter()
            .filter(move |(i, s, _)| *i == index && *s == single)
            .map(|(_, _, t)| t)
    }

    /// The mean rate of the matching phases.
    fn mean(&self, index: bool, single: bool) -> f64 {
        let rates: Vec<f64> = self.runs(index, single).map(|t| t.per_sec).collect();
        rates.iter().sum::<f64>() / rates.len().max(1) as f64
    }

    fn errors(&self) -> u64 {
        self.phases.iter().map(|(_, _, t)| t.errors).sum()
    }
}

/// Everything a run measured.
pub struct Results {
    /// The data.
    pub data: Data,
    /// (1)'s counts per bucket, from the entries posted.
    pub expected_all: Vec<u64>,
    /// (2)'s.
    pub expected_errors: Vec<u64>,
    /// Entries with the rare token posted.
    pub expected_rare: u64,
    /// (1) to (4) with the index.
    pub index: Side,
    /// (4) on a collector with `--count-index false`, the `.idx` files deleted.
    pub no_index: Recent,
    /// `.idx` files deleted before starting it.
    pub removed: usize,
    /// `.idx` files there after its phase (which it should not have written).
    pub idx_after: usize,
    /// (5).
    pub ingest: Ingest,
}

/// Prints the table, the details, and the machine's note.
pub fn print(results: &Results, machine: &Machine) {
    let rows = [
        histogram_row(
            "(1) `GET /histogram?since=24h&buckets=100`",
            &results.index.all,
            &results.index.scan_all,
            &results.expected_all,
        ),
        histogram_row(
            "(2) the same with `level=error`",
            &results.index.errors,
            &results.index.scan_errors,
            &results.expected_errors,
        ),
        rare_row(results),
        recent_row(results),
        ingest_row(&results.ingest, true),
        ingest_row(&results.ingest, false),
    ];
    println!("{}", report::table(&rows));
    print_details(results);
    println!(
        "{}",
        machine.note("The client shares these cores with the collector.")
    );
}

/// Whether an answer's buckets are the expected ones (an answer may have one more bucket,
/// empty, when the window's end crossed a bucket boundary since the data's end).
fn matches(answer: &Counted, expected: &[u64]) -> bool {
    let (head, tail) = answer
        .per_bucket
        .split_at(expected.len().min(answer.per_bucket.len()));
    head == expected && tail.iter().all(|n| *n == 0)
}

fn agree(index: &Timed, scan: &Timed, expected: &[u64]) -> bool {
    matches(&index.answer, expected) && matches(&scan.answer, expected)
}

fn histogram_row(metric: &str, index: &Timed, scan: &Timed, expected: &[u64]) -> Row {
    let agrees = agree(index, scan, expected);
    Row {
        metric: format!(
            "{metric}, {} entries, p50 / p99 ({} runs)",
            count(expected.iter().sum::<u64>() as f64),
            index.latencies.len()
        ),
        estuary: format!(
            "**{}** ({} index blocks, {} read); totals {}",
            index.latencies.p50_p99(),
            count(index.answer.index_blocks as f64),
            report::size(index.answer.scanned_bytes),
            if agrees { "agree" } else { "**differ**" }
        ),
        baseline: format!(
            "full scan (same query + `q=orders`, on every line): {} ({} read)",
            scan.latencies.p50_p99(),
            report::size(scan.answer.scanned_bytes)
        ),
        target: "≤ 20 ms (judged on p99)",
        met: Some(agrees && index.latencies.percentile(99.0) <= HISTOGRAM_TARGET),
        peers: "—",
    }
}

fn median_of(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn rare_row(results: &Results) -> Row {
    let side = &results.index;
    let histogram = median_of(side.rare.iter().map(|c| c.took).collect());
    let logs = median_of(side.rare_logs.iter().map(Walk::took).collect());
    let ratio = histogram.as_secs_f64() / logs.as_secs_f64().max(1e-9);
    let expected = results.expected_rare;
    let counted = side.rare.iter().all(|c| c.total == expected)
        && side.rare_logs.iter().all(|w| w.count() == expected);
    let read = |bytes: u64| report::size(bytes);
    Row {
        metric: format!(
            "(3) the same with `q=<rare token>` ({} matches), medians of {}",
            count(expected as f64),
            side.rare.len()
        ),
        estuary: format!(
            "{} (**{ratio:.2}×**; {} read){}",
            millis(histogram),
            read(side.rare.first().map_or(0, |c| c.scanned_bytes)),
            if counted { "" } else { "; **counts differ**" }
        ),
        baseline: format!(
            "`GET /logs/S?q=<rare token>&since=24h&limit=10000`: {} ({} read)",
            millis(logs),
            read(side.rare_logs.first().map_or(0, Walk::scanned_bytes))
        ),
        target: "≤ 1.2×",
        met: Some(counted && ratio <= RARE_TARGET),
        peers: "—",
    }
}

fn max(values: &[u64]) -> u64 {
    values.iter().copied().max().unwrap_or_default()
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", count(bytes as f64 / 1024.0))
}

fn recent_row(results: &Results) -> Row {
    let (index, scan) = (&results.index.recent, &results.no_index);
    let p50 = index.newest.percentile(50.0);
    let scanned = max(&index.newest_scanned).max(max(&index.oldest_scanned));
    Row {
        metric: format!(
            "(4) `GET /logs/S?since=10m&limit=100` (a {} page), p50, newest first / `order=asc` ({} runs)",
            kib(RECENT_PAGE),
            index.newest.len()
        ),
        estuary: format!(
            "**{}** / {}; read {} / {}",
            millis(p50),
            millis(index.oldest.percentile(50.0)),
            kib(max(&index.newest_scanned)),
            kib(max(&index.oldest_scanned)),
        ),
        baseline: format!(
            "`--count-index false`, `.idx` deleted: {} / {}; read {} / {}",
            millis(scan.newest.percentile(50.0)),
            millis(scan.oldest.percentile(50.0)),
            kib(max(&scan.newest_scanned)),
            kib(max(&scan.oldest_scanned)),
        ),
        target: "≤ 5 ms; read ≤ the page + about one 64 KiB block",
        met: Some(p50 <= RECENT_TARGET && scanned <= RECENT_PAGE + RECENT_SLACK),
        peers: "—",
    }
}

fn ingest_row(ingest: &Ingest, single: bool) -> Row {
    let (with, without) = (ingest.mean(true, single), ingest.mean(false, single));
    let ratio = with / without.max(1e-9);
    let (metric, unit) = if single {
        ("(5) single-entry `POST /logs`, 64 connections", "req/s")
    } else {
        (
            "(5′) NDJSON `POST /logs`, 1,000 entries per request, 4 connections",
            "entries/s",
        )
    };
    Row {
        metric: format!("{metric}, index on vs off, alternating, no rotation"),
        estuary: format!("{} {unit} (**{ratio:.2}×**)", count(with)),
        baseline: format!("`--count-index false`: {} {unit}", count(without)),
        target: "≥ 0.95×",
        met: Some(ingest.errors() == 0 && ratio >= INGEST_TARGET),
        peers: "—",
    }
}

fn print_details(results: &Results) {
    let data = &results.data;
    println!(
        "Data: {} entries of {LINE_BYTES} bytes ({}) posted as NDJSON batches of 1,000 over 4 \
         connections in {:.1} s ({} entries/s, index on), timestamps spread over the 24 h before \
         the run began; stored as {} gzip segments (`--rotate-bytes {}`) and a {} active file, \
         {} on disk, count index {} ({:.3}% of the data as posted). Every segment gzipped and \
         indexed {:.1} s after the last 201.",
        count(data.entries as f64),
        report::size(data.raw_bytes),
        data.load_took.as_secs_f64(),
        count(data.entries as f64 / data.load_took.as_secs_f64().max(1e-9)),
        data.segments,
        data.rotate_bytes,
        report::size(data.active_bytes),
        report::size(data.bytes),
        report::size(data.index_bytes),
        data.index_bytes as f64 * 100.0 / data.raw_bytes.max(1) as f64,
        data.settle_took.as_secs_f64(),
    );
    for (name, index, scan, expected) in [
        (
            "(1)",
            &results.index.all,
            &results.index.scan_all,
            &results.expected_all,
        ),
        (
            "(2)",
            &results.index.errors,
            &results.index.scan_errors,
            &results.expected_errors,
        ),
    ] {
        println!(
            "{name}: index total {} in {} buckets of {} s ({} index blocks, {} files read, {} \
             read); full scan total {} ({} index blocks, {} files, {} read); expected {}; \
             bucket by bucket: index {}, full scan {}.",
            count(index.answer.total as f64),
            index.answer.buckets,
            index.answer.bucket_ns / 1_000_000_000,
            count(index.answer.index_blocks as f64),
            index.answer.files_scanned,
            report::size(index.answer.scanned_bytes),
            count(scan.answer.total as f64),
            count(scan.answer.index_blocks as f64),
            scan.answer.files_scanned,
            report::size(scan.answer.scanned_bytes),
            count(expected.iter().sum::<u64>() as f64),
            if matches(&index.answer, expected) {
                "equal"
            } else {
                "DIFFERENT"
            },
            if matches(&scan.answer, expected) {
                "equal"
            } else {
                "DIFFERENT"
            },
        );
    }
    let rare: Vec<String> = results
        .index
        .rare
        .iter()
        .zip(&results.index.rare_logs)
        .map(|(h, w)| format!("{} / {}", millis(h.took), millis(w.took())))
        .collect();
    println!(
        "(3) runs, histogram / GET /logs: {}; pages of GET /logs: {}.",
        rare.join(", "),
        results.index.rare_logs.first().map_or(0, |w| w.pages.len())
    );
    let (index, scan) = (&results.index.recent, &results.no_index);
    println!(
        "(4) p50 / p99, newest first: {} (no index {}); order=asc: {} (no index {}). The \
         collector with `--count-index false` was started after deleting {} `.idx` files; \
         after its phase there were {} again.",
        index.newest.p50_p99(),
        scan.newest.p50_p99(),
        index.oldest.p50_p99(),
        scan.oldest.p50_p99(),
        results.removed,
        results.idx_after,
    );
    let phases: Vec<String> = results
        .ingest
        .phases
        .iter()
        .map(|(index, single, t)| {
            format!(
                "{} {}: {}",
                if *single { "single" } else { "NDJSON" },
                if *index { "on" } else { "off" },
                count(t.per_sec)
            )
        })
        .collect();
    println!("(5) phases in order: {}.", phases.join(", "));
    if let Some(error) = results
        .ingest
        .phases
        .iter()
        .find_map(|(_, _, t)| t.first_error.as_ref())
    {
        println!("(5) first error: {error}");
    }
}
