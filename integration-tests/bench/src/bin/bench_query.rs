//! Benchmarks the queries of the release `estuary` collector (issue 5) in one run and prints
//! a markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_query -- [--quick] [--keep]
//! ```
//!
//! It generates, in a temporary `LOG_DIR`, a 1 GiB log (100 MiB with `--quick`) of ~200-byte
//! entries one millisecond apart for one service, and for a second service the same amount
//! as 8 rotated segments (named as the collector names them, with their time ranges) plus
//! an active file. Then it starts `target/release/estuary serve` (found beside this
//! executable) on that directory and measures, each beside a baseline taken in the same run:
//!
//! - (a) `GET /logs/<service>?limit=100` on the 1 GiB log, 200 queries from one client,
//!   p50 and p99; baseline: `tail -n 100` of the same file;
//! - (b) `q=<rare token>&level=error&limit=10000`, which matches 0.1% of the lines (the rare
//!   lines have both), so the whole file is scanned: MB/s from the collector's
//!   `scanned_bytes` and the answer's wall-clock time; baseline: `LC_ALL=C grep -c <rare token>`
//!   on the same file, alternating with the query, 3 runs each, medians;
//! - (c) `since`/`until` over a window of 1% of the entries, straddling the boundary of the
//!   4th and 5th of the 8 segments: segments read (`files_scanned`) and skipped
//!   (`segments_skipped`), the first page (`limit=100`) and all pages (`limit=10000`,
//!   following `next_cursor`) timed; baseline: a plain read of the files the query must read;
//! - (d) `field.fields.order_id=<one id>` over (a)'s whole log beside `q=<that id>` (each
//!   matches one line), alternating, 3 runs each, medians of MB/s.
//!
//! The files are written and synced before the collector starts, so they are in the page
//! cache, as a log being written is. A full run takes about 30 s (`--quick`: a few seconds)
//! and needs ~2.2 GB of free disk. `--keep` leaves the data in place to profile queries by hand.

use std::path::PathBuf;

use anyhow::{ensure, Context};
use clap::Parser;
use tokio::runtime::Runtime;

use estuary_benches::baseline as shared_baseline;
use estuary_benches::http;
use estuary_benches::load;
use estuary_benches::query::baseline;
use estuary_benches::query::client::QueryClient;
use estuary_benches::query::dataset::{self, Part, RARE_TOKEN};
use estuary_benches::query::summary::{self, FieldScan, Results, Scan, Tail, Window};
use estuary_benches::report;
use estuary_benches::run::Run;
use estuary_test_support::{free_port, Collector};

/// Lines asked for in (a).
const TAIL_LIMIT: usize = 100;
/// Queries timed in (a).
const TAIL_RUNS: usize = 200;
/// `tail` processes timed for (a)'s baseline.
const TAIL_COMMAND_RUNS: usize = 50;
/// Runs of (b) and of its baseline, alternating.
const SCAN_RUNS: usize = 3;
/// The largest page the collector serves.
const PAGE_LIMIT: usize = 10_000;
/// Rotated segments of (c)'s service.
const SEGMENTS: usize = 8;
/// (c)'s window holds one entry in this many: 1%.
const WINDOW_SHARE: u64 = 100;
/// Runs of (c)'s first page, and of all its pages.
const WINDOW_RUNS: usize = 3;

const TAIL_SERVICE: &str = "bench-query";
const WINDOW_SERVICE: &str = "bench-window";

/// Benchmark the queries of the release `estuary` collector; prints a markdown table.
#[derive(Debug, Parser)]
struct Args {
    /// 100 MiB per service instead of 1 GiB.
    #[arg(long)]
    quick: bool,
    /// Where to create the temporary log directory (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Leave the generated log directory in place (its path is printed).
    #[arg(long)]
    keep: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    const MIB: u64 = 1024 * 1024;
    let size = if args.quick { 100 * MIB } else { 1024 * MIB };
    let run = Run::start("bench_query", args.dir.as_deref())?;
    let log_dir = run.log_dir()?;
    progress(&format!("generating {} twice", report::size(size)));
    let log = dataset::write_active(&log_dir, TAIL_SERVICE, size).context("generating (a)")?;
    let parts = dataset::write_segmented(&log_dir, WINDOW_SERVICE, size, SEGMENTS)
        .context("generating (c)")?;
    let collector = Collector::try_start_in(&log_dir, free_port(), &[], &[])?;
    let bench = Bench {
        runtime: &run.runtime,
        collector: &collector,
    };
    let results = Results {
        tail: bench.tail(&log)?,
        scan: bench.scan(&log)?,
        window: bench.window(&parts)?,
        field: bench.field(&log)?,
    };
    summary::print(&results, &run.machine());
    if args.keep {
        let kept = run.scratch.keep();
        eprintln!("bench_query: kept {}", kept.join("logs").display());
    }
    Ok(())
}

