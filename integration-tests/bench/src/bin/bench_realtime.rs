//! Benchmarks the real-time path of the release `estuary` collector (issue 4) in one run and
//! prints a markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_realtime -- [--quick]
//! ```
//!
//! It starts a private `redis-server` (free port, no persistence) and
//! `target/release/estuary serve` (found beside this executable) on a free port with a
//! temporary `LOG_DIR`, and measures:
//!
//! - (a) and (b): single-entry `POST /logs` paced at a steady 10,000 entries/s (4 blocking
//!   keep-alive connections, one thread each, staggered), collector started with
//!   `REDIS_URL`. A Redis subscriber on `logs:all` (a) and an SSE client on `/logs/stream`
//!   (b), each on its own thread, stamp every entry when it arrives; the latency is from
//!   the moment the POST's 201 was read to that arrival (zero when the entry came first).
//!   p50 and p99. Baseline for (a): `PUBLISH` straight to Redis at the same rate, from
//!   sending it to its arrival at a subscriber (what Redis alone adds);
//! - (c): entries per second of NDJSON `POST /logs`, 1,000 entries per request, 4
//!   connections, with fan-out on (`REDIS_URL` set, one subscriber draining `logs:all`)
//!   versus off, each against a fresh collector (`--rotate-bytes 0`, so background gzip of
//!   rotated segments does not blur the comparison), in the order off, on, on, off so that
//!   drift on the shared machine cancels out; the ratio of the means. Beside it, from the
//!   collector's `/health` counters sampled at the window's edges: how many entries per
//!   second reached Redis meanwhile, how many were skipped, the publisher's backlog when the
//!   load stopped, and the collector's peak RSS.
//!
//! The CPU used by the collector, `redis-server` and this process is printed under the table.
//! A full run takes about 35 s (`--quick`: about 20 s).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio::runtime::Runtime;

use estuary_benches::http::{self, Conn};
use estuary_benches::load::{self, Window};
use estuary_benches::process::{self, Cpu, Usage};
use estuary_benches::realtime::delivery::match_arrivals;
use estuary_benches::realtime::pacer::{self, HttpEmitter, Pace, PublishEmitter};
use estuary_benches::realtime::receivers::{self, Mode, Receiver};
use estuary_benches::realtime::summary::{self, FanoutPhase, Latency, Results, RunNotes};
use estuary_benches::run::Run;
use estuary_benches::workload;
use estuary_test_support::redis_server::RedisServer;
use estuary_test_support::{free_port, Collector};

/// The issue's steady rate for (a) and (b).
const RATE: f64 = 10_000.0;
/// Paced connections for (a) and (b): 2,500 entries/s each, 400 µs apart.
const PACED_CONNECTIONS: usize = 4;
/// Connections for (c), as in `bench_collector`.
const BATCH_CONNECTIONS: usize = 4;
/// Entries per NDJSON request in (c).
const BATCH_ENTRIES: usize = 1_000;
/// The order of (c)'s phases: off, on, on, off.
const FANOUT_ORDER: [bool; 4] = [false, true, true, false];
/// The seed's channel, which every stored entry goes to.
const ALL_CHANNEL: &str = "logs:all";
/// The channel of the Redis-alone baseline; the collector never publishes there.
const FLOOR_CHANNEL: &str = "bench:floor";
/// How long to wait for stragglers after the last send.
const GRACE: Duration = Duration::from_secs(3);

const LATENCY_SERVICE: &str = "bench-realtime";
const BATCH_SERVICE: &str = "bench-fanout";

