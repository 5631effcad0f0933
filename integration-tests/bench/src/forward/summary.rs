//! What a `bench_forward` run measured, and how it is printed: the table (with the issue's
//! targets), the details under it, and notes on the machine.

use std::time::{Duration, Instant};

use estuary_test_support::fake_sink::Counts;

use super::stored::{Layout, ReadBack};
use crate::load::Tally;
use crate::process::Cpu;
use crate::report::{self, count, size, Row};
use crate::run::Machine;

/// The forwarding target, entries per second.
const FORWARD_TARGET: f64 = 500_000.0;
/// The floor for ingestion with a forwarder over ingestion without.
const RATIO_TARGET: f64 = 0.8;

/// How the stored entries were produced.
pub struct Preload {
    /// Entries stored.
    pub entries: u64,
    /// Time to POST them all.
    pub took: Duration,
    /// How they lie on disk.
    pub layout: Layout,
    /// Whether every rotated segment was compressed before the collector was stopped.
    pub settled: bool,
}

/// One forwarding phase: a collector restarted over the stored entries with one forwarder.
pub struct ForwardPhase {
    /// The destination, as shown in the table.
    pub destination: &'static str,
    /// Entries stored, all of which should arrive.
    pub entries: u64,
    /// What the fake received.
    pub counts: Counts,
    /// Whether all entries arrived before the fake stalled.
    pub complete: bool,
    /// When the collector was spawned: the clock starts there.
    pub began: Instant,
    /// When `/health` first answered, after `began`.
    pub healthy_after: Duration,
    /// The forwarder's `/health` entry at the end.
    pub health: serde_json::Value,
    /// CPU during the phase.
    pub cpu: Cpu,
}

impl ForwardPhase {
    /// From the collector's spawn to the last entry counted.
    fn elapsed(&self) -> Option<Duration> {
        self.counts.last_counted.map(|at| at - self.began)
    }

    /// Entries counted per second, start-up included.
    fn per_sec(&self) -> f64 {
        let secs = self.elapsed().map_or(f64::INFINITY, |d| d.as_secs_f64());
        self.counts.entries as f64 / secs.max(1e-9)
    }

    /// The target, with every entry counted by the fake and acknowledged in `/health`, the
    /// wire format checked, and no error.
    fn met(&self) -> bool {
        self.complete
            && self.health["sent_entries"].as_u64() >= Some(self.entries)
            && self.counts.checked
            && self.counts.errors == 0
            && self.per_sec() >= FORWARD_TARGET
    }
}

/// One ingestion phase, with a Loki forwarder or without.
pub struct IngestPhase {
    /// Whether the forwarder was on.
    pub on: bool,
    /// Entries acknowledged per second in the window.
    pub entries_per_sec: f64,
    /// The answers.
    pub tally: Tally,
    /// Entries accepted, warm-up included.
    pub accepted: u64,
    /// Entries the forwarder had sent when the load stopped (its `/health` counter).
    pub forwarded: u64,
    /// How long after the load the forwarder had sent everything, if it did in time.
    pub drained_in: Option<Duration>,
    /// CPU during the load.
    pub cpu: Cpu,
}

/// Everything a run measured.
pub struct Results {
    /// How the stored entries were produced.
    pub preload: Preload,
    /// The stored files read back without the collector.
    pub read_back: ReadBack,
    /// (1), one phase per destination.
    pub forwarding: Vec<ForwardPhase>,
    /// (2), in the order run.
    pub ingest: Vec<IngestPhase>,
}

impl Results {
    fn ingested(&self, on: bool) -> f64 {
        let phases: Vec<&IngestPhase> = self.ingest.iter().filter(|p| p.on == on).collect();
        phases.iter().map(|p| p.entries_per_sec).sum::<f64>() / phases.len().max(1) as f64
    }
}

/// How the run was made.
pub struct RunNotes {
    /// Each ingestion window.
    pub window: Duration,
    /// The machine and its load around the run.
    pub machine: Machine,
}

/// Prints the table, the details and the machine notes as markdown.
pub fn print(results: &Results, notes: &RunNotes) {
    println!("{}", report::table(&rows(results)));
    print_forward_details(results);
    print_ingest_details(results, notes);
    println!(
        "{}",
        notes
            .machine
            .note("The load generator, the fake destination and the collector share these cores.")
    );
}

fn rows(results: &Results) -> Vec<Row> {
    let floor = format!(
        "the stored files read back (gunzip + split lines, 1 thread): {} entries/s",
        count(results.read_back.per_sec())
    );
    let mut rows: Vec<Row> = results
        .forwarding
        .iter()
        .map(|phase| Row {
            metric: format!(
                "(1) forwarding {} stored entries to {}, collector restart → last entry counted",
                count(phase.entries as f64),
                phase.destination
            ),
            estuary: match phase.elapsed() {
                Some(took) if phase.complete => format!(
                    "{} entries/s ({:.2} s)",
                    count(phase.per_sec()),
                    took.as_secs_f64()
                ),
                _ => format!(
                    "**incomplete**: {} of {} arrived",
                    count(phase.counts.entries as f64),
                    count(phase.entries as f64)
                ),
            },
            baseline: floor.clone(),
            target: "≥ 500,000 entries/s",
            met: Some(phase.met()),
            peers: "—",
        })
        .collect();
    let (on, off) = (results.ingested(true), results.ingested(false));
    let ratio = on / off.max(1.0);
    rows.push(Row {
        metric: "(2) NDJSON POST /logs, 1,000 entries per request, 4 connections: one Loki \
                 forwarder on vs none"
            .into(),
        estuary: format!("on: {} entries/s (**{ratio:.2}×**)", count(on)),
        baseline: format!("none: {} entries/s", count(off)),
        target: "≥ 0.8×",
        met: Some(ratio >= RATIO_TARGET),
        peers: "—",
    });
    rows
}

