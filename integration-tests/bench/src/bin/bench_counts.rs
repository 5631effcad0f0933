//! Benchmarks the count index of the release `estuary` collector (`GET /histogram`, time
//! windows read by block, and what keeping the index costs ingestion) in one run and prints
//! a markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_counts -- [--quick] [--keep]
//! ```
//!
//! It starts `target/release/estuary serve --rotate-bytes 268435456` (32 MiB with
//! `--quick`) on a temporary `LOG_DIR` and posts one service's 10,000,000 ~200-byte entries
//! (~2 GB; `--quick`: 1,000,000) as NDJSON batches of 1,000 over 4 connections, their
//! timestamps spread evenly over the 24 hours before the run began, in order. Rotation
//! leaves gzip segments, each with its count index, and an active file. Once every segment
//! is finished and the index stops growing, it measures:
//!
//! - (1) `GET /histogram?service=S&since=<24 h before the data's end>&buckets=100`, 20
//!   runs, p50 and p99; baseline: the same histogram by a full scan, on the same collector,
//!   with `&q=orders` (every line holds it, so no count changes but every line is read), 3
//!   runs; both answers must equal, bucket by bucket, the counts computed from the entries
//!   posted. (A second collector with `--count-index false` on the same files after deleting
//!   the `.idx` files is no full scan: it rebuilds the segments' indexes at start-up and
//!   uses them; the run reports how many it recreated.)
//! - (2) the same with `&level=error`;
//! - (3) the same with `&q=<rare token>` (0.1% of the lines), beside
//!   `GET /logs/S?q=<rare token>&since=…&limit=10000` (the filtered query's scan of the
//!   same window), alternating, 3 runs each, medians;
//! - (4) `GET /logs/S?since=10m&limit=100` (the 10 minutes before the data's end), p50 and
//!   `scanned_bytes`, newest first (the default) and `order=asc`; baseline: the collector
//!   without the index;
//! - (5) ingestion with the index vs `--count-index false`, two fresh collectors, alternating:
//!   single-entry `POST /logs` over 64 connections and NDJSON batches of 1,000 over 4. Both
//!   run with `--rotate-bytes 0`: with `--count-index false` a rotation still builds the
//!   segment's index (reading it back), which would be measured instead of the index.
//!
//! Windows are given as RFC 3339 instants fixed from the data's end, so every query of the
//! run covers the same entries however long the run takes. A full run takes a few minutes
//! (the segments are gzipped in the background) and needs ~3 GB of free disk.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use tokio::runtime::Runtime;

use estuary_benches::counts::client::{self, Counted};
use estuary_benches::counts::entries::{self, Spread, RARE_TOKEN};
use estuary_benches::counts::summary::{
    self, Data, Ingest, Recent, Results, Side, Throughput, Timed,
};
use estuary_benches::http::{self, Conn, Request};
use estuary_benches::load::{self, Window};
use estuary_benches::query::client::QueryClient;
use estuary_benches::report::{self, Latencies};
use estuary_benches::run::Run;
use estuary_benches::workload;
use estuary_test_support::{free_port, Collector};

