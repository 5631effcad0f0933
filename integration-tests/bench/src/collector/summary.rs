//! What a run measured, and how it is printed: the table (with the targets and the
//! peers' figures from `PEERS.md`), the details under it, and notes on the machine.

use std::time::Duration;

use crate::baseline::RawWrite;
use crate::load::Tally;
use crate::report::{self, count, millis, Latencies, Row};
use crate::run::Machine;
use crate::workload::Generated;

/// One load phase: its answers and the CPU both sides spent on them.
pub struct Throughput {
    /// The answers.
    pub tally: Tally,
    /// Answers (or entries, for batches) counted inside the window, per second (the mean
    /// over `runs`).
    pub per_sec: f64,
    /// How many runs of the phase this combines.
    pub runs: u32,
    /// CPU the collector used during the phase, warm-up included.
    pub collector_cpu: Duration,
    /// CPU the load generator (this process) used during the phase.
    pub generator_cpu: Duration,
    /// CPU `redis-server` used during the phase (none with fan-out off).
    pub redis_cpu: Duration,
    /// Voluntary context switches of the collector's threads during the phase.
    pub collector_switches: u64,
    /// The phase's wall-clock time, warm-up included.
    pub wall: Duration,
}

impl Throughput {
    /// Runs of the same phase as one: answers and CPU added up, rates averaged.
    pub fn combine(mut self, other: Throughput) -> Throughput {
        let tally = &mut self.tally;
        tally.ok += other.tally.ok;
        tally.ok_total += other.tally.ok_total;
        tally.errors += other.tally.errors;
        if tally.first_error.is_none() {
            tally.first_error = other.tally.first_error;
        }
        tally.latencies.extend(other.tally.latencies);
        Throughput {
            tally: self.tally,
            per_sec: (self.per_sec * f64::from(self.runs) + other.per_sec * f64::from(other.runs))
                / f64::from(self.runs + other.runs),
            runs: self.runs + other.runs,
            collector_cpu: self.collector_cpu + other.collector_cpu,
            generator_cpu: self.generator_cpu + other.generator_cpu,
            redis_cpu: self.redis_cpu + other.redis_cpu,
            collector_switches: self.collector_switches + other.collector_switches,
            wall: self.wall + other.wall,
        }
    }

    /// Answers in all (warm-up included, like the CPU and switch counts).
    fn answers(&self) -> f64 {
        self.tally.ok_total.max(1) as f64
    }

    /// Microseconds of `cpu` per answer.
    fn per_answer(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.answers()
    }

    /// CPU per answer of every process on these cores: collector, load generator, Redis.
    fn total_per_answer(&self) -> f64 {
        self.per_answer(self.collector_cpu + self.generator_cpu + self.redis_cpu)
    }

    /// CPU per answer and cores used by each side.
    fn cpu_note(&self) -> String {
        let cores = |cpu: Duration| cpu.as_secs_f64() / self.wall.as_secs_f64();
        let mut note = format!(
            "collector {:.1} µs CPU per request ({:.2} cores), load generator {:.1} µs ({:.2} cores)",
            self.per_answer(self.collector_cpu),
            cores(self.collector_cpu),
            self.per_answer(self.generator_cpu),
            cores(self.generator_cpu)
        );
        note += &format!(
            ", {:.3} voluntary context switches per request in the collector",
            self.collector_switches as f64 / self.answers()
        );
        if !self.redis_cpu.is_zero() {
            note += &format!(
                ", redis-server {:.1} µs ({:.2} cores)",
                self.per_answer(self.redis_cpu),
                cores(self.redis_cpu)
            );
        }
        note
    }

    fn error_note(&self) -> String {
        match &self.tally.first_error {
            None => "0 errors".into(),
            Some(first) => format!("**{} errors**, first: `{first}`", self.tally.errors),
        }
    }

