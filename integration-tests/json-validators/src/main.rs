//! Would a SIMD JSON validator pay for itself in the collector's ingest path (issue 16)?
//!
//! ```text
//! cargo run --release --manifest-path integration-tests/json-validators/Cargo.toml
//! ```
//!
//! On the entries `bench_collector` posts (1,000 × ~200 bytes, the NDJSON of phase (b)), it
//! times, in one process and alternating rounds, per entry:
//!
//! - the collector's whole body parse (`estuary_collector::body::parse_body`: UTF-8 check,
//!   line split, each line validated while `service`, `timestamp` and `level` are read);
//! - validation alone with `serde_json` (what the parse spends on the bytes it skips);
//! - validation alone with `sonic-rs` and with `simd-json` (which needs a mutable copy).
//!
//! A SIMD validator could at most replace the `serde_json` part; the answer is whether the
//! difference is worth a second JSON library in the collector.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

const ROUNDS: usize = 5;
const BODIES_PER_ROUND: usize = 400;

fn main() {
    let body = estuary_benches::workload::ndjson_batch("svc", 1000);
    let lines: Vec<&[u8]> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let entries = (lines.len() * BODIES_PER_ROUND * ROUNDS) as f64;
    let mut totals = [Duration::ZERO; 4];
    for _ in 0..ROUNDS {
        totals[0] += time(|| {
            let parsed = estuary_collector::body::parse_body(
                &body,
                estuary_collector::body::BodyFormat::Ndjson,
                1 << 20,
                "2026-12-02T00:00:00Z",
            )
            .expect("valid");
            black_box(parsed);
        });
        totals[1] += time(|| {
            for line in &lines {
                black_box(serde_json::from_slice::<IgnoredAny>(line).expect("valid"));
            }
        });
        totals[2] += time(|| {
            for line in &lines {
                black_box(sonic_rs::from_slice::<IgnoredAny>(line).expect("valid"));
            }
        });
        let mut copy = Vec::with_capacity(512);
        totals[3] += time(|| {
            for line in &lines {
                copy.clear();
                copy.extend_from_slice(line);
                black_box(simd_json::from_slice::<IgnoredAny>(&mut copy).expect("valid"));
            }
        });
    }
    let names = [
        "collector parse_body (validate + read service/timestamp/level)",
        "serde_json validation only",
        "sonic-rs validation only",
        "simd-json validation only (with the copy it needs)",
    ];
    println!("| per ~200-byte entry | ns | share of the collector's parse |");
    println!("|---|---|---|");
    let whole = totals[0].as_nanos() as f64 / entries;
    for (name, total) in names.iter().zip(totals) {
        let ns = total.as_nanos() as f64 / entries;
        println!("| {name} | {ns:.0} | {:.0} % |", ns / whole * 100.0);
    }
}

/// Time for [`BODIES_PER_ROUND`] runs of `work`.
fn time(mut work: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..BODIES_PER_ROUND {
        work();
    }
    start.elapsed()
}
