//! Benchmarks forwarding in the release `estuary` collector (issue 6) in one run and prints a
//! markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_forward -- [--quick] [--perf DIR]
//! ```
//!
//! It starts `target/release/estuary serve` (found beside this executable) on a free port
//! with a temporary `LOG_DIR`, and measures:
//!
//! - (1) forwarding throughput: 2,000,000 entries (300,000 with `--quick`) are stored first
//!   by a collector without forwarders (default rotation and gzip, so most of them sit in
//!   compressed segments). Then, for Loki, for Elasticsearch answering `{"errors":false}`
//!   and for Elasticsearch listing every item as the real one does, the collector is
//!   restarted on that directory with one forwarder and no checkpoint, pointed at a fake
//!   destination in this process (its own threads) that answers at once and then gunzips
//!   and counts the entries. Entries per second from the spawn to the last entry counted.
//!   Baseline: the same files read back and split into lines on one thread;
//! - (2) ingestion throughput, NDJSON `POST /logs` of 1,000 entries over 4 connections,
//!   with one Loki forwarder (to a fake that only reads and answers) versus none, each
//!   against a fresh collector with `--rotate-bytes 0`, in the order none, on, on, none so
//!   that drift on the shared machine cancels out; the ratio of the means.
//!
//! `--perf DIR` records each forwarding phase with `perf record` into `DIR` (its figures
//! are then perturbed). A full run takes about a minute (`--quick`: about 25 s) and needs
//! ~2 GB of free disk (each ingestion phase writes ~1.5 GB, removed after it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use tokio::runtime::Runtime;

use estuary_benches::forward::client::{drain, post_all, sent_all};
use estuary_benches::forward::entries;
use estuary_benches::forward::profile::Profiler;
use estuary_benches::forward::stored;
use estuary_benches::forward::summary::{
    self, ForwardPhase, IngestPhase, Preload, Results, RunNotes,
};
use estuary_benches::http::{self, Request};
use estuary_benches::load::{self, Window};
use estuary_benches::process::{self, Cpu, Usage};
use estuary_benches::run::Run;
use estuary_test_support::fake_sink::{FakeSink, Kind, Mode};
use estuary_test_support::{free_port, Collector};

/// Connections posting NDJSON, as in `bench_collector` (b).
const BATCH_CONNECTIONS: usize = 4;
/// Entries per NDJSON request.
const BATCH_ENTRIES: usize = 1_000;
/// The order of (2)'s phases: none, on, on, none.
const INGEST_ORDER: [bool; 4] = [false, true, true, false];
/// A forwarding phase gives up when no entry arrived for this long.
const STALL: Duration = Duration::from_secs(15);
/// How long the stored segments get to be compressed before the collector is stopped.
const SETTLE: Duration = Duration::from_secs(60);

const STORED_SERVICE: &str = "bench-forward";
const INGEST_SERVICE: &str = "bench-ingest";

/// A destination of (1).
struct Destination {
    /// As shown in the table.
    name: &'static str,
    /// For the profile's file name.
    slug: &'static str,
    /// The collector's flag taking its URL.
    flag: &'static str,
    /// What the fake stands in for.
    kind: Kind,
}

const DESTINATIONS: [Destination; 3] = [
    Destination {
        name: "Loki (gzip JSON push; fake answers 204)",
        slug: "loki",
        flag: "--loki-url",
        kind: Kind::Loki,
    },
    Destination {
        name: "Elasticsearch (`_bulk` NDJSON; fake answers `{\"errors\":false}`)",
        slug: "elasticsearch",
        flag: "--elasticsearch-url",
        kind: Kind::Elasticsearch { items: false },
    },
    Destination {
        name: "Elasticsearch (`_bulk` NDJSON; fake lists every item, ~170 bytes each, as \
               Elasticsearch does)",
        slug: "elasticsearch-items",
        flag: "--elasticsearch-url",
        kind: Kind::Elasticsearch { items: true },
    },
];