    fn details(&self, name: &str) -> String {
        format!(
            "- {name}: {} answers counted, {}; latency p50/p99 {}; {}.",
            count(self.tally.ok as f64),
            self.error_note(),
            self.tally.latencies.p50_p99(),
            self.cpu_note()
        )
    }
}

/// Everything measured against the collector with default settings.
pub struct Results {
    /// (a)'s baseline: `GET /health`.
    pub health: Throughput,
    /// (a): single-entry POSTs, fan-out on.
    pub single: Throughput,
    /// (a′): single-entry POSTs, fan-out off.
    pub single_off: Throughput,
    /// (b)'s baseline.
    pub raw: RawWrite,
    /// (b): NDJSON batches, fan-out on.
    pub batch: Throughput,
    /// (b″): NDJSON batches, fan-out off.
    pub batch_off: Throughput,
    /// What fan-out did during (a) and (b).
    pub fanout: FanoutCounts,
    /// (b′): NDJSON batches against a collector with `--fsync batch`, when run.
    pub fsync_batch: Option<Throughput>,
    /// (c) and its baselines.
    pub queries: Queries,
    /// (d)'s baseline: peak RSS right after start-up, in KiB.
    pub start_rss_kib: u64,
    /// (d): peak RSS after the load phases (a) and (b), in KiB.
    pub load_rss_kib: u64,
    /// (d): peak RSS after (a)–(c), in KiB.
    pub peak_rss_kib: u64,
    /// (a‴): single-entry POSTs with fan-out on and off, each collector on one pinned
    /// worker, when the machine has two CPUs for it.
    pub steady: Option<Steady>,
}

/// Fan-out on and off measured with each collector on one tokio worker pinned to a CPU of
/// its own, and the load generator and `redis-server` on another: the collector is then
/// the bottleneck, and its CPU per request is not moved by what the scheduler puts beside
/// it (with two workers sharing two cores with the load, the collector falls into a slow
/// state of frequent parking for whole phases, on either side of a pair).
pub struct Steady {
    /// Fan-out on.
    pub on: Throughput,
    /// Fan-out off.
    pub off: Throughput,
}

/// The fan-out-on collector's Redis publishing over the load phases.
pub struct FanoutCounts {
    /// Entries published to Redis.
    pub published: u64,
    /// Entries skipped (over the rate cap, queue full, Redis down).
    pub skipped: u64,
    /// CPU `redis-server` used over the whole run.
    pub redis_cpu: Duration,
}

/// (c): tail-query latencies and their baselines.
pub struct Queries {
    /// Queries from one client.
    pub one: Tally,
    /// Queries from several clients at once.
    pub many: Tally,
    /// Baseline: `tail -n 100` of the file.
    pub tail_command: Latencies,
    /// Baseline: reading the last 64 KiB of the file.
    pub tail_read: Latencies,
}

/// How the run was made, for the reader to judge the figures.
pub struct RunNotes {
    /// The generated log (c) queried.
    pub generated: Generated,
    /// Warm-up before each load phase's window.
    pub warmup: Duration,
    /// Each load phase's window.
    pub measure: Duration,
    /// The machine and its load around the run.
    pub machine: Machine,
}

/// Prints the table, the details and the machine notes as markdown.
pub fn print(results: &Results, notes: &RunNotes) {
    println!("{}", report::table(&rows(results, &notes.generated)));
    print_details(results, notes);
    println!(
        "{}",
        notes
            .machine
            .note("The load generator (one thread) shares these cores with the collector.")
    );
}