const SERVICE: &str = "bench-counts";
/// Text every line holds (its target is `shop::orders`): a `q` that changes no count but
/// makes the collector read every line, the full scan the index is measured against.
const EVERY_LINE: &str = "orders";
/// Entries per NDJSON request while loading, and in (5).
const BATCH: u64 = 1_000;
/// Connections posting the data, and in (5)'s batches.
const BATCH_CONNECTIONS: usize = 4;
/// Connections of (5)'s single-entry phase, as in `bench_collector`.
const SINGLE_CONNECTIONS: usize = 64;
/// Timed runs of the index's histograms and of (4).
const INDEX_RUNS: usize = 20;
/// Runs of the full scans: the histograms without the index, and (3).
const SCAN_RUNS: usize = 3;
/// The largest page the collector serves.
const PAGE_LIMIT: usize = 10_000;
/// Rounds of (5), each with both collectors in turn.
const INGEST_ROUNDS: usize = 3;
/// How long to wait for the segments to be finished and indexed.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Benchmark the count index of the release `estuary` collector; prints a markdown table.
#[derive(Debug, Parser)]
struct Args {
    /// 1,000,000 entries, 32 MiB segments, 2 s ingestion phases.
    #[arg(long)]
    quick: bool,
    /// Entries to post (default 10,000,000; 1,000,000 with `--quick`).
    #[arg(long)]
    entries: Option<u64>,
    /// Where to create the temporary log directory (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Leave the log directory in place (its path is printed).
    #[arg(long)]
    keep: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    const MIB: u64 = 1024 * 1024;
    let entries = args
        .entries
        .unwrap_or(if args.quick { 1_000_000 } else { 10_000_000 });
    let rotate = if args.quick { 32 * MIB } else { 256 * MIB };
    let measure = Duration::from_secs(if args.quick { 2 } else { 4 });
    let run = Run::start("bench_counts", args.dir.as_deref())?;
    let log_dir = run.log_dir()?;
    let spread = Spread::ending_now(entries);

    let mut collector = Collector::try_start_in(
        &log_dir,
        free_port(),
        &["--rotate-bytes", &rotate.to_string()],
        &[],
    )?;
    progress(&format!(
        "posting {} entries over 24 h of entry time, {BATCH} per request, {BATCH_CONNECTIONS} connections",
        report::count(entries as f64)
    ));
    let load_took = run.runtime.block_on(client::post_all(
        collector.addr(),
        SERVICE,
        spread,
        BATCH,
        BATCH_CONNECTIONS,
    ))?;
    progress("waiting for every segment to be gzipped and indexed");
    let began = Instant::now();
    wait_finished(&log_dir)?;
    let queries = Queries::new(spread);
    let settled = settle_index(&run.runtime, collector.addr(), &queries.all)?;
    let data = Data::of(
        &log_dir,
        SERVICE,
        spread,
        rotate,
        load_took,
        began.elapsed(),
    )?;
    progress(&format!(
        "{} in {} segments + active file, index {} ({} blocks)",
        report::size(data.bytes),
        data.segments,
        report::size(data.index_bytes),
        settled
    ));

    let index = measure_side(&run.runtime, collector.addr(), &queries)?;
    collector.terminate();
    let removed = remove_index(&log_dir)?;
    progress(&format!(
        "{removed} .idx files removed; (4) on a collector with --count-index false"
    ));
    let (no_index, idx_after) = {
        let collector =
            Collector::try_start_in(&log_dir, free_port(), &["--count-index", "false"], &[])?;
        let recent = run
            .runtime
            .block_on(recent(collector.addr(), &queries, INDEX_RUNS))?;
        // The segments' indexes it rebuilt at start-up although told not to keep one.
        (recent, count_index_files(&log_dir)?)
    };
    let (since, bucket_ns) = (spread.end - entries::DAY_NS, index.all.answer.bucket_ns);
    let ingest = ingest(&run.runtime, run.scratch.path(), measure)?;
    let results = Results {
        data,
        expected_all: spread.per_bucket(since, bucket_ns, false),
        expected_errors: spread.per_bucket(since, bucket_ns, true),
        expected_rare: spread.rare(),
        index,
        no_index,
        removed,
        idx_after,
        ingest,
    };
    summary::print(&results, &run.machine());
    if args.keep {
        let kept = run.scratch.keep();
        eprintln!("bench_counts: kept {}", kept.join("logs").display());
    }
    Ok(())
}

/// The queries of (1) to (4), their windows fixed from the data's end.
struct Queries {
    all: String,
    scan_all: String,
    errors: String,
    scan_errors: String,
    rare: String,
    rare_logs: String,
    recent: String,
    recent_asc: String,
}

