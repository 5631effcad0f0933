//! Benchmarks the release `estuary` collector in one run and prints a markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_collector -- [--quick]
//! ```
//!
//! It starts a private `redis-server` and `target/release/estuary serve` (found beside this
//! executable) on free ports with a temporary `LOG_DIR`, Redis fan-out on as the collector is
//! deployed, plus a second collector with fan-out off, and measures, each beside a baseline
//! taken in the same run:
//!
//! - (a) single-entry `POST /logs` per second over 64 keep-alive connections, ~200-byte
//!   entries round-robin over 8 services, fan-out on; baseline: `GET /health` over the same
//!   connections (the HTTP stack's and the load generator's ceiling). (a′) the same against
//!   the collector with fan-out off: what fan-out costs (on, off, off, on, three times, two
//!   with `--quick`, each side's runs combined, so load drift weighs on both alike); the
//!   CPU that the collector, the load generator and `redis-server` spent per request on
//!   each side is printed below the table too, a steadier view than throughput on a shared
//!   machine; (a‴) the on/off pairs again (two rounds) with each collector on one tokio
//!   worker pinned to a CPU of its own, and the load generator and a `redis-server` of their
//!   own pinned to another (with two workers sharing two cores with the load, a collector
//!   falls into a slow state of frequent parking for whole phases, on either side of a
//!   pair; pinned, it does not, and the collector is the bottleneck);
//! - (b) entries per second of NDJSON `POST /logs`, 1,000 entries per request, 8
//!   connections (one service each), fan-out on; baseline: the same bodies appended straight
//!   to a file in the same directory (the storage limit). (b″) the same with fan-out off,
//!   paired the same way;
//!   (b′) against a third collector with `--fsync batch`;
//! - (c) `GET /logs/<service>?limit=100` latency on a 1 GiB log (100 MiB with `--quick`)
//!   generated before the collector starts; baselines: `tail -n 100` of the file, and a plain
//!   read of its last 64 KiB;
//! - (d) the collector's peak RSS (`VmHWM`) after the load phases (a) and (b), and after
//!   all of the above.
//!
//! The load generator is a lean HTTP/1.1 client on one thread (see `bench/http.rs`), so on
//! a small machine most of the CPU goes to the collector; the CPU each side used is
//! reported below the table. Only 201s count; errors are reported. A full run takes about
//! 3 minutes (`--quick`: about 1 minute) and needs ~3 GB of free disk.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use tokio::runtime::Runtime;

use estuary_benches::baseline;
use estuary_benches::collector::summary::{self, Queries, Results, RunNotes, Throughput};
use estuary_benches::http::{self, Conn, Request};
use estuary_benches::load::{self, Window};
use estuary_benches::process::{self, Usage};
use estuary_benches::report;
use estuary_benches::run::Run;
use estuary_benches::workload::{self, Generated};
use estuary_test_support::redis_server::RedisServer;
use estuary_test_support::{free_port, Collector};

/// Connections for (a), as in the issue.
const SINGLE_CONNECTIONS: usize = 64;
/// Connections for (b), as in the issue: one per service.
const BATCH_CONNECTIONS: usize = 8;
/// Services the single entries of (a) go to, round-robin over the connections.
const SINGLE_SERVICES: usize = 8;
/// Entries per NDJSON request in (b).
const BATCH_ENTRIES: usize = 1_000;
/// Lines asked for in (c).
const TAIL_LIMIT: usize = 100;
/// Queries timed in (c), by one client, and again shared among [`QUERY_CLIENTS`].
const QUERY_RUNS: usize = 200;
/// Clients querying at once in (c′), as PEERS.md quotes figures "under 4 clients".
const QUERY_CLIENTS: usize = 4;
/// `tail` processes timed for the (c) baseline.
const TAIL_COMMAND_RUNS: usize = 50;

// One service per phase, so each phase has its own file and writer.
const SINGLE_SERVICE: &str = "bench-single";
const BATCH_SERVICE: &str = "bench-batch";
const TAIL_SERVICE: &str = "bench-tail";