fn rows(results: &Results, generated: &Generated) -> Vec<Row> {
    let mut rows = vec![
        single_row(results),
        fanout_cost_row(
            "(a′) fan-out cost, single entries",
            &results.single,
            &results.single_off,
            "req/s",
        ),
    ];
    if let Some(steady) = &results.steady {
        rows.push(fanout_cost_row(
            "(a‴) fan-out cost, single entries, each collector on one worker pinned to its own core",
            &steady.on,
            &steady.off,
            "req/s",
        ));
    }
    rows.extend([
        batch_row(results),
        fanout_cost_row(
            "(b″) fan-out cost, NDJSON batches",
            &results.batch,
            &results.batch_off,
            "entries/s",
        ),
    ]);
    if let Some(fsync) = &results.fsync_batch {
        rows.push(Row {
            metric: "(b′) the same with `--fsync batch`".into(),
            estuary: format!("{} entries/s", count(fsync.per_sec)),
            baseline: format!(
                "raw write, final fdatasync included: {} entries/s",
                count(results.raw.synced_entries_per_sec)
            ),
            target: "—",
            met: None,
            peers: "Vector ~112,000 (without a sync per batch)",
        });
    }
    rows.extend(query_rows(results, generated));
    rows.push(Row {
        metric: "(d) collector peak RSS (VmHWM) after the load phases (a), (b)".into(),
        estuary: mib(results.load_rss_kib),
        baseline: format!("right after start-up: {}", mib(results.start_rss_kib)),
        target: "≤ 32 MiB",
        met: Some(results.load_rss_kib <= 32 * 1024),
        peers: "Vector ~75–85 MiB",
    });
    rows.push(Row {
        metric: "(d′) the same after all of the above".into(),
        estuary: mib(results.peak_rss_kib),
        baseline: format!("right after start-up: {}", mib(results.start_rss_kib)),
        target: "≤ 64 MiB",
        met: Some(results.peak_rss_kib <= 64 * 1024),
        peers: "Vector ~75–85 MiB; gunicorn ~620 MiB; Flask ~1 GiB",
    });
    rows
}

fn single_row(results: &Results) -> Row {
    let ratio = results.single.per_sec / results.health.per_sec.max(1.0);
    Row {
        metric: "(a) single-entry POST /logs, 64 connections, 8 services, fan-out on".into(),
        estuary: format!("{} req/s ({ratio:.2}× /health)", count(results.single.per_sec)),
        baseline: format!("GET /health: {} req/s", count(results.health.per_sec)),
        target: "≥ 0.6× GET /health",
        met: Some(ratio >= 0.6),
        peers: "Vector ~43,000 (ack before write), ~32,000 (ack after write); gunicorn ~3,700; Flask ~1,100",
    }
}

/// What turning fan-out on cost, against the same phase with it off.
fn fanout_cost_row(metric: &str, on: &Throughput, off: &Throughput, unit: &str) -> Row {
    let cost = 1.0 - on.per_sec / off.per_sec.max(1.0);
    Row {
        metric: metric.into(),
        estuary: format!(
            "fan-out on: {} {unit} ({:+.1} %)",
            count(on.per_sec),
            -cost * 100.0
        ),
        baseline: format!("fan-out off: {} {unit}", count(off.per_sec)),
        target: "≤ 10 %",
        met: Some(cost <= 0.10),
        peers: "—",
    }
}

/// Fan-out's cost as CPU rather than throughput: steadier on a shared machine, and what the
/// throughput cost tends to when the cores are saturated.
fn fanout_cpu_note(name: &str, on: &Throughput, off: &Throughput) -> String {
    format!(
        "- Fan-out's CPU, {name}: collector {:.1} µs per request on against {:.1} off, \
         redis-server {:.1} µs; all processes on these cores {:+.1} % per request.",
        on.per_answer(on.collector_cpu),
        off.per_answer(off.collector_cpu),
        on.per_answer(on.redis_cpu),
        (on.total_per_answer() / off.total_per_answer().max(f64::MIN_POSITIVE) - 1.0) * 100.0
    )
}

fn batch_row(results: &Results) -> Row {
    Row {
        metric: "(b) NDJSON POST /logs, 1,000 entries per request, 8 connections, fan-out on"
            .into(),
        estuary: format!("{} entries/s", count(results.batch.per_sec)),
        baseline: format!(
            "raw write: {} entries/s",
            count(results.raw.entries_per_sec)
        ),
        target: "≥ 2,000,000 entries/s",
        met: Some(results.batch.per_sec >= 2_000_000.0),
        peers: "Vector ~112,000; Flask/gunicorn: not supported",
    }
}