impl Queries {
    fn new(spread: Spread) -> Self {
        let since = spread.day_before();
        let histogram = format!("/histogram?service={SERVICE}&since={since}&buckets=100");
        let recent_since = entries::rfc3339(spread.end - 10 * 60 * 1_000_000_000);
        let recent = format!("/logs/{SERVICE}?since={recent_since}&limit=100");
        Queries {
            scan_all: format!("{histogram}&q={EVERY_LINE}"),
            errors: format!("{histogram}&level=error"),
            scan_errors: format!("{histogram}&level=error&q={EVERY_LINE}"),
            rare: format!("{histogram}&q={RARE_TOKEN}"),
            rare_logs: format!("/logs/{SERVICE}?q={RARE_TOKEN}&since={since}&limit={PAGE_LIMIT}"),
            recent_asc: format!("{recent}&order=asc"),
            all: histogram,
            recent,
        }
    }
}

/// (1) to (4) against the collector with the count index, the full scans included.
fn measure_side(runtime: &Runtime, addr: SocketAddr, queries: &Queries) -> anyhow::Result<Side> {
    runtime.block_on(async {
        let mut conn = Conn::connect(addr).await?;
        progress(&format!(
            "(1) histogram, 100 buckets over 24 h, {INDEX_RUNS} runs"
        ));
        let all = timed(&mut conn, addr, &queries.all, INDEX_RUNS).await?;
        progress(&format!(
            "(1) the same by a full scan (q matching every line), {SCAN_RUNS} runs"
        ));
        let scan_all = timed(&mut conn, addr, &queries.scan_all, SCAN_RUNS).await?;
        progress(&format!(
            "(2) histogram with level=error, {INDEX_RUNS} runs"
        ));
        let errors = timed(&mut conn, addr, &queries.errors, INDEX_RUNS).await?;
        progress(&format!("(2) the same by a full scan, {SCAN_RUNS} runs"));
        let scan_errors = timed(&mut conn, addr, &queries.scan_errors, SCAN_RUNS).await?;
        progress("(3) histogram with q=<rare token>, beside GET /logs with the same q");
        let (mut rare, mut rare_logs) = (Vec::new(), Vec::new());
        let mut logs = QueryClient::connect(addr).await?;
        for _ in 0..SCAN_RUNS {
            rare.push(client::histogram(&mut conn, addr, &queries.rare).await?);
            rare_logs.push(logs.walk(&queries.rare_logs).await?);
        }
        progress("(4) GET /logs since 10 min, limit 100");
        let recent = recent(addr, queries, INDEX_RUNS).await?;
        Ok(Side {
            all,
            scan_all,
            errors,
            scan_errors,
            rare,
            rare_logs,
            recent,
        })
    })
}

/// (4): `runs` timed runs of each order after an untimed one.
async fn recent(addr: SocketAddr, queries: &Queries, runs: usize) -> anyhow::Result<Recent> {
    let mut logs = QueryClient::connect(addr).await?;
    let mut recent = Recent::default();
    for round in 0..=runs {
        let newest = logs.page(&queries.recent).await?;
        let oldest = logs.page(&queries.recent_asc).await?;
        ensure!(
            newest.count == 100 && oldest.count == 100,
            "the recent query returned {} and {}",
            newest.count,
            oldest.count
        );
        if round > 0 {
            recent.newest.record(newest.took);
            recent.oldest.record(oldest.took);
            recent.newest_scanned.push(newest.scanned_bytes);
            recent.oldest_scanned.push(oldest.scanned_bytes);
        }
    }
    Ok(recent)
}

/// `runs` timed runs of a histogram after one untimed one; every answer must be the first's.
async fn timed(
    conn: &mut Conn,
    addr: SocketAddr,
    target: &str,
    runs: usize,
) -> anyhow::Result<Timed> {
    let first = client::histogram(conn, addr, target).await?;
    let mut latencies = Latencies::default();
    for _ in 0..runs {
        let again = client::histogram(conn, addr, target).await?;
        ensure!(
            again.per_bucket == first.per_bucket,
            "GET {target}: two answers differ"
        );
        latencies.record(again.took);
    }
    Ok(Timed {
        answer: first,
        latencies,
    })
}

