//! Each [`Stats`](crate::Stats) counter against its definition, with exact numbers, so a
//! counter that is never bumped, bumped twice, or bumped for the wrong reason fails its test.
//! Final numbers are read after `shutdown`, when the worker has exited and nothing moves.

use std::time::Duration;

use tracing::Dispatch;
use tracing_subscriber::prelude::*;

use super::delivery::{log_n, start};
use super::server::TestServer;
use crate::{FlushError, Stats};

/// Answer given while the collector is "down".
fn unavailable() -> Option<super::server::Scripted> {
    Some((503, vec![], String::new()))
}

/// Logs events `i = from..to` through `dispatch` (usable again after the guard is gone).
fn log_range(dispatch: &Dispatch, from: u64, to: u64) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in from..to {
            tracing::info!(i, "event");
        }
    });
}

/// Stored lines that are events (not the layer's drop reports).
fn events(server: &TestServer) -> Vec<String> {
    let json = server.json();
    let lines = server.lines();
    lines
        .into_iter()
        .zip(json)
        .filter(|(_, v)| v["target"] != "tracing_estuary")
        .map(|(line, _)| line)
        .collect()
}

/// The `dropped` field of every drop report the server stored.
fn reported(server: &TestServer) -> Vec<u64> {
    server
        .json()
        .iter()
        .filter(|l| l["target"] == "tracing_estuary")
        .map(|l| l["fields"]["dropped"].as_u64().unwrap())
        .collect()
}

#[test]
fn accepted_counts_every_entry_the_queue_took() {
    let server = TestServer::start();
    let (layer, guard) = start(&server, |b| b);
    log_n(layer, 1_200);
    guard.flush().unwrap();
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.accepted, stats.sent), (1_200, 1_200));
}

#[test]
fn accepted_leaves_out_entries_refused_for_room_size_or_shutdown() {
    let server = TestServer::start();
    server.set_failing(unavailable());
    let (layer, guard) = start(&server, |b| {
        b.queue_max_entries(3)
            .max_entry_bytes(1_000)
            .spill_max_bytes(0)
    });
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    log_range(&dispatch, 0, 5);
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(blob = "x".repeat(2_000), "too big");
    });
    let stats = guard.stats();
    assert_eq!(stats.accepted, 3, "{stats:?}");
    assert_eq!((stats.dropped_queue_full, stats.dropped_oversize), (2, 1));
    server.set_failing(None);
    let handle = guard.handle();
    guard.shutdown().unwrap();
    log_range(&dispatch, 5, 7);
    let stats = handle.stats();
    assert_eq!(
        (stats.accepted, stats.dropped_shutdown),
        (3, 2),
        "{stats:?}"
    );
}

#[test]
fn sent_counts_each_acknowledged_entry_once() {
    let server = TestServer::start();
    // A retried batch, 413 splits and a rejected entry must neither double nor lose a count.
    server.script([(503, vec![], String::new())]);
    server.set_max_lines(3);
    server.set_poison("\"i\":4}");
    let (layer, guard) = start(&server, |b| b.batch_max_entries(8));
    log_n(layer, 16);
    let stats = guard.shutdown().unwrap();
    assert_eq!(events(&server).len(), 15);
    assert_eq!((stats.sent, stats.dropped_rejected), (15, 1), "{stats:?}");
    // The drop report reached the collector too, but it is not an event the app logged.
    assert_eq!(reported(&server), [1]);
}

#[test]
fn dropped_queue_full_counts_entries_refused_for_lack_of_room() {
    let server = TestServer::start();
    server.set_failing(unavailable());
    let (layer, guard) = start(&server, |b| {
        b.queue_max_entries(4)
            .max_entry_bytes(1_000)
            .spill_max_bytes(0)
    });
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    log_range(&dispatch, 0, 10);
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(blob = "x".repeat(2_000), "too big, not a full queue");
    });
    server.set_failing(None);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.dropped_queue_full, 6, "{stats:?}");
    assert_eq!(stats.dropped_oversize, 1);
}

#[test]
fn dropped_oversize_counts_entries_too_large_before_queueing_and_on_their_own() {
    let server = TestServer::start();
    // Every request gets 413, so every entry ends up alone and still too large.
    server.set_max_lines(0);
    let (layer, guard) = start(&server, |b| b.max_entry_bytes(1_000));
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(blob = "x".repeat(2_000), "refused before queueing");
    });
    log_range(&dispatch, 0, 4);
    let stats = guard.shutdown().unwrap();
    assert_eq!(
        (stats.dropped_oversize, stats.accepted),
        (5, 4),
        "{stats:?}"
    );
    assert_eq!((stats.sent, stats.dropped_rejected), (0, 0));
}

