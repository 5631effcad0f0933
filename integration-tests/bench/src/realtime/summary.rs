//! What a `bench_realtime` run measured, and how it is printed: the table (with the
//! issue's targets), the details under it, and notes on the machine.

use std::time::Duration;

use super::delivery::Delivery;
use super::pacer::Acks;
use crate::load::Tally;
use crate::process::Cpu;
use crate::report::{self, count, millis, Latencies, Row};
use crate::run::Machine;

/// The latency target, for the p99 of (a) and (b).
const LATENCY_TARGET: Duration = Duration::from_millis(10);
/// The floor for fan-out-on over fan-out-off throughput.
const RATIO_TARGET: f64 = 0.8;

/// A paced phase and what its consumers saw.
pub struct Latency {
    /// The sends and their acknowledgements.
    pub acks: Acks,
    /// The Redis subscriber.
    pub redis: Delivery,
    /// The SSE client; `None` for the Redis-alone baseline.
    pub sse: Option<Delivery>,
    /// Consumers that stopped early, and why.
    pub consumer_errors: Vec<String>,
    /// CPU during the phase (not taken for the baseline).
    pub cpu: Option<Cpu>,
}

/// One phase of (c).
pub struct FanoutPhase {
    /// Whether fan-out was on.
    pub on: bool,
    /// Entries acknowledged per second in the window.
    pub entries_per_sec: f64,
    /// The answers.
    pub tally: Tally,
    /// Entries per second the collector published to Redis in the window (its `/health`
    /// counter): whether the fan-out keeps up with ingestion.
    pub published_per_sec: f64,
    /// Entries it skipped in the window because Redis lagged.
    pub skipped: u64,
    /// Entries stored but neither published nor skipped yet when the load stopped: the
    /// publisher's queue.
    pub backlog: u64,
    /// The collector's peak RSS at the end of the phase, in KiB.
    pub peak_rss_kib: u64,
    /// Messages per second the subscriber on `logs:all` received, when fan-out was on.
    pub received_per_sec: Option<f64>,
    /// Why the subscriber stopped early, if it did.
    pub consumer_error: Option<String>,
    /// CPU during the phase.
    pub cpu: Cpu,
}

/// Everything a run measured.
pub struct Results {
    /// (a) and (b).
    pub latency: Latency,
    /// (a)'s baseline: Redis alone.
    pub floor: Latency,
    /// (c), in the order run.
    pub fanout: Vec<FanoutPhase>,
}

impl Results {
    /// Ingested entries per second, averaged over the phases with fan-out `on`.
    fn ingested(&self, on: bool) -> f64 {
        self.mean(on, |p| p.entries_per_sec)
    }

    fn mean(&self, on: bool, rate: impl Fn(&FanoutPhase) -> f64) -> f64 {
        let phases: Vec<&FanoutPhase> = self.fanout.iter().filter(|p| p.on == on).collect();
        phases.iter().map(|p| rate(p)).sum::<f64>() / phases.len().max(1) as f64
    }
}

/// How the run was made.
pub struct RunNotes {
    /// The paced rate of (a) and (b).
    pub rate: f64,
    /// The window of (a) and (b).
    pub latency_window: Duration,
    /// Each window of (c).
    pub fanout_window: Duration,
    /// The machine and its load around the run.
    pub machine: Machine,
}

/// Prints the table, the details and the machine notes as markdown.
pub fn print(results: &Results, notes: &RunNotes) {
    println!("{}", report::table(&rows(results)));
    print_latency_details(results, notes);
    print_fanout_details(results, notes);
    println!(
        "{}",
        notes.machine.note(
            "The load generator, the consumers, the collector and redis-server share these cores."
        )
    );
}

fn rows(results: &Results) -> Vec<Row> {
    let latency = &results.latency;
    let sse = latency
        .sse
        .as_ref()
        .expect("the collector phase has an SSE client");
    let post = round_trips(&latency.acks);
    let (on, off) = (results.ingested(true), results.ingested(false));
    let ratio = on / off.max(1.0);
    let published = results.mean(true, |p| p.published_per_sec);
    vec![
        latency_row(
            "(a) Redis subscriber on `logs:all`: 201 read → entry arrived, p50 / p99, 10,000 entries/s",
            &latency.redis,
            format!(
                "Redis alone, PUBLISH sent → arrived: {}",
                results.floor.redis.after_send.p50_p99()
            ),
        ),
        latency_row(
            "(b) SSE client on `/logs/stream`: 201 read → entry arrived, p50 / p99, 10,000 entries/s",
            sse,
            format!("the POST itself, sent → 201 read: {}", post.p50_p99()),
        ),
        Row {
            metric: "(c) NDJSON POST /logs, 1,000 entries per request, 4 connections: fan-out on \
                     (`REDIS_URL`, 1 subscriber on `logs:all`) vs off"
                .into(),
            estuary: format!(
                "on: {} entries/s (**{ratio:.2}×**), of which published to Redis meanwhile: {} entries/s",
                count(on),
                count(published)
            ),
            baseline: format!("off: {} entries/s", count(off)),
            target: "≥ 0.8×",
            met: Some(ratio >= RATIO_TARGET),
            peers: "— (no fan-out figures; Vector's file sink: ~112,000 entries/s)",
        },
    ]
}