/// Benchmark the real-time path of the release `estuary` collector; prints a markdown table.
#[derive(Debug, Parser)]
struct Args {
    /// Shorter phases (2 s windows instead of 5 s).
    #[arg(long)]
    quick: bool,
    /// Where to create the temporary log directories (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// How long each phase is.
struct Plan {
    /// (a) and (b).
    latency: Pace,
    /// The Redis-alone baseline.
    floor: Pace,
    /// Load before each (c) window opens.
    warmup: Duration,
    /// Each (c) window.
    measure: Duration,
}

impl Plan {
    fn new(quick: bool) -> Self {
        let secs = Duration::from_secs;
        let (warmup, measure) = if quick {
            (Duration::from_millis(300), secs(2))
        } else {
            (Duration::from_millis(500), secs(5))
        };
        let latency = Pace {
            rate: RATE,
            warmup: if quick { warmup } else { secs(1) },
            measure,
        };
        Plan {
            latency,
            floor: Pace {
                measure: measure.min(secs(2)),
                ..latency
            },
            warmup,
            measure,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::new(args.quick);
    let run = Run::start("bench_realtime", args.dir.as_deref())?;
    let (runtime, scratch) = (&run.runtime, &run.scratch);
    progress("starting a private redis-server");
    let redis = RedisServer::try_start_with(&[])?;
    let bench = Bench {
        runtime,
        redis: &redis,
        scratch: scratch.path(),
        plan: &plan,
    };
    let latency = bench.latency()?;
    let floor = bench.floor()?;
    let fanout = FANOUT_ORDER
        .iter()
        .enumerate()
        .map(|(i, on)| bench.fanout_phase(i, *on))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let notes = RunNotes {
        rate: RATE,
        latency_window: plan.latency.measure,
        fanout_window: plan.measure,
        machine: run.machine(),
    };
    summary::print(
        &Results {
            latency,
            floor,
            fanout,
        },
        &notes,
    );
    Ok(())
}

/// What every phase works with.
struct Bench<'a> {
    runtime: &'a Runtime,
    redis: &'a RedisServer,
    scratch: &'a Path,
    plan: &'a Plan,
}

impl Bench<'_> {
    /// Starts a collector on a fresh directory, with fan-out when `fanout`.
    fn collector(&self, name: &str, fanout: bool, extra: &[&str]) -> anyhow::Result<Collector> {
        let log_dir = self.scratch.join(name);
        std::fs::create_dir(&log_dir).context("creating a log directory")?;
        let url = self.redis.url();
        let env: &[(&str, &str)] = if fanout { &[("REDIS_URL", &url)] } else { &[] };
        Ok(Collector::try_start_in(&log_dir, free_port(), extra, env)?)
    }

    /// (a) and (b): paced single-entry POSTs, both consumers attached.
    fn latency(&self) -> anyhow::Result<Latency> {
        progress("(a)/(b) single-entry POST /logs at 10,000 entries/s, Redis and SSE consumers");
        let collector = self.collector("latency", true, &[])?;
        let addr = collector.addr();
        let subscriber = receivers::subscribe(&self.redis.url(), ALL_CHANNEL, Mode::Record)?;
        let sse = receivers::sse(addr, "/logs/stream", Mode::Record)?;
        let emitters = (0..PACED_CONNECTIONS)
            .map(|_| HttpEmitter::connect(addr, LATENCY_SERVICE))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let before = self.cpu_snapshot(&collector)?;
        let acks = pacer::run(emitters, self.plan.latency);
        wait_for(&[&subscriber, &sse], acks.sent);
        let cpu = self.cpu_snapshot(&collector)?.since(&before);
        let (redis, sse) = (subscriber.finish(), sse.finish());
        Ok(Latency {
            redis: match_arrivals(&acks.acks, &redis.stamps),
            sse: Some(match_arrivals(&acks.acks, &sse.stamps)),
            consumer_errors: [redis.error, sse.error].into_iter().flatten().collect(),
            acks,
            cpu: Some(cpu),
        })
    }

    /// (a)'s baseline: `PUBLISH` straight to Redis at the same rate.
    fn floor(&self) -> anyhow::Result<Latency> {
        progress("(a) baseline: PUBLISH straight to Redis at 10,000 messages/s");
        let url = self.redis.url();
        let subscriber = receivers::subscribe(&url, FLOOR_CHANNEL, Mode::Record)?;
        let emitters = (0..PACED_CONNECTIONS)
            .map(|_| PublishEmitter::connect(&url, FLOOR_CHANNEL, LATENCY_SERVICE))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let acks = pacer::run(emitters, self.plan.floor);
        wait_for(&[&subscriber], acks.sent);
        let arrivals = subscriber.finish();
        Ok(Latency {
            redis: match_arrivals(&acks.acks, &arrivals.stamps),
            sse: None,
            consumer_errors: arrivals.error.into_iter().collect(),
            acks,
            cpu: None,
        })
    }

