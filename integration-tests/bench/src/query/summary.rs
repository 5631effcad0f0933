//! What a `bench_query` run measured, and how it is printed: the table (with the issue's
//! targets and the peers' figures from `PEERS.md`), the details under it, and notes on the
//! machine.

use std::path::PathBuf;
use std::time::Duration;

use super::baseline::GrepRun;
use super::client::{Page, Walk};
use super::dataset::Part;
use crate::load::Tally;
use crate::report::{self, count, millis, Latencies, Row};
use crate::run::Machine;

/// (a)'s target, judged on the p99.
const TAIL_TARGET: Duration = Duration::from_millis(5);
/// (b)'s target: this share of grep's throughput.
const SCAN_TARGET: f64 = 0.5;
/// (d)'s target: a field filter scans at this share of a text filter's speed.
const FIELD_TARGET: f64 = 0.5;

/// (d): one field filter and one text filter over the same log, each matching one line.
pub struct FieldScan {
    /// The log scanned.
    pub log: Part,
    /// The text filter's runs.
    pub text: Vec<Walk>,
    /// The field filter's runs.
    pub field: Vec<Walk>,
}

impl FieldScan {
    fn median_mb_per_sec(walks: &[Walk]) -> f64 {
        let mut speeds: Vec<f64> = walks
            .iter()
            .map(|w| w.scanned_bytes() as f64 / 1e6 / w.took().as_secs_f64().max(1e-9))
            .collect();
        speeds.sort_by(f64::total_cmp);
        speeds.get(speeds.len() / 2).copied().unwrap_or_default()
    }
}

/// (a): the tail query and `tail -n 100`.
pub struct Tail {
    /// The log queried.
    pub log: Part,
    /// The queries.
    pub tally: Tally,
    /// The baseline's runs.
    pub command: Latencies,
}

/// (b): the rare-token query and `grep -c`.
pub struct Scan {
    /// The log scanned.
    pub log: Part,
    /// Lines that match.
    pub expected: u64,
    /// `grep -c`'s runs.
    pub grep: Vec<GrepRun>,
    /// The query's runs.
    pub walks: Vec<Walk>,
}

impl Scan {
    /// The median run of the query, in MB/s of `scanned_bytes`.
    fn query_mb_per_sec(&self) -> f64 {
        median(
            self.walks
                .iter()
                .map(|w| mb_per_sec(w.scanned_bytes(), w.took()))
                .collect(),
        )
    }

    /// The median run of `grep -c`, in MB/s of the file's size.
    fn grep_mb_per_sec(&self) -> f64 {
        median(
            self.grep
                .iter()
                .map(|g| mb_per_sec(self.log.bytes, g.took))
                .collect(),
        )
    }
}

/// (c): the time window across segments.
pub struct Window {
    /// The segments, oldest first, then the active file.
    pub parts: Vec<Part>,
    /// The first `seq` in the window.
    pub first: u64,
    /// One past the last.
    pub end: u64,
    /// The `since` parameter.
    pub since: String,
    /// The `until` parameter.
    pub until: String,
    /// Runs of the first page, `limit=100`.
    pub first_pages: Vec<Page>,
    /// Runs of all pages, `limit=10000`.
    pub walks: Vec<Walk>,
    /// The baseline: reading what the query must read.
    pub read_took: Duration,
}

impl Window {
    /// A window over `[first, end)` of `parts`, not yet measured.
    pub fn new(parts: &[Part], first: u64, end: u64, since: String, until: String) -> Self {
        Window {
            parts: parts.to_vec(),
            first,
            end,
            since,
            until,
            first_pages: Vec::new(),
            walks: Vec::new(),
            read_took: Duration::ZERO,
        }
    }

    fn segments(&self) -> &[Part] {
        &self.parts[..self.parts.len() - 1]
    }

    fn active(&self) -> &Part {
        self.parts.last().expect("an active file")
    }

    /// The segments holding entries of the window.
    fn overlapping(&self) -> Vec<&Part> {
        self.segments()
            .iter()
            .filter(|p| p.overlaps(self.first, self.end))
            .collect()
    }

    /// What a query must read: the overlapping segments, and the active file, whose time
    /// range is not in its name.
    pub fn must_read(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.overlapping().iter().map(|p| p.path.clone()).collect();
        paths.push(self.active().path.clone());
        paths
    }

    fn must_read_bytes(&self) -> u64 {
        let overlapping: u64 = self.overlapping().iter().map(|p| p.bytes).sum();
        overlapping + self.active().bytes
    }

    /// Whether every page skipped exactly the segments outside the window and read no more
    /// files than the overlapping segments and the active file.
    fn touched_only_overlapping(&self) -> bool {
        let overlapping = self.overlapping().len() as u64;
        let outside = self.segments().len() as u64 - overlapping;
        self.pages()
            .all(|p| p.segments_skipped == outside && p.files_scanned <= overlapping + 1)
    }

    fn pages(&self) -> impl Iterator<Item = &Page> {
        self.first_pages
            .iter()
            .chain(self.walks.iter().flat_map(|w| &w.pages))
    }

    fn median_walk(&self) -> &Walk {
        let mut walks: Vec<&Walk> = self.walks.iter().collect();
        walks.sort_by_key(|w| w.took());
        walks[walks.len() / 2]
    }

    fn median_first_page(&self) -> Duration {
        let mut took: Vec<Duration> = self.first_pages.iter().map(|p| p.took).collect();
        took.sort();
        took[took.len() / 2]
    }
}

/// Everything a run measured.
pub struct Results {
    /// (a).
    pub tail: Tail,
    /// (b).
    pub scan: Scan,
    /// (c).
    pub window: Window,
    /// (d).
    pub field: FieldScan,
}

