//! Ingestion under abusive query load (issue 17): the release `estuary` collector's ingest
//! rate and latency with 8 clients firing whole-log scans and abandoning them, beside the
//! same ingestion with no queries, in one run, and prints a markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_query_load -- [--quick]
//! ```
//!
//! It generates a 1 GiB log (200 MiB with `--quick`) of ~200-byte entries for one service
//! (the query benchmark's data), starts `target/release/estuary serve` on it with default
//! settings (`ESTUARY_BIN` picks another binary, e.g. an older build to compare), and runs
//! two kinds of ingest phase, each with and without the query clients, alternating over
//! [`ROUNDS`] rounds so that load drift on the shared machine hits both alike:
//!
//! - **steady**: 50,000 entries/s offered as NDJSON batches of 100 on 4 connections, on a
//!   fixed schedule (open loop; latency counts from when each request was due, so a stall
//!   shows); the rate achieved and p50/p99 latency;
//! - **flat out**: the same batches on 4 connections as fast as they are answered (closed
//!   loop); entries/s and p50/p99.
//!
//! The query clients, 8 of them, each send a query that reads the whole log and matches
//! nothing or counts everything — a text filter, `level=fatal`, a field filter, a `q`
//! histogram (which the count index cannot answer) and facets over a field — and hang up
//! after [`ABANDON_AFTER`] if no answer came, then send the next at once, as in the drill
//! that found the problem (it dropped a steady 50,000 entries/s to 21,000, p99 180 ms).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use estuary_benches::http::{self, Conn};
use estuary_benches::load::{self, Tally, Window};
use estuary_benches::query::dataset;
use estuary_benches::report;
use estuary_benches::run::Run;
use estuary_benches::workload;
use estuary_test_support::{free_port, Collector};

/// Rounds of each kind of phase, alternating without and with queries.
const ROUNDS: usize = 2;
/// Warm-up and measured time of each phase.
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(8);
/// Ingest connections, entries per request, and the steady phases' offered rate.
const INGEST_CONNECTIONS: usize = 4;
const BATCH: usize = 100;
const STEADY_ENTRIES_PER_SEC: u64 = 50_000;
/// Query clients, and how long each waits for an answer before hanging up.
const QUERY_CLIENTS: usize = 8;
const ABANDON_AFTER: Duration = Duration::from_secs(2);

const SCANNED: &str = "bench-scanned";