fn print_forward_details(results: &Results) {
    let preload = &results.preload;
    let layout = &preload.layout;
    println!(
        "Details of (1): {} entries (~200 bytes, each with a random hex id; 90% `INFO`, 10% \
         `WARN`, so each Loki push carries two streams) were stored by POSTing NDJSON to a collector without forwarders \
         ({} entries/s, 4 connections) with its default rotation and gzip: {} segments ({} \
         compressed{}, {} on disk) and an active file of {}. Read back: {} lines, {} \
         uncompressed, in {:.2} s. For each phase the collector was restarted on that \
         directory with one forwarder and no checkpoint, so it forwards everything from the \
         first stored byte with its default batching (10,000 entries / 4 MiB); the clock runs \
         from the spawn to the fake's count of the last entry.\n",
        count(preload.entries as f64),
        count(preload.entries as f64 / preload.took.as_secs_f64().max(1e-9)),
        layout.segments,
        layout.compressed,
        if preload.settled {
            ""
        } else {
            " — **not all were compressed when it was stopped**"
        },
        size(layout.segment_bytes),
        size(layout.active_bytes),
        count(results.read_back.entries as f64),
        size(results.read_back.bytes),
        results.read_back.took.as_secs_f64(),
    );
    for phase in &results.forwarding {
        println!("{}", forward_line(phase));
    }
}

fn forward_line(phase: &ForwardPhase) -> String {
    let counts = &phase.counts;
    let since = |at: Option<Instant>| at.map_or(Duration::ZERO, |t| t - phase.began);
    let first = since(counts.first_request);
    let steady =
        counts.entries as f64 / (since(counts.last_counted) - first).as_secs_f64().max(1e-9);
    let per_entry = |bytes: u64| bytes as f64 / counts.entries.max(1) as f64;
    let errors = match &counts.first_error {
        None => "0 errors".to_owned(),
        Some(first) => format!("**{} errors**, first: `{first}`", counts.errors),
    };
    let health = &phase.health;
    let cpu_per_million = |cpu: Duration| cpu.as_secs_f64() * 1e6 / counts.entries.max(1) as f64;
    format!(
        "- {}: healthy after {:.0} ms, first request after {:.0} ms, then {} entries/s; {} \
         requests of {:.0} bytes per entry on the wire ({:.0} decoded); wire format of the \
         first body {}; {errors}. `/health`: sent_entries {}, rejected_entries {}, retries {}. \
         CPU: collector {:.2} s ({:.2} s per million entries), bench process (the fake) {:.2} s.",
        phase.destination,
        phase.healthy_after.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        count(steady),
        count(counts.requests as f64),
        per_entry(counts.body_bytes),
        per_entry(counts.decoded_bytes),
        if counts.checked {
            "checked"
        } else {
            "**not checked**"
        },
        health["sent_entries"],
        health["rejected_entries"],
        health["retries"],
        phase.cpu.collector.as_secs_f64(),
        cpu_per_million(phase.cpu.collector),
        phase.cpu.bench.as_secs_f64(),
    )
}

fn print_ingest_details(results: &Results, notes: &RunNotes) {
    println!(
        "\nDetails of (2) ({:.1} s window after a warm-up per phase, a fresh collector with \
         `--rotate-bytes 0` each, in the order none, on, on, none so that drift on the shared \
         machine cancels out; only 201s count). With the forwarder on, the fake Loki only \
         reads each body and answers 204, without decoding, to take as little CPU as it can \
         from the collector on this 2-core machine:\n",
        notes.window.as_secs_f64()
    );
    println!(
        "| phase | forwarder | ingested entries/s | errors | sent by the forwarder when the \
         load stopped | all sent after | CPU |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, phase) in results.ingest.iter().enumerate() {
        let (sent, drained) = if phase.on {
            let share = 100.0 * phase.forwarded as f64 / phase.accepted.max(1) as f64;
            let drained = phase
                .drained_in
                .map_or("**not within 5 s**".to_owned(), |d| {
                    format!("{:.2} s", d.as_secs_f64())
                });
            (
                format!(
                    "{} of {} ({share:.0}%)",
                    count(phase.forwarded as f64),
                    count(phase.accepted as f64)
                ),
                drained,
            )
        } else {
            ("—".to_owned(), "—".to_owned())
        };
        println!(
            "| {} | {} | {} | {} | {sent} | {drained} | {} |",
            i + 1,
            if phase.on { "Loki" } else { "none" },
            count(phase.entries_per_sec),
            phase.tally.errors,
            phase.cpu.note()
        );
    }
}
