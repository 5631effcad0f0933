//! Forwarding to Loki and Elasticsearch, against fake destinations (recording
//! `support::fake_sink`s) that check the wire format and can be told to fail.

mod elasticsearch;
mod loki;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{wait_until, Collector};

/// How long a test waits for entries to arrive.
const ARRIVAL: Duration = Duration::from_secs(30);

/// The `n` values a fake accepted.
type Accepted = Arc<Mutex<BTreeSet<u64>>>;

/// Starts a collector forwarding with short waits and retries, plus `args`.
fn start(args: &[&str]) -> Collector {
    let mut all = vec![
        "--forward-batch-wait-ms",
        "10",
        "--forward-retry-min-ms",
        "10",
        "--forward-retry-max-ms",
        "100",
    ];
    all.extend_from_slice(args);
    Collector::start_with(&all, &[])
}

/// The `/health` entry of forwarder `name`.
fn forwarder(collector: &Collector, name: &str) -> Value {
    let (status, health) = collector.get("/health");
    assert_eq!(status, 200);
    health["forwarders"]
        .as_array()
        .and_then(|list| list.iter().find(|f| f["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no forwarder {name} in {health}"))
}

/// Entries `range` of `service`, with `n` and a timestamp that goes *down* as `n` goes up
/// (so a forwarder must sort them for Loki).
fn entries(service: &str, range: std::ops::Range<u64>) -> Value {
    Value::Array(
        range
            .map(|n| {
                let ms = 999_999 - n;
                json!({
                    "service": service,
                    "level": if n % 3 == 0 { "error" } else { "info" },
                    "message": format!("entry {n}"),
                    "n": n,
                    "timestamp": format!("2026-11-25T12:{:02}:{:02}.{:03}Z", ms / 60_000 % 60, ms / 1000 % 60, ms % 1000),
                })
            })
            .collect(),
    )
}

/// Posts entries in requests of `chunk`.
fn post(collector: &Collector, service: &str, range: std::ops::Range<u64>, chunk: u64) {
    let mut from = range.start;
    while from < range.end {
        let to = (from + chunk).min(range.end);
        let (status, body) = collector.post_json(&entries(service, from..to));
        assert_eq!(status, 201, "{body}");
        from = to;
    }
}

/// Waits until `accepted` holds every `n` in `0..count`.
fn wait_all(accepted: &Accepted, count: u64, what: &str) {
    wait_until(ARRIVAL, what, || {
        accepted.lock().unwrap().len() as u64 >= count
    });
    let got = accepted.lock().unwrap().clone();
    assert_eq!(got, (0..count).collect::<BTreeSet<u64>>(), "{what}");
}