/// Benchmark ingestion under abusive query load; prints a markdown table.
#[derive(Debug, Parser)]
struct Args {
    /// A 200 MiB log to scan instead of 1 GiB.
    #[arg(long)]
    quick: bool,
    /// Where to create the temporary log directory (default: the system's temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// The queries the clients take turns with: each reads the whole log.
fn abusive_queries() -> Vec<String> {
    let whole = "since=2026-11-25T00:00:00Z&until=2026-11-26T00:00:00Z";
    vec![
        format!("/logs/{SCANNED}?q=no-such-text&limit=100"),
        format!("/logs/{SCANNED}?level=fatal&limit=100"),
        format!("/logs/{SCANNED}?field.fields.items=99999&limit=100"),
        format!("/histogram?service={SCANNED}&q=no-such-text&{whole}"),
        format!("/facets?service={SCANNED}&field=fields.order_id&{whole}"),
    ]
}

/// One phase's outcome.
struct Phase {
    kind: &'static str,
    queries: bool,
    tally: Tally,
    /// Queries sent, answered within [`ABANDON_AFTER`], abandoned.
    sent: u64,
    answered: u64,
    abandoned: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    const MIB: u64 = 1024 * 1024;
    let size = if args.quick { 200 * MIB } else { 1024 * MIB };
    let run = Run::start("bench_query_load", args.dir.as_deref())?;
    let log_dir = run.log_dir()?;
    eprintln!("bench_query_load: generating {}…", report::size(size));
    dataset::write_active(&log_dir, SCANNED, size).context("generating the log")?;
    let collector = Collector::try_start_in(&log_dir, free_port(), &[], &[])?;
    let addr = collector.addr();
    let requests: Vec<http::Request> = (0..INGEST_CONNECTIONS)
        .map(|i| {
            let body = workload::ndjson_batch(&format!("bench-ingest-{i}"), BATCH);
            http::post(addr, "/logs", "application/x-ndjson", &body)
        })
        .collect();
    let interval = Duration::from_secs_f64(
        (INGEST_CONNECTIONS * BATCH) as f64 / STEADY_ENTRIES_PER_SEC as f64,
    );
    let queries = abusive_queries();
    let mut phases = Vec::new();
    for kind in ["steady", "flat out"] {
        for round in 0..ROUNDS {
            for with_queries in [false, true] {
                eprintln!(
                    "bench_query_load: {kind}, round {}, {}…",
                    round + 1,
                    if with_queries {
                        "8 query clients"
                    } else {
                        "no queries"
                    }
                );
                let stop = Arc::new(AtomicBool::new(false));
                let counters = Arc::new(Counters::default());
                let clients: Vec<_> = if with_queries {
                    (0..QUERY_CLIENTS)
                        .map(|i| {
                            run.runtime.spawn(abuse(
                                addr,
                                queries.clone(),
                                i,
                                stop.clone(),
                                counters.clone(),
                            ))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let window = Window::after(WARMUP, MEASURE);
                let tally = run.runtime.block_on(async {
                    if kind == "steady" {
                        load::open_loop(addr, requests.clone(), interval, 201, window).await
                    } else {
                        load::closed_loop(addr, requests.clone(), 201, window).await
                    }
                });
                stop.store(true, Ordering::Relaxed);
                for client in clients {
                    let _ = run.runtime.block_on(client);
                }
                // Let abandoned scans notice before the next phase.
                wait_for_no_queries(&collector)?;
                phases.push(Phase {
                    kind,
                    queries: with_queries,
                    tally,
                    sent: counters.sent.load(Ordering::Relaxed),
                    answered: counters.answered.load(Ordering::Relaxed),
                    abandoned: counters.abandoned.load(Ordering::Relaxed),
                });
            }
        }
    }
    print(&phases, &run);
    Ok(())
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    answered: AtomicU64,
    abandoned: AtomicU64,
}

/// One query client: sends query after query (starting at `first`), each on a fresh
/// connection, hanging up after [`ABANDON_AFTER`].
async fn abuse(
    addr: std::net::SocketAddr,
    queries: Vec<String>,
    first: usize,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    let mut turn = first;
    while !stop.load(Ordering::Relaxed) {
        let request = http::get(addr, &queries[turn % queries.len()]);
        turn += 1;
        let Ok(mut conn) = Conn::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        counters.sent.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(ABANDON_AFTER, conn.send(&request)).await {
            Ok(Ok(_)) => counters.answered.fetch_add(1, Ordering::Relaxed),
            _ => counters.abandoned.fetch_add(1, Ordering::Relaxed),
        };
        // Dropping the connection hangs up.
    }
}

/// Polls `/health` until no query runs (at most 30 s).
fn wait_for_no_queries(collector: &Collector) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, health) = collector.get("/health");
        if health["queries_running"].as_u64() == Some(0) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "queries still running: {health}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The highest p99 of the rounds (each round's latencies stand on their own).
fn worst_p99(rounds: &[&report::Latencies]) -> Duration {
    rounds
        .iter()
        .map(|l| l.percentile(99.0))
        .max()
        .unwrap_or_default()
}

fn print(phases: &[Phase], run: &Run) {
    let per_sec = |tally: &Tally| (tally.ok as f64 * BATCH as f64) / MEASURE.as_secs_f64();
    println!("## Ingestion under abusive query load\n");
    println!(
        "| phase | query clients | round | entries/s | p50 / p99 | ingest errors | queries sent / answered / abandoned |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, phase) in phases.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            phase.kind,
            if phase.queries { QUERY_CLIENTS } else { 0 },
            i / 2 % ROUNDS + 1,
            report::count(per_sec(&phase.tally)),
            phase.tally.latencies.p50_p99(),
            phase.tally.errors,
            if phase.queries {
                format!("{} / {} / {}", phase.sent, phase.answered, phase.abandoned)
            } else {
                "—".into()
            },
        );
    }
    println!("\n| phase | entries/s with queries ÷ without | p99 without → with |");
    println!("|---|---|---|");
    for kind in ["steady", "flat out"] {
        let (mut without, mut with) = ((0u64, Vec::new()), (0u64, Vec::new()));
        for phase in phases.iter().filter(|p| p.kind == kind) {
            let side = if phase.queries {
                &mut with
            } else {
                &mut without
            };
            side.0 += phase.tally.ok;
            side.1.push(&phase.tally.latencies);
        }
        println!(
            "| {kind} | {:.2}× | {} → {} |",
            with.0 as f64 / without.0.max(1) as f64,
            report::millis(worst_p99(&without.1)),
            report::millis(worst_p99(&with.1)),
        );
    }
    println!(
        "{}",
        run.machine().note(
            "The load generator (one thread) and the collector share the cores; the query \
             clients' scans run on the collector's query threads."
        )
    );
}