/// Benchmark forwarding in the release `estuary` collector; prints a markdown table.
#[derive(Debug, Parser)]
struct Args {
    /// 300,000 stored entries instead of 2,000,000, and 2 s ingestion windows instead of 5 s.
    #[arg(long)]
    quick: bool,
    /// Stored entries for (1), rounded up to a thousand (overrides the default).
    #[arg(long)]
    entries: Option<u64>,
    /// Where to create the temporary log directories (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Record each forwarding phase of the collector with `perf record` into this directory.
    #[arg(long)]
    perf: Option<PathBuf>,
}

/// How big and how long each phase is.
struct Plan {
    /// Entries stored for (1).
    entries: u64,
    /// Load before each window of (2) opens.
    warmup: Duration,
    /// Each window of (2).
    measure: Duration,
}

impl Plan {
    fn new(args: &Args) -> Self {
        let (entries, warmup, measure) = if args.quick {
            (300_000, Duration::from_millis(300), Duration::from_secs(2))
        } else {
            (
                2_000_000,
                Duration::from_millis(500),
                Duration::from_secs(5),
            )
        };
        Plan {
            entries: args.entries.unwrap_or(entries),
            warmup,
            measure,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::new(&args);
    let run = Run::start("bench_forward", args.dir.as_deref())?;
    let (runtime, scratch) = (&run.runtime, &run.scratch);
    if let Some(dir) = &args.perf {
        std::fs::create_dir_all(dir).context("creating the --perf directory")?;
    }
    let bench = Bench {
        runtime,
        scratch: scratch.path(),
        plan: &plan,
        perf: args.perf.as_deref(),
    };
    let stored_dir = scratch.path().join("stored");
    let preload = bench.preload(&stored_dir)?;
    progress("(1) baseline: reading the stored files back");
    let read_back = stored::read_back(&stored_dir, STORED_SERVICE).context("reading back")?;
    ensure!(
        read_back.entries == preload.entries,
        "{} entries were acknowledged but {} are stored",
        preload.entries,
        read_back.entries
    );
    let forwarding = DESTINATIONS
        .iter()
        .map(|destination| bench.forward(&stored_dir, destination, preload.entries))
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::remove_dir_all(&stored_dir).context("removing the stored entries")?;
    let ingest = INGEST_ORDER
        .iter()
        .enumerate()
        .map(|(i, on)| bench.ingest(i, *on))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let notes = RunNotes {
        window: plan.measure,
        machine: run.machine(),
    };
    let results = Results {
        preload,
        read_back,
        forwarding,
        ingest,
    };
    summary::print(&results, &notes);
    Ok(())
}

/// What every phase works with.
struct Bench<'a> {
    runtime: &'a Runtime,
    scratch: &'a Path,
    plan: &'a Plan,
    perf: Option<&'a Path>,
}

impl Bench<'_> {
    /// Stores the entries of (1) through a collector without forwarders, then stops it once
    /// its rotated segments are compressed.
    fn preload(&self, dir: &Path) -> anyhow::Result<Preload> {
        progress(&format!(
            "(1) storing {} entries with no forwarder",
            self.plan.entries
        ));
        std::fs::create_dir(dir).context("creating the log directory")?;
        let collector = Collector::try_start_in(dir, free_port(), &[], &[])?;
        let addr = collector.addr();
        let bodies = batch_requests(addr, STORED_SERVICE, entries::VARIANTS);
        let requests = self.plan.entries.div_ceil(BATCH_ENTRIES as u64);
        let began = Instant::now();
        self.runtime
            .block_on(post_all(addr, bodies, BATCH_CONNECTIONS, requests))?;
        let took = began.elapsed();
        let settled = stored::wait_compressed(dir, STORED_SERVICE, SETTLE)?;
        drop(collector);
        Ok(Preload {
            entries: requests * BATCH_ENTRIES as u64,
            took,
            layout: stored::layout(dir, STORED_SERVICE)?,
            settled,
        })
    }