    /// One phase of (c), against its own collector.
    fn fanout_phase(&self, index: usize, on: bool) -> anyhow::Result<FanoutPhase> {
        let mode = if on { "on" } else { "off" };
        progress(&format!(
            "(c) NDJSON POST /logs, 1,000 entries per request, fan-out {mode} ({} of 4)",
            index + 1
        ));
        let name = format!("fanout-{index}");
        let collector = self.collector(&name, on, &["--rotate-bytes", "0"])?;
        let addr = collector.addr();
        let subscriber = on
            .then(|| receivers::subscribe(&self.redis.url(), ALL_CHANNEL, Mode::Count))
            .transpose()?;
        let body = workload::ndjson_batch(BATCH_SERVICE, BATCH_ENTRIES);
        let request = http::post(addr, "/logs", "application/x-ndjson", &body);
        let window = Window::after(self.plan.warmup, self.plan.measure);
        let before = self.cpu_snapshot(&collector)?;
        let load = load::closed_loop(addr, vec![request; BATCH_CONNECTIONS], 201, window);
        let sample = sample_fanout(addr, window, subscriber.as_ref());
        let (tally, sample) = self.runtime.block_on(async { tokio::join!(load, sample) });
        let sample = sample?;
        let cpu = self.cpu_snapshot(&collector)?.since(&before);
        let peak_rss_kib = collector.peak_rss_kib()?;
        let accepted = tally.ok_total * BATCH_ENTRIES as u64;
        let consumer_error = subscriber.and_then(|s| s.finish().error);
        drop(collector);
        std::fs::remove_dir_all(self.scratch.join(&name)).context("removing a log directory")?;
        let per_sec = |n: u64| n as f64 / self.plan.measure.as_secs_f64();
        Ok(FanoutPhase {
            on,
            entries_per_sec: per_sec(tally.ok * BATCH_ENTRIES as u64),
            tally,
            published_per_sec: per_sec(sample.published),
            skipped: sample.skipped,
            backlog: accepted.saturating_sub(sample.accounted),
            received_per_sec: sample.received.map(per_sec),
            peak_rss_kib,
            consumer_error,
            cpu,
        })
    }

    fn cpu_snapshot(&self, collector: &Collector) -> anyhow::Result<CpuSnapshot> {
        Ok(CpuSnapshot {
            collector: collector.cpu_time()?,
            redis: self.redis.cpu_time()?,
            bench: process::own_cpu_time()?,
            at: Instant::now(),
        })
    }
}

/// CPU time each process had used at one moment.
struct CpuSnapshot {
    collector: Duration,
    redis: Duration,
    /// This process: the load generator and the consumers.
    bench: Duration,
    at: Instant,
}

impl CpuSnapshot {
    /// What each used between `before` and this snapshot.
    fn since(&self, before: &CpuSnapshot) -> Cpu {
        Cpu {
            collector: self.collector.saturating_sub(before.collector),
            redis: Some(self.redis.saturating_sub(before.redis)),
            bench: self.bench.saturating_sub(before.bench),
            wall: self.at - before.at,
        }
    }
}

/// Waits until each receiver has seen `count` messages, or [`GRACE`] has passed.
fn wait_for(receivers: &[&Receiver], count: u64) {
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && receivers.iter().any(|r| r.received() < count) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the fan-out did inside a window.
struct FanoutSample {
    /// Entries the collector published to Redis (its `/health` counter).
    published: u64,
    /// Entries it skipped because Redis lagged.
    skipped: u64,
    /// Entries published or skipped since the collector started, at the window's end.
    accounted: u64,
    /// Messages the subscriber received, when there is one.
    received: Option<u64>,
}

/// The collector's fan-out counters and the subscriber's count, from `window`'s start to its
/// end, taken while the load runs.
async fn sample_fanout(
    addr: SocketAddr,
    window: Window,
    subscriber: Option<&Receiver>,
) -> anyhow::Result<FanoutSample> {
    let mut conn = Conn::connect(addr).await?;
    tokio::time::sleep_until(window.start.into()).await;
    let (published, skipped) = fanout_counters(&mut conn, addr).await?;
    let received = subscriber.map(Receiver::received);
    tokio::time::sleep_until(window.end.into()).await;
    let (published_end, skipped_end) = fanout_counters(&mut conn, addr).await?;
    Ok(FanoutSample {
        published: published_end - published,
        skipped: skipped_end - skipped,
        accounted: published_end + skipped_end,
        received: subscriber.zip(received).map(|(s, n)| s.received() - n),
    })
}

/// `(published, skipped)` from the collector's `/health` (zeros when fan-out is off).
async fn fanout_counters(conn: &mut Conn, addr: SocketAddr) -> anyhow::Result<(u64, u64)> {
    let reply = conn.send(&http::get(addr, "/health")).await?;
    let health: serde_json::Value =
        serde_json::from_slice(reply.body).context("parsing /health")?;
    let counter = |name: &str| health["fanout"][name].as_u64().unwrap_or(0);
    Ok((counter("published"), counter("skipped")))
}

fn progress(what: &str) {
    eprintln!("bench_realtime: {what}…");
}