fn latency_row(metric: &str, delivery: &Delivery, baseline: String) -> Row {
    let complete = delivery.arrived == delivery.expected && delivery.expected > 0;
    Row {
        metric: metric.into(),
        estuary: delivery.after_ack.p50_p99(),
        baseline,
        target: "p99 ≤ 10 ms",
        met: Some(complete && delivery.after_ack.percentile(99.0) <= LATENCY_TARGET),
        peers: "—",
    }
}

/// Send → acknowledgement of every recorded message.
fn round_trips(acks: &Acks) -> Latencies {
    let mut latencies = Latencies::default();
    for ack in &acks.acks {
        latencies.record(ack.acked - ack.sent);
    }
    latencies
}

fn print_latency_details(results: &Results, notes: &RunNotes) {
    let latency = &results.latency;
    println!(
        "Details of (a) and (b): {} single-entry POSTs paced at {} entries/s over 4 connections \
         in a {:.1} s window (after a warm-up); {}. {}.\n",
        count(latency.acks.acks.len() as f64),
        count(notes.rate),
        notes.latency_window.as_secs_f64(),
        send_note(&latency.acks),
        latency.cpu.map_or_else(String::new, |cpu| cpu.note())
    );
    println!("{}", consumer_line("(a) Redis subscriber", &latency.redis));
    if let Some(sse) = &latency.sse {
        println!("{}", consumer_line("(b) SSE client", sse));
    }
    println!(
        "{}",
        consumer_line(
            "(a) baseline, Redis alone (PUBLISH reply instead of 201)",
            &results.floor.redis
        )
    );
    for error in latency
        .consumer_errors
        .iter()
        .chain(&results.floor.consumer_errors)
    {
        println!("- **consumer stopped early**: {error}");
    }
}

fn send_note(acks: &Acks) -> String {
    let late = 100.0 * acks.late as f64 / acks.sent.max(1) as f64;
    let errors = match &acks.first_error {
        None => "0 errors".into(),
        Some(first) => format!("**{} errors**, first: `{first}`", acks.errors),
    };
    format!("{late:.1}% of sends more than 1 ms behind schedule, {errors}")
}

fn consumer_line(name: &str, delivery: &Delivery) -> String {
    let quantiles = |l: &Latencies| {
        format!(
            "p50 {}, p99 {}, p99.9 {}, max {}",
            millis(l.percentile(50.0)),
            millis(l.percentile(99.0)),
            millis(l.percentile(99.9)),
            millis(l.percentile(100.0))
        )
    };
    format!(
        "- {name}: {} of {} arrived ({} twice), {} before their acknowledgement was read; \
         after the acknowledgement {}; after the send {}.",
        count(delivery.arrived as f64),
        count(delivery.expected as f64),
        delivery.repeated,
        count(delivery.before_ack as f64),
        quantiles(&delivery.after_ack),
        quantiles(&delivery.after_send)
    )
}

fn print_fanout_details(results: &Results, notes: &RunNotes) {
    println!(
        "\nDetails of (c) ({:.1} s window after a warm-up per phase, a fresh collector with \
         `--rotate-bytes 0` each; only 201s count):\n",
        notes.fanout_window.as_secs_f64()
    );
    println!(
        "| phase | fan-out | ingested entries/s | errors | published to Redis, entries/s | skipped | \
         not yet published when the load stopped | received by the subscriber, messages/s | \
         collector peak RSS | CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, phase) in results.fanout.iter().enumerate() {
        let received = match (phase.received_per_sec, &phase.consumer_error) {
            (None, _) => "—".to_owned(),
            (Some(rate), None) => count(rate),
            (Some(rate), Some(err)) => format!("{} (**stopped early**: {err})", count(rate)),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {received} | {:.0} MiB | {} |",
            i + 1,
            if phase.on { "on" } else { "off" },
            count(phase.entries_per_sec),
            phase.tally.errors,
            count(phase.published_per_sec),
            count(phase.skipped as f64),
            if phase.on {
                count(phase.backlog as f64)
            } else {
                "—".into()
            },
            phase.peak_rss_kib as f64 / 1024.0,
            phase.cpu.note()
        );
    }
}