fn query_rows(results: &Results, generated: &Generated) -> [Row; 2] {
    let (one, many) = (
        &results.queries.one.latencies,
        &results.queries.many.latencies,
    );
    let p50_p99 = |l: &Latencies| {
        format!(
            "{} ({})",
            millis(l.percentile(50.0)),
            millis(l.percentile(99.0))
        )
    };
    [
        Row {
            metric: format!(
                "(c) GET /logs/<service>?limit=100 on a {} log, p50 (p99), 1 client",
                report::size(generated.bytes)
            ),
            estuary: p50_p99(one),
            baseline: format!(
                "`tail -n 100`: {}; read of the last 64 KiB: {}",
                p50_p99(&results.queries.tail_command),
                p50_p99(&results.queries.tail_read)
            ),
            target: "≤ 5 ms median",
            met: Some(one.percentile(50.0) <= Duration::from_millis(5)),
            peers: "Flask ~200 ms alone (200 MB log)",
        },
        Row {
            metric: "(c′) the same, 4 concurrent clients".into(),
            estuary: p50_p99(many),
            baseline: "—".into(),
            target: "—",
            met: None,
            peers: "p50: Flask ~900 ms, gunicorn ~400 ms (200 MB log)",
        },
    ]
}

fn print_details(results: &Results, notes: &RunNotes) {
    println!(
        "Details ({:.1} s window after a {:.1} s warm-up per load phase; only 201s count):\n",
        notes.measure.as_secs_f64(),
        notes.warmup.as_secs_f64()
    );
    println!("{}", results.health.details("(a) baseline GET /health"));
    println!(
        "{}",
        results.single.details("(a) single-entry POST, fan-out on")
    );
    println!(
        "{}",
        results
            .single_off
            .details("(a′) single-entry POST, fan-out off")
    );
    println!(
        "{}",
        results
            .batch
            .details("(b) NDJSON POST, fan-out on (per 1,000-entry request)")
    );
    println!(
        "{}",
        results
            .batch_off
            .details("(b″) NDJSON POST, fan-out off (per 1,000-entry request)")
    );
    let fanout = &results.fanout;
    println!(
        "- Fan-out over (a) and (b): {} entries published to Redis, {} skipped (over the \
         publish rate cap or the queue bound); redis-server used {:.1} s of CPU.",
        count(fanout.published as f64),
        count(fanout.skipped as f64),
        fanout.redis_cpu.as_secs_f64()
    );
    for (name, on, off) in [
        ("single entries", &results.single, &results.single_off),
        ("NDJSON batches", &results.batch, &results.batch_off),
    ] {
        println!("{}", fanout_cpu_note(name, on, off));
    }
    if let Some(steady) = &results.steady {
        let name = "(a‴) single-entry POST, one pinned worker";
        println!("{}", steady.on.details(&format!("{name}, fan-out on")));
        println!("{}", steady.off.details(&format!("{name}, fan-out off")));
        let note = fanout_cpu_note(
            "single entries on one pinned worker",
            &steady.on,
            &steady.off,
        );
        println!("{note}");
    }
    if let Some(fsync) = &results.fsync_batch {
        println!("{}", fsync.details("(b′) NDJSON POST, --fsync batch"));
    }
    println!(
        "- (b) raw-write baseline: {} written in 1,000-entry bodies, then one fdatasync.",
        report::size(results.raw.bytes)
    );
    let generated = &notes.generated;
    println!(
        "- (c) log: {} lines ({}), generated and synced in {:.1} s before the collector started; \
         it stays in the page cache, like a log being written. {} + {} queries, {} errors.",
        count(generated.lines as f64),
        report::size(generated.bytes),
        generated.took.as_secs_f64(),
        results.queries.one.latencies.len(),
        results.queries.many.latencies.len(),
        results.queries.one.errors + results.queries.many.errors,
    );
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