/// Benchmark the release `estuary` collector; prints a markdown table of the results.
#[derive(Debug, Parser)]
struct Args {
    /// Short phases (2 s) and a 100 MiB log for the tail query instead of 1 GiB.
    #[arg(long)]
    quick: bool,
    /// Where to create the temporary log directory (default: the system's temp dir); it
    /// decides which disk (b) measures.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip the extra run of (b) against a collector with `--fsync batch`.
    #[arg(long)]
    no_fsync_batch: bool,
}

/// How long and how big each phase is.
struct Plan {
    /// Load before a phase's window opens, so connections and caches are warm.
    warmup: Duration,
    /// A load phase's window; a few seconds smooth out scheduling noise.
    measure: Duration,
    /// How many times the fan-out on/off pairs (on, off, off, on) run.
    rounds: usize,
    /// Size of the log (c) queries; the issue asks for 1 GB.
    tail_log_bytes: u64,
    /// Most bytes the raw-write baseline writes: about what the collector writes in (b),
    /// so both fill a similar amount of fresh page cache.
    raw_write_cap: u64,
}

impl Plan {
    fn new(quick: bool) -> Self {
        const MIB: u64 = 1024 * 1024;
        if quick {
            Plan {
                warmup: Duration::from_millis(300),
                measure: Duration::from_secs(2),
                rounds: 2,
                tail_log_bytes: 100 * MIB,
                raw_write_cap: 256 * MIB,
            }
        } else {
            Plan {
                warmup: Duration::from_millis(500),
                measure: Duration::from_secs(5),
                rounds: 3,
                tail_log_bytes: 1024 * MIB,
                raw_write_cap: 1024 * MIB,
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::new(args.quick);
    let run = Run::start("bench_collector", args.dir.as_deref())?;
    let (runtime, scratch) = (&run.runtime, &run.scratch);
    let log_dir = run.log_dir()?;
    progress(&format!(
        "generating a {} log for (c)",
        report::size(plan.tail_log_bytes)
    ));
    let tail_log = log_dir.join(format!("{TAIL_SERVICE}.log"));
    let generated = workload::generate_log(&tail_log, TAIL_SERVICE, plan.tail_log_bytes)
        .context("generating the log for (c)")?;
    let mut results = measure_default(runtime, scratch.path(), &log_dir, &plan, &generated)?;
    results.steady = measure_steady(runtime, scratch.path(), &plan)?;
    if !args.no_fsync_batch {
        results.fsync_batch = Some(measure_fsync_batch(runtime, scratch.path(), &plan)?);
    }
    let notes = RunNotes {
        generated,
        warmup: plan.warmup,
        measure: plan.measure,
        machine: run.machine(),
    };
    summary::print(&results, &notes);
    Ok(())
}

/// What every phase works with.
struct Bench<'a> {
    runtime: &'a Runtime,
    plan: &'a Plan,
    collector: Collector,
    log_dir: &'a Path,
}

impl Bench<'_> {
    fn addr(&self) -> SocketAddr {
        self.collector.addr()
    }

    /// Runs one closed-loop phase; `entries` is how many entries each answer stands for.
    fn throughput(
        &self,
        requests: Vec<Request>,
        expect: u16,
        entries: usize,
    ) -> anyhow::Result<Throughput> {
        let collector_before = self.collector.cpu_time()?;
        let switches_before = self.collector.voluntary_switches()?;
        let own_before = process::own_cpu_time()?;
        let began = Instant::now();
        let window = Window::after(self.plan.warmup, self.plan.measure);
        let tally = self
            .runtime
            .block_on(load::closed_loop(self.addr(), requests, expect, window));
        let wall = began.elapsed();
        let per_sec = (tally.ok * entries as u64) as f64 / self.plan.measure.as_secs_f64();
        Ok(Throughput {
            tally,
            per_sec,
            runs: 1,
            collector_cpu: self.collector.cpu_time()?.saturating_sub(collector_before),
            generator_cpu: process::own_cpu_time()?.saturating_sub(own_before),
            redis_cpu: Duration::ZERO,
            collector_switches: self
                .collector
                .voluntary_switches()?
                .saturating_sub(switches_before),
            wall,
        })
    }

    /// Single-entry POSTs over 64 connections, round-robin over 8 services.
    fn singles(&self) -> anyhow::Result<Throughput> {
        self.throughput(single_requests(self.addr()), 201, 1)
    }

    /// NDJSON batches over 8 connections, one service each; their files are synced after,
    /// so the next phase does not pay for this one's writeback.
    fn batches(&self) -> anyhow::Result<Throughput> {
        let requests = (0..BATCH_CONNECTIONS)
            .map(|n| {
                let body = workload::ndjson_batch(&batch_service(n), BATCH_ENTRIES);
                http::post(self.addr(), "/logs", "application/x-ndjson", &body)
            })
            .collect();
        let batch = self.throughput(requests, 201, BATCH_ENTRIES)?;
        for n in 0..BATCH_CONNECTIONS {
            let written = self.log_dir.join(format!("{}.log", batch_service(n)));
            baseline::settle(&written).context("syncing (b)'s logs")?;
        }
        Ok(batch)
    }

    /// (b)'s baseline: the same bodies appended straight to a file.
    fn raw_write(&self) -> anyhow::Result<baseline::RawWrite> {
        let body = workload::ndjson_batch(&batch_service(0), BATCH_ENTRIES);
        progress("(b) baseline: the same NDJSON bodies appended straight to a file");
        let (measure, cap) = (self.plan.measure, self.plan.raw_write_cap);
        baseline::raw_write(self.log_dir, &body, BATCH_ENTRIES, measure, cap)
            .context("raw-write baseline")
    }

    /// The fan-out counters from `/health`: entries published to Redis and skipped.
    fn fanout_counts(&self) -> anyhow::Result<(u64, u64)> {
        let addr = self.addr();
        self.runtime.block_on(async {
            let mut conn = Conn::connect(addr).await?;
            let reply = conn.send(&http::get(addr, "/health")).await?;
            let body: serde_json::Value = serde_json::from_slice(reply.body)?;
            let count = |key: &str| body["fanout"][key].as_u64().unwrap_or(0);
            Ok((count("published"), count("skipped")))
        })
    }

    /// (c): the tail query from one client, then from several at once, then its baselines.
    fn queries(&self, query: &Request) -> anyhow::Result<Queries> {
        progress("(c) GET /logs/<service>?limit=100, then its baselines");
        let (runtime, addr) = (self.runtime, self.addr());
        let one = runtime.block_on(load::sequential(addr, query.clone(), 1, QUERY_RUNS));
        let per_client = QUERY_RUNS / QUERY_CLIENTS;
        let many = load::sequential(addr, query.clone(), QUERY_CLIENTS, per_client);
        let many = runtime.block_on(many);
        let log = self.log_dir.join(format!("{TAIL_SERVICE}.log"));
        Ok(Queries {
            one,
            many,
            tail_command: baseline::tail_command(&log, TAIL_LIMIT, TAIL_COMMAND_RUNS)
                .context("timing `tail`")?,
            tail_read: baseline::tail_read(&log, QUERY_RUNS).context("timing the tail read")?,
        })
    }
}

/// (a) to (d) against a collector with default settings and fan-out on, and (a′), (b″)
/// against one with fan-out off, phase by phase in turn.
fn measure_default(
    runtime: &Runtime,
    scratch: &Path,
    log_dir: &Path,
    plan: &Plan,
    generated: &Generated,
) -> anyhow::Result<Results> {
    progress("starting a private redis-server");
    let redis = RedisServer::try_start_with(&[]).context("starting redis-server")?;
    let url = redis.url();
    let collector = Collector::try_start_in(log_dir, free_port(), &["--redis-url", &url], &[])?;
    let start_rss_kib = collector.peak_rss_kib()?;
    let bench = Bench {
        runtime,
        plan,
        collector,
        log_dir,
    };
    let off_dir = scratch.join("logs-fanout-off");
    std::fs::create_dir(&off_dir).context("creating the fan-out-off log directory")?;
    let off = Bench {
        runtime,
        plan,
        collector: Collector::try_start_in(&off_dir, free_port(), &[], &[])?,
        log_dir: &off_dir,
    };
    let query = http::get(
        bench.addr(),
        &format!("/logs/{TAIL_SERVICE}?limit={TAIL_LIMIT}"),
    );
    runtime.block_on(check_ingest(bench.addr()))?;
    runtime.block_on(check_ingest(off.addr()))?;
    runtime.block_on(check_query(bench.addr(), &query, generated.lines))?;

    progress("(a) baseline: GET /health, 64 connections");
    let health = bench.throughput(
        vec![http::get(bench.addr(), "/health"); SINGLE_CONNECTIONS],
        200,
        1,
    )?;
    progress(
        "(a) single-entry POST /logs, 64 connections, 8 services, fan-out on, then off (ABBA)",
    );
    let on_singles = || with_redis_cpu(&redis, || bench.singles());
    let (single, single_off) = alternate(plan.rounds, on_singles, || off.singles())?;
    let raw = bench.raw_write()?;
    progress("(b) NDJSON POST /logs, 1,000 entries per request, 8 connections, fan-out on, then off (ABBA)");
    let on_batches = || with_redis_cpu(&redis, || bench.batches());
    let (batch, batch_off) = alternate(plan.rounds, on_batches, || off.batches())?;
    let load_rss_kib = bench.collector.peak_rss_kib()?;
    let (published, skipped) = bench.fanout_counts()?;

    let queries = bench.queries(&query)?;
    Ok(Results {
        health,
        single,
        single_off,
        raw,
        batch,
        batch_off,
        fanout: summary::FanoutCounts {
            published,
            skipped,
            redis_cpu: redis.cpu_time()?,
        },
        fsync_batch: None,
        queries,
        start_rss_kib,
        load_rss_kib,
        peak_rss_kib: bench.collector.peak_rss_kib()?,
        steady: None,
    })
}

/// (a‴): the fan-out on/off pairs of single entries again, each collector on one tokio
/// worker pinned to the first allowed CPU, the load generator (this thread) and a
/// `redis-server` of their own pinned to the second; `None` with fewer than two CPUs.
fn measure_steady(
    runtime: &Runtime,
    scratch: &Path,
    plan: &Plan,
) -> anyhow::Result<Option<summary::Steady>> {
    let cpus = process::allowed_cpus()?;
    let [collector_cpu, load_cpu, ..] = cpus[..] else {
        return Ok(None);
    };
    progress("(a‴) single-entry POST /logs, one pinned worker per collector, fan-out on, then off (ABBA)");
    let (collector_cpu, load_cpu) = (collector_cpu.to_string(), load_cpu.to_string());
    let redis = RedisServer::try_start_with(&[]).context("starting redis-server")?;
    let url = redis.url();
    let one_worker = [("TOKIO_WORKER_THREADS", "1")];
    let dirs = ["on", "off"].map(|name| scratch.join(format!("logs-pinned-fanout-{name}")));
    let mut benches = Vec::new();
    for (dir, args) in dirs.iter().zip([vec!["--redis-url", &url], vec![]]) {
        std::fs::create_dir(dir).context("creating a pinned collector's log directory")?;
        let collector = Collector::try_start_in(dir, free_port(), &args, &one_worker)?;
        process::pin(collector.pid(), &collector_cpu, true)?;
        runtime.block_on(check_ingest(collector.addr()))?;
        benches.push(Bench {
            runtime,
            plan,
            collector,
            log_dir: dir,
        });
    }
    process::pin(redis.pid(), &load_cpu, true)?;
    let all_cpus = cpus
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let own = std::process::id();
    process::pin(own, &load_cpu, false)?;
    let [on, off] = &benches[..] else {
        unreachable!("two collectors")
    };
    let pairs = alternate(
        plan.rounds.min(2),
        || with_redis_cpu(&redis, || on.singles()),
        || off.singles(),
    );
    process::pin(own, &all_cpus, false)?;
    let (on, off) = pairs?;
    Ok(Some(summary::Steady { on, off }))
}

/// Runs `a`, `b`, `b`, `a`, `rounds` times, and combines each side's runs, so a load that
/// drifts over the run (other people's builds on a shared machine) weighs on both sides
/// alike, and more rounds average out more of the noise.
fn alternate(
    rounds: usize,
    a: impl Fn() -> anyhow::Result<Throughput>,
    b: impl Fn() -> anyhow::Result<Throughput>,
) -> anyhow::Result<(Throughput, Throughput)> {
    let round = || -> anyhow::Result<(Throughput, Throughput)> {
        let (a1, b1, b2, a2) = (a()?, b()?, b()?, a()?);
        Ok((a1.combine(a2), b1.combine(b2)))
    };
    let (mut on, mut off) = round()?;
    for _ in 1..rounds {
        let (more_on, more_off) = round()?;
        on = on.combine(more_on);
        off = off.combine(more_off);
    }
    Ok((on, off))
}

/// `phase`, with the CPU `redis` used meanwhile.
fn with_redis_cpu(
    redis: &RedisServer,
    phase: impl FnOnce() -> anyhow::Result<Throughput>,
) -> anyhow::Result<Throughput> {
    let before = redis.cpu_time()?;
    let mut throughput = phase()?;
    throughput.redis_cpu = redis.cpu_time()?.saturating_sub(before);
    Ok(throughput)
}

/// (b) again, against another collector that `fdatasync`s each group commit.
fn measure_fsync_batch(
    runtime: &Runtime,
    scratch: &Path,
    plan: &Plan,
) -> anyhow::Result<Throughput> {
    let log_dir = scratch.join("logs-fsync-batch");
    std::fs::create_dir(&log_dir).context("creating the second log directory")?;
    let collector = Collector::try_start_in(&log_dir, free_port(), &["--fsync", "batch"], &[])?;
    let bench = Bench {
        runtime,
        plan,
        collector,
        log_dir: &log_dir,
    };
    progress("(b′) NDJSON POST /logs again, collector with --fsync batch");
    bench.batches()
}

/// The service of (b)'s `n`th connection.
fn batch_service(n: usize) -> String {
    format!("{BATCH_SERVICE}-{n}")
}

/// One single-entry request per connection, each with its own entry, the connections'
/// services round-robin over [`SINGLE_SERVICES`].
fn single_requests(addr: SocketAddr) -> Vec<Request> {
    (0..SINGLE_CONNECTIONS as u64)
        .map(|seq| {
            let service = format!("{SINGLE_SERVICE}-{}", seq % SINGLE_SERVICES as u64);
            let body = workload::single_entry(&service, seq);
            http::post(addr, "/logs", "application/json", &body)
        })
        .collect()
}

/// One request of each ingest kind, its answer checked in full, so that the phases measure
/// what they claim to.
async fn check_ingest(addr: SocketAddr) -> anyhow::Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let single = &single_requests(addr)[0];
    let reply = conn.send(single).await?;
    ensure!(
        reply.status == 201 && reply.body == br#"{"status":"logged"}"#,
        "single POST answered {}",
        reply.status
    );
    let body = workload::ndjson_batch(&batch_service(0), BATCH_ENTRIES);
    let reply = conn
        .send(&http::post(addr, "/logs", "application/x-ndjson", &body))
        .await?;
    let body: serde_json::Value = serde_json::from_slice(reply.body)?;
    ensure!(
        reply.status == 201 && body["accepted"] == BATCH_ENTRIES,
        "batch POST answered {} {body}",
        reply.status
    );
    Ok(())
}

/// The tail query, its answer checked against the generated log.
async fn check_query(addr: SocketAddr, query: &[u8], generated_lines: u64) -> anyhow::Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let reply = conn.send(query).await?;
    let body: serde_json::Value = serde_json::from_slice(reply.body)?;
    let last_seq = body["logs"][TAIL_LIMIT - 1]["seq"].as_u64();
    ensure!(
        reply.status == 200 && body["count"] == TAIL_LIMIT && last_seq == Some(generated_lines - 1),
        "query answered {} with count {} and last seq {last_seq:?}",
        reply.status,
        body["count"]
    );
    Ok(())
}

fn progress(what: &str) {
    eprintln!("bench_collector: {what}…");
}