/// What every phase works with.
struct Bench<'a> {
    runtime: &'a Runtime,
    collector: &'a Collector,
}

impl Bench<'_> {
    fn client(&self) -> anyhow::Result<QueryClient> {
        self.runtime
            .block_on(QueryClient::connect(self.collector.addr()))
    }

    /// (a): the tail query, then `tail -n 100`.
    fn tail(&self, log: &Part) -> anyhow::Result<Tail> {
        progress("(a) GET /logs/<service>?limit=100, then `tail -n 100`");
        let target = format!("/logs/{TAIL_SERVICE}?limit={TAIL_LIMIT}");
        let check = self.runtime.block_on(self.client()?.page(&target))?;
        ensure!(
            check.count == TAIL_LIMIT as u64,
            "the tail query returned {}",
            check.count
        );
        let addr = self.collector.addr();
        let request = http::get(addr, &target);
        let tally = self
            .runtime
            .block_on(load::sequential(addr, request, 1, TAIL_RUNS));
        let command = shared_baseline::tail_command(&log.path, TAIL_LIMIT, TAIL_COMMAND_RUNS)
            .context("timing `tail`")?;
        Ok(Tail {
            log: log.clone(),
            tally,
            command,
        })
    }

    /// (b): the rare-token query and `grep -c`, alternating.
    fn scan(&self, log: &Part) -> anyhow::Result<Scan> {
        progress("(b) q=<rare token>&level=error over the whole log, beside `grep -c`");
        let target = format!("/logs/{TAIL_SERVICE}?q={RARE_TOKEN}&level=error&limit={PAGE_LIMIT}");
        let mut client = self.client()?;
        let expected = log.rare_lines();
        let mut scan = Scan {
            log: log.clone(),
            expected,
            grep: Vec::new(),
            walks: Vec::new(),
        };
        for _ in 0..SCAN_RUNS {
            let grep = baseline::grep_count(RARE_TOKEN, &log.path)?;
            ensure!(grep.count == expected, "grep counted {}", grep.count);
            let walk = self.runtime.block_on(client.walk(&target))?;
            ensure!(walk.count() == expected, "the query found {}", walk.count());
            scan.grep.push(grep);
            scan.walks.push(walk);
        }
        Ok(scan)
    }

    /// (d): a field filter and a text filter for the same single line, alternating.
    fn field(&self, log: &Part) -> anyhow::Result<FieldScan> {
        progress("(d) field.fields.order_id=<id> beside q=<id> over the whole log");
        let id = format!("o-{:08}", log.first + 7);
        let text = format!("/logs/{TAIL_SERVICE}?q=%22{id}%22&limit={PAGE_LIMIT}");
        let field = format!("/logs/{TAIL_SERVICE}?field.fields.order_id={id}&limit={PAGE_LIMIT}");
        let mut client = self.client()?;
        let mut scan = FieldScan {
            log: log.clone(),
            text: Vec::new(),
            field: Vec::new(),
        };
        for _ in 0..SCAN_RUNS {
            for (target, runs) in [(&text, &mut scan.text), (&field, &mut scan.field)] {
                let walk = self.runtime.block_on(client.walk(target))?;
                ensure!(walk.count() == 1, "{target} found {}", walk.count());
                runs.push(walk);
            }
        }
        Ok(scan)
    }

    /// (c): a window of 1% of the entries across the segment boundary in the middle.
    fn window(&self, parts: &[Part]) -> anyhow::Result<Window> {
        progress("(c) since/until over 1% of the entries, across 8 rotated segments");
        let total = parts.last().expect("an active file").end;
        let boundary = parts[SEGMENTS / 2].first;
        let entries = total / WINDOW_SHARE;
        let (first, end) = (boundary - entries / 2, boundary - entries / 2 + entries);
        let (since, until) = (dataset::rfc3339(first), dataset::rfc3339(end - 1));
        let range = format!("/logs/{WINDOW_SERVICE}?since={since}&until={until}");
        let mut client = self.client()?;
        let mut window = Window::new(parts, first, end, since, until);
        for _ in 0..WINDOW_RUNS {
            let page = self
                .runtime
                .block_on(client.page(&format!("{range}&limit=100")))?;
            window.first_pages.push(page);
            let walk = self
                .runtime
                .block_on(client.walk(&format!("{range}&limit={PAGE_LIMIT}")))?;
            ensure!(
                walk.count() == entries,
                "the window query found {}",
                walk.count()
            );
            window.walks.push(walk);
        }
        window.read_took = baseline::read_files(&window.must_read()).context("reading")?;
        Ok(window)
    }
}

fn progress(what: &str) {
    eprintln!("bench_query: {what}…");
}