    /// (1) for one destination: restarts the collector on `dir` with one forwarder and no
    /// checkpoint, and times it until the fake has counted all `entries`.
    fn forward(
        &self,
        dir: &Path,
        destination: &Destination,
        entries: u64,
    ) -> anyhow::Result<ForwardPhase> {
        progress(&format!(
            "(1) forwarding everything to {}",
            destination.name
        ));
        // Both Elasticsearch phases use the same checkpoint name; every phase starts at 0.
        match std::fs::remove_dir_all(dir.join(".forward")) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err).context("removing the checkpoints")
            }
            _ => {}
        }
        let fake = FakeSink::start(destination.kind, Mode::Count)
            .context("starting the fake destination")?;
        let url = fake.url();
        let bench_before = process::own_cpu_time()?;
        let began = Instant::now();
        let collector = Collector::try_start_in(dir, free_port(), &[destination.flag, &url], &[])?;
        let healthy_after = began.elapsed();
        let profiler = match self.perf {
            Some(perf) => {
                let file = perf.join(format!("forward-{}.perf.data", destination.slug));
                Some(Profiler::attach(collector.pid(), &file)?)
            }
            None => None,
        };
        let complete = fake.wait_for(entries, STALL);
        let wall = began.elapsed();
        let cpu = Cpu {
            collector: collector.cpu_time()?,
            redis: None,
            bench: process::own_cpu_time()?.saturating_sub(bench_before),
            wall,
        };
        if let Some(profiler) = profiler {
            let written = profiler.stop()?;
            progress(&format!("perf data in {}", written.display()));
        }
        let (_, health) = self.runtime.block_on(sent_all(collector.addr(), entries))?;
        drop(collector);
        Ok(ForwardPhase {
            destination: destination.name,
            entries,
            counts: fake.counts(),
            complete,
            began,
            healthy_after,
            health,
            cpu,
        })
    }

    /// One phase of (2), against its own collector.
    fn ingest(&self, index: usize, on: bool) -> anyhow::Result<IngestPhase> {
        progress(&format!(
            "(2) NDJSON POST /logs, 1,000 entries per request, forwarder {} ({} of 4)",
            if on { "on" } else { "off" },
            index + 1
        ));
        let dir = self.scratch.join(format!("ingest-{index}"));
        std::fs::create_dir(&dir).context("creating a log directory")?;
        let fake = on
            .then(|| FakeSink::start(Kind::Loki, Mode::Discard))
            .transpose()
            .context("starting the fake destination")?;
        let url = fake.as_ref().map(FakeSink::url);
        let mut extra = vec!["--rotate-bytes", "0"];
        if let Some(url) = &url {
            extra.extend(["--loki-url", url]);
        }
        let collector = Collector::try_start_in(&dir, free_port(), &extra, &[])?;
        let addr = collector.addr();
        let requests = batch_requests(addr, INGEST_SERVICE, BATCH_CONNECTIONS as u64);
        let window = Window::after(self.plan.warmup, self.plan.measure);
        let (collector_before, bench_before) = (collector.cpu_time()?, process::own_cpu_time()?);
        let began = Instant::now();
        let tally = self
            .runtime
            .block_on(load::closed_loop(addr, requests, 201, window));
        let cpu = Cpu {
            collector: collector.cpu_time()?.saturating_sub(collector_before),
            redis: None,
            bench: process::own_cpu_time()?.saturating_sub(bench_before),
            wall: began.elapsed(),
        };
        let accepted = tally.ok_total * BATCH_ENTRIES as u64;
        let (forwarded, drained_in) = if on {
            self.runtime.block_on(drain(addr, accepted))?
        } else {
            (0, None)
        };
        drop(collector);
        std::fs::remove_dir_all(&dir).context("removing a log directory")?;
        Ok(IngestPhase {
            on,
            entries_per_sec: (tally.ok * BATCH_ENTRIES as u64) as f64
                / self.plan.measure.as_secs_f64(),
            tally,
            accepted,
            forwarded,
            drained_in,
            cpu,
        })
    }
}

/// `POST /logs` requests of `variants` distinct NDJSON bodies of [`BATCH_ENTRIES`] entries.
fn batch_requests(addr: SocketAddr, service: &str, variants: u64) -> Vec<Request> {
    (0..variants)
        .map(|variant| {
            let body = entries::batch_body(service, BATCH_ENTRIES, variant);
            http::post(addr, "/logs", "application/x-ndjson", &body)
        })
        .collect()
}

fn progress(what: &str) {
    eprintln!("bench_forward: {what}…");
}