#[test]
fn dropped_rejected_counts_entries_the_collector_refused_for_good() {
    let server = TestServer::start();
    // The first batch is refused whole (401); in the second, one entry is named bad (400).
    server.script([(401, vec![], r#"{"error":"unauthorized"}"#.into())]);
    server.set_poison("\"i\":7}");
    let (layer, guard) = start(&server, |b| b.batch_max_entries(5));
    log_n(layer, 10);
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.dropped_rejected, stats.sent), (6, 4), "{stats:?}");
    assert_eq!(stats.dropped(), 6);
}

#[test]
fn dropped_shutdown_counts_entries_left_at_the_deadline_and_logged_after() {
    let server = TestServer::start();
    server.set_failing(unavailable());
    let (layer, guard) = start(&server, |b| b.flush_timeout(Duration::from_millis(200)));
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    log_range(&dispatch, 0, 7);
    let handle = guard.handle();
    assert_eq!(guard.shutdown(), Err(FlushError::Timeout { pending: 7 }));
    assert_eq!(handle.stats().dropped_shutdown, 7);
    log_range(&dispatch, 7, 9);
    let stats = handle.stats();
    assert_eq!(
        (stats.dropped_shutdown, stats.dropped()),
        (9, 9),
        "{stats:?}"
    );
}

#[test]
fn requests_counts_every_request_with_retries_and_drop_reports() {
    let server = TestServer::start();
    // Batch 1: 503 (retried), then 401 (dropped); the drop report; batch 2: 201.
    server.script([
        (503, vec![], String::new()),
        (401, vec![], r#"{"error":"unauthorized"}"#.into()),
    ]);
    let (layer, guard) = start(&server, |b| b.batch_max_entries(3));
    log_n(layer, 6);
    let stats = guard.shutdown().unwrap();
    assert_eq!(server.requests().len(), 4);
    assert_eq!(stats.requests, 4, "{stats:?}");
    assert_eq!(reported(&server), [3]);
}

#[test]
fn retries_counts_failed_requests_that_were_tried_again() {
    let server = TestServer::start();
    // Four retryable answers, then one that is not: the batch is dropped, not retried.
    let answer = |status| (status, vec![], String::new());
    server.script([
        answer(503),
        answer(500),
        answer(408),
        answer(429),
        answer(401),
    ]);
    let (layer, guard) = start(&server, |b| b);
    log_n(layer, 3);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.retries, 4, "{stats:?}");
    assert_eq!((stats.dropped_rejected, stats.sent), (3, 0));
}

#[test]
fn drops_reported_counts_drops_the_collector_acknowledged_a_report_of() {
    let server = TestServer::start();
    // One bad entry per batch: the first drop is reported at once, the second (inside the
    // report interval) at shutdown.
    server.set_poison("\"bad\":true");
    let (layer, guard) = start(&server, |b| b.batch_max_entries(5));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..10 {
            tracing::info!(i, bad = i % 5 == 2, "event");
        }
    });
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.dropped_rejected, stats.drops_reported), (2, 2));
    assert_eq!(reported(&server).iter().sum::<u64>(), 2);
}

#[test]
fn drops_reported_leaves_out_reports_the_collector_refused() {
    let server = TestServer::start();
    server.set_max_lines(0); // 413 to everything, the drop report included
    let (layer, guard) = start(&server, |b| b);
    log_n(layer, 2);
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.dropped_oversize, stats.drops_reported), (2, 0));
    assert!(reported(&server).is_empty());
}

#[test]
fn queued_and_queued_bytes_count_entries_held_now_sealed_or_open() {
    let server = TestServer::start();
    server.set_failing(unavailable());
    // Two entries in a batch the worker keeps retrying, one still open.
    let (layer, guard) = start(&server, |b| b.batch_max_entries(2));
    log_n(layer, 3);
    let held: Stats = guard.stats();
    assert_eq!(held.queued, 3, "{held:?}");
    server.set_failing(None);
    let done = guard.shutdown().unwrap();
    assert_eq!((done.queued, done.queued_bytes), (0, 0));
    let bytes: usize = events(&server).iter().map(|l| l.len() + 1).sum();
    assert_eq!(held.queued_bytes, bytes as u64, "each line and its newline");
}

#[test]
fn spilled_counts_entries_moved_to_disk_and_spilled_bytes_what_waits_there() {
    let server = TestServer::start();
    server.set_failing(unavailable());
    let dir = tempfile::tempdir().unwrap();
    // Memory for 4 entries, batches of 2: the worker retries one batch, one more waits in
    // memory, and every further batch goes to the file.
    let (layer, guard) = start(&server, |b| {
        b.queue_max_entries(4)
            .batch_max_entries(2)
            .spill_dir(dir.path())
    });
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    log_range(&dispatch, 0, 2);
    super::wait_until("the worker to hold the first batch", || {
        guard.stats().requests >= 1
    });
    log_range(&dispatch, 2, 10);
    let held: Stats = guard.stats();
    assert_eq!(held.queued, 10, "{held:?}");
    assert_eq!(
        held.spilled, 6,
        "three batches of two went to disk: {held:?}"
    );
    assert!(held.spilled_bytes > 0 && held.queued_bytes > 0, "{held:?}");
    server.set_failing(None);
    let done = guard.shutdown().unwrap();
    assert_eq!((done.sent, done.spilled, done.spilled_bytes), (10, 6, 0));
    // What waited on disk was exactly the stored lines of entries 2..8, newlines included.
    let stored = events(&server);
    let on_disk: usize = stored[2..8].iter().map(|l| l.len() + 1).sum();
    assert_eq!(held.spilled_bytes, on_disk as u64);
    let in_memory: usize = stored[..2]
        .iter()
        .chain(&stored[8..])
        .map(|l| l.len() + 1)
        .sum();
    assert_eq!(held.queued_bytes, in_memory as u64);
}