/// Waits until the service's segments folder holds no pending segment (`.log`) and no
/// compression under way (`.tmp`).
fn wait_finished(log_dir: &Path) -> anyhow::Result<()> {
    let dir = log_dir.join("segments").join(SERVICE);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let pending = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".log") || name.ends_with(".tmp")
            })
            .count();
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{pending} segments still pending after {SETTLE_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls the histogram until `index_blocks` is the same three times in a row, 500 ms
/// apart; returns it.
fn settle_index(runtime: &Runtime, addr: SocketAddr, target: &str) -> anyhow::Result<u64> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let (mut last, mut same) = (u64::MAX, 0);
    runtime.block_on(async {
        let mut conn = Conn::connect(addr).await?;
        loop {
            let answer: Counted = client::histogram(&mut conn, addr, target).await?;
            if answer.index_blocks == last {
                same += 1;
                if same == 2 {
                    return Ok(last);
                }
            } else {
                (last, same) = (answer.index_blocks, 0);
            }
            ensure!(Instant::now() < deadline, "the index kept growing");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// How many `.idx` files the service's folder holds.
fn count_index_files(log_dir: &Path) -> anyhow::Result<usize> {
    let dir = log_dir.join("segments").join(SERVICE);
    Ok(std::fs::read_dir(&dir)?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|e| e == "idx"))
        .count())
}

/// Deletes the service's `.idx` files; returns how many.
fn remove_index(log_dir: &Path) -> anyhow::Result<usize> {
    let dir = log_dir.join("segments").join(SERVICE);
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir)?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "idx") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// (5): ingestion into two fresh collectors, with the index and without, alternating.
fn ingest(runtime: &Runtime, scratch: &Path, measure: Duration) -> anyhow::Result<Ingest> {
    let start = |name: &str, args: &[&str]| -> anyhow::Result<Collector> {
        let dir = scratch.join(name);
        std::fs::create_dir(&dir)?;
        Ok(Collector::try_start_in(&dir, free_port(), args, &[])?)
    };
    // No rotation: with `--count-index false` a rotation still builds the segment's index,
    // by reading the segment back, so rotating phases would not compare the index's cost.
    let with = start("ingest-index", &["--rotate-bytes", "0"])?;
    let without = start(
        "ingest-no-index",
        &["--rotate-bytes", "0", "--count-index", "false"],
    )?;
    let mut ingest = Ingest::default();
    let warmup = Duration::from_millis(300);
    let phase = |collector: &Collector, single: bool| -> Throughput {
        let addr = collector.addr();
        let (requests, entries): (Vec<Request>, usize) = if single {
            let requests = (0..SINGLE_CONNECTIONS as u64)
                .map(|seq| {
                    let body = workload::single_entry("bench-ingest-single", seq);
                    http::post(addr, "/logs", "application/json", &body)
                })
                .collect();
            (requests, 1)
        } else {
            let body = workload::ndjson_batch("bench-ingest-batch", BATCH as usize);
            let request = http::post(addr, "/logs", "application/x-ndjson", &body);
            (vec![request; BATCH_CONNECTIONS], BATCH as usize)
        };
        let window = Window::after(warmup, measure);
        let tally = runtime.block_on(load::closed_loop(addr, requests, 201, window));
        Throughput {
            per_sec: (tally.ok * entries as u64) as f64 / measure.as_secs_f64(),
            errors: tally.errors,
            first_error: tally.first_error,
        }
    };
    for round in 0..INGEST_ROUNDS {
        // Each round starts with the other collector, so neither always goes first.
        let order = if round % 2 == 0 {
            [(&with, true), (&without, false)]
        } else {
            [(&without, false), (&with, true)]
        };
        for single in [true, false] {
            for (collector, index) in order {
                progress(&format!(
                    "(5) round {}: {} POST /logs, index {}",
                    round + 1,
                    if single { "single-entry" } else { "NDJSON" },
                    if index { "on" } else { "off" }
                ));
                let throughput = phase(collector, single);
                ingest.record(index, single, throughput);
            }
        }
    }
    Ok(ingest)
}

fn progress(what: &str) {
    eprintln!("bench_counts: {what}…");
}