/// Prints the table, the details and the machine notes as markdown.
pub fn print(results: &Results, machine: &Machine) {
    let rows = [
        tail_row(&results.tail),
        scan_row(&results.scan),
        window_row(&results.window),
        field_row(&results.field),
    ];
    println!("{}", report::table(&rows));
    print_details(results);
    println!(
        "{}",
        machine.note("The client shares these cores with the collector.")
    );
}

fn tail_row(tail: &Tail) -> Row {
    let latencies = &tail.tally.latencies;
    Row {
        metric: format!(
            "(a) `GET /logs/<service>?limit=100` on a {} log ({} lines), p50 / p99, 1 client",
            report::size(tail.log.bytes),
            count(tail.log.end as f64)
        ),
        estuary: latencies.p50_p99(),
        baseline: format!("`tail -n 100`: {}", tail.command.p50_p99()),
        target: "≤ 5 ms (judged on p99)",
        met: Some(tail.tally.errors == 0 && latencies.percentile(99.0) <= TAIL_TARGET),
        peers: "Flask ~200 ms alone, ~900 ms p50 under 4 clients (200 MB log)",
    }
}

fn scan_row(scan: &Scan) -> Row {
    let (ours, grep) = (scan.query_mb_per_sec(), scan.grep_mb_per_sec());
    let ratio = ours / grep.max(1e-9);
    Row {
        metric: format!(
            "(b) `q=<rare token>&level=error` matching 0.1% of the lines ({}), the whole {} log scanned",
            count(scan.expected as f64),
            report::size(scan.log.bytes)
        ),
        estuary: format!("{ours:.0} MB/s (**{ratio:.2}×** grep)"),
        baseline: format!("`grep -c <rare token>`: {grep:.0} MB/s"),
        target: "≥ 0.5× grep",
        met: Some(ratio >= SCAN_TARGET),
        peers: "—",
    }
}

fn field_row(field: &FieldScan) -> Row {
    let text = FieldScan::median_mb_per_sec(&field.text);
    let ours = FieldScan::median_mb_per_sec(&field.field);
    let ratio = ours / text.max(1e-9);
    Row {
        metric: format!(
            "(d) `field.fields.order_id=<one id>` over the whole {} log, beside `q=<that id>`",
            report::size(field.log.bytes)
        ),
        estuary: format!("{ours:.0} MB/s (**{ratio:.2}×** the text filter)"),
        baseline: format!("`q=<that id>`: {text:.0} MB/s"),
        target: "≥ 0.5× the text filter",
        met: Some(ratio >= FIELD_TARGET),
        peers: "—",
    }
}

fn window_row(window: &Window) -> Row {
    let overlapping = window.overlapping().len();
    let segments = window.segments().len();
    let walk = window.median_walk();
    let fewest_skipped = window.pages().map(|p| p.segments_skipped).min();
    let read = if window.touched_only_overlapping() {
        format!("so only the {overlapping} overlapping ones read")
    } else {
        "**so more than the overlapping ones read**".to_owned()
    };
    Row {
        metric: format!(
            "(c) `since`/`until` over 1% of the entries ({}), across {segments} rotated segments \
             (the window straddles {overlapping}) and the active file",
            count((window.end - window.first) as f64)
        ),
        estuary: format!(
            "at least {} of {segments} segments skipped on every page, {read}, plus the whole \
             active file ({}, no time range known) on the first page; all pages ({} × `limit=10000`): {}; first page of 100: {}",
            fewest_skipped.unwrap_or_default(),
            report::size(window.active().bytes),
            walk.pages.len(),
            millis(walk.took()),
            millis(window.median_first_page())
        ),
        baseline: format!(
            "plain read of those {} files ({}): {}",
            overlapping + 1,
            report::size(window.must_read_bytes()),
            millis(window.read_took)
        ),
        target: "touches only the overlapping segments",
        met: Some(window.touched_only_overlapping()),
        peers: "—",
    }
}

fn print_details(results: &Results) {
    let (tail, scan, window) = (&results.tail, &results.scan, &results.window);
    println!("Details:\n");
    println!(
        "- (a) {} queries after one warm-up, {} errors; `tail -n 100` (process start included) run {} times.",
        tail.tally.latencies.len(),
        tail.tally.errors,
        tail.command.len()
    );
    for (walk, grep) in scan.walks.iter().zip(&scan.grep) {
        println!(
            "- (b) query: {} in {} ({:.0} MB/s) in {} page(s), {} matches; `grep -c`: {} in {} ({:.0} MB/s), count {}.",
            report::size(walk.scanned_bytes()),
            millis(walk.took()),
            mb_per_sec(walk.scanned_bytes(), walk.took()),
            walk.pages.len(),
            count(walk.count() as f64),
            report::size(scan.log.bytes),
            millis(grep.took),
            mb_per_sec(scan.log.bytes, grep.took),
            grep.count
        );
    }
    println!(
        "- (c) window `since={}` `until={}`; segments of {} each, their time ranges in their names.",
        window.since,
        window.until,
        report::size(window.segments()[0].bytes)
    );
    for page in &window.first_pages {
        println!("  - first page: {}", page_note(page));
    }
    for walk in &window.walks {
        let pages: Vec<String> = walk.pages.iter().map(page_note).collect();
        println!(
            "  - all pages, {} in {}: {}",
            count(walk.count() as f64),
            millis(walk.took()),
            pages.join("; ")
        );
    }
}

fn page_note(page: &Page) -> String {
    format!(
        "{} entries, {} read from {} file(s), {} segments skipped, {}",
        count(page.count as f64),
        report::size(page.scanned_bytes),
        page.files_scanned,
        page.segments_skipped,
        millis(page.took)
    )
}

/// `bytes` over `took`, in MB (10⁶ bytes) per second.
fn mb_per_sec(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64().max(1e-9)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
