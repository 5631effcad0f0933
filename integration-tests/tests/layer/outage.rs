//! Layers in this process against a real collector that is late, killed and restarted.

use std::time::Duration;

use serde_json::Value;
use tracing_subscriber::prelude::*;

use crate::support::{free_port, wait_until, Collector};

const WAIT: Duration = Duration::from_secs(30);

/// A layer tuned for quick tests: short batch interval and retry delays.
fn layer(url: &str, service: &str) -> tracing_estuary::Builder {
    tracing_estuary::Builder::new(service)
        .endpoint(url)
        .batch_interval(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

fn log(dispatch: &tracing::Dispatch, range: std::ops::Range<u64>) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in range {
            tracing::info!(i, "event");
        }
    });
}

fn event_indices(lines: &[Value]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l["fields"]["i"].as_u64())
        .collect()
}

#[test]
fn a_collector_that_starts_late_still_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (layer, guard) = layer(&url, "layer-late").build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    log(&dispatch, 0..50);
    wait_until(WAIT, "a failed attempt", || guard.stats().retries >= 1);
    let collector = Collector::start_in(dir.path(), port, &[], &[]);
    wait_until(WAIT, "delivery", || {
        collector.lines("layer-late").len() == 50
    });
    assert_eq!(
        event_indices(&collector.lines("layer-late")),
        (0..50).collect::<Vec<_>>()
    );
    assert_eq!(guard.stats().dropped(), 0);
}

#[test]
fn a_collector_killed_and_restarted_gets_what_fit_in_memory_and_on_disk_and_a_drop_report() {
    const QUEUE: usize = 200;
    let mut collector = Collector::start();
    let spill = tempfile::tempdir().unwrap();
    // Memory for 200 entries, and a spill file for a few hundred more (entries are ~300
    // bytes): of 1,000 events logged during the outage, the newest few hundred are dropped.
    let builder = layer(&collector.url, "layer-outage")
        .queue_max_entries(QUEUE)
        .batch_max_entries(50)
        .spill_dir(spill.path())
        .spill_max_bytes(100_000);
    let (layer, guard) = builder.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    log(&dispatch, 0..100);
    wait_until(WAIT, "the first 100 acknowledged", || {
        guard.stats().sent == 100
    });

    collector.kill();
    log(&dispatch, 100..1_100);
    let during = guard.stats();
    // Nothing was read back from the file yet: every entry spilled is still there.
    let in_memory = during.queued - during.spilled;
    assert!(in_memory <= QUEUE as u64, "memory bound: {during:?}");
    assert!(
        during.spilled >= 200,
        "the spill file took more: {during:?}"
    );
    assert!(
        during.spilled_bytes <= 100_000,
        "the spill file's bound: {during:?}"
    );
    assert_eq!(
        during.dropped_queue_full,
        1_000 - during.queued,
        "{during:?}"
    );
    assert!(during.dropped_queue_full >= 300, "{during:?}");

    collector.start_again();
    let expected = 100 + (1_000 - during.dropped_queue_full) as usize;
    wait_until(WAIT, "the queued events and the drop report", || {
        let lines = collector.lines("layer-outage");
        event_indices(&lines).len() >= expected
            && lines.iter().any(|l| l["target"] == "tracing_estuary")
    });
    let lines = collector.lines("layer-outage");
    let mut got = event_indices(&lines);
    got.dedup(); // at-least-once: a batch whose ack was lost may come twice
    let kept: Vec<u64> = (0..100 + during.queued).collect();
    assert_eq!(
        got, kept,
        "the oldest events are kept, in order, spilled ones too"
    );
    let report = lines
        .iter()
        .find(|l| l["target"] == "tracing_estuary")
        .unwrap();
    let dropped = during.dropped_queue_full;
    assert_eq!(
        report["message"],
        format!("tracing-estuary dropped {dropped} events")
    );
    assert_eq!(report["fields"]["queue_full"], dropped);
    assert_eq!(report["level"], "WARN");
    let after = guard.shutdown().unwrap();
    assert_eq!(after.drops_reported, dropped);
    assert_eq!(after.sent, 100 + during.queued);
    assert_eq!(after.spilled_bytes, 0, "the spill file was drained");
    assert_eq!(
        std::fs::read_dir(spill.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn an_entry_the_collector_finds_too_large_is_dropped_and_its_batch_delivered() {
    let collector = Collector::start();
    // Let a 2.5 MB entry through the layer so the collector's own 2 MiB limit answers 413.
    let builder = layer(&collector.url, "layer-413").max_entry_bytes(4 << 20);
    let (layer, guard) = builder.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(i = 0u64, "before");
        tracing::info!(blob = "x".repeat(2_500_000), "too large");
        tracing::info!(i = 1u64, "after");
    });
    guard.flush().unwrap();
    assert_eq!(event_indices(&collector.lines("layer-413")), [0, 1]);
    assert_eq!(guard.stats().dropped_oversize, 1);
}
