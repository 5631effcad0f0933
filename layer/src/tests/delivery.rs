//! The worker over real HTTP: batching, compression, headers, retries, splitting, poison
//! batches, drops and their report, back-pressure, flush and shutdown.

use std::time::{Duration, Instant};

use tracing_subscriber::prelude::*;

use super::server::TestServer;
use super::wait_until;
use crate::{Builder, FlushError, Overflow};

pub(super) fn start(
    server: &TestServer,
    configure: impl FnOnce(Builder) -> Builder,
) -> (crate::EstuaryLayer, crate::WorkerGuard) {
    let builder = Builder::new("unit-test")
        .endpoint(&server.url)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20));
    configure(builder).build().expect("build")
}

/// Logs `n` events `i = 0..n` under a scoped subscriber.
pub(super) fn log_n(layer: crate::EstuaryLayer, n: u64) {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..n {
            tracing::info!(i, "event");
        }
    });
}

fn indices(server: &TestServer) -> Vec<u64> {
    server
        .json()
        .iter()
        .filter(|l| l["message"] == "event")
        .map(|l| l["fields"]["i"].as_u64().unwrap())
        .collect()
}

/// Logs `i` for each `i` in `range` through `dispatch`.
fn log_range(dispatch: &tracing::Dispatch, range: std::ops::Range<u64>) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in range {
            tracing::info!(i, "event");
        }
    });
}

#[test]
fn batches_by_count_gzipped_in_order_with_auth() {
    let server = TestServer::start();
    let (layer, guard) = start(&server, |b| b.batch_max_entries(10).auth_token("s3cret"));
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // One batch at a time: a batch with others waiting behind it would go uncompressed.
    for range in [0..10, 10..20, 20..25] {
        log_range(&dispatch, range);
        guard.flush().unwrap();
    }
    assert_eq!(indices(&server), (0..25).collect::<Vec<_>>());
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "10 + 10 + 5");
    for headers in &requests {
        assert_eq!(headers["content-type"], "application/x-ndjson");
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["authorization"], "Bearer s3cret");
    }
    assert_eq!(guard.stats().sent, 25);
}

#[test]
fn batches_with_others_waiting_behind_them_go_uncompressed() {
    let server = TestServer::start();
    server.set_failing(Some((503, vec![], String::new())));
    let (layer, guard) = start(&server, |b| b.batch_max_entries(10));
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    log_range(&dispatch, 0..10);
    wait_until("the first batch's first attempt", || {
        !server.requests().is_empty()
    });
    // Three more batches queue up behind the first while the collector is failing.
    log_range(&dispatch, 10..40);
    server.set_failing(None);
    guard.flush().unwrap();
    assert_eq!(indices(&server), (0..40).collect::<Vec<_>>());
    let gzipped: Vec<bool> = server
        .requests()
        .iter()
        .map(|h| h.get("content-encoding").is_some_and(|v| v == "gzip"))
        .collect();
    let n = gzipped.len();
    assert!(n >= 5, "{gzipped:?}");
    // The first batch was taken with nothing behind it (all its attempts are gzipped); the
    // second and third had batches behind them; the last had none.
    assert!(gzipped[..n - 3].iter().all(|g| *g), "{gzipped:?}");
    assert_eq!(gzipped[n - 3..], [false, false, true], "{gzipped:?}");
}

#[test]
fn batches_by_bytes_and_uncompressed_when_asked() {
    let server = TestServer::start();
    let (layer, guard) = start(&server, |b| b.batch_max_bytes(2_000).compression(false));
    log_n(layer, 40);
    guard.shutdown().unwrap();
    assert_eq!(indices(&server).len(), 40);
    let requests = server.requests();
    assert!(
        requests.len() >= 5,
        "~400-byte entries, 2,000-byte batches: {}",
        requests.len()
    );
    assert!(requests.iter().all(|h| h.get("content-encoding").is_none()));
}

#[test]
fn a_partial_batch_goes_out_after_the_interval() {
    let server = TestServer::start();
    let (layer, guard) = start(&server, |b| b.batch_interval(Duration::from_millis(50)));
    log_n(layer, 3);
    wait_until("the interval to send 3 events", || {
        indices(&server).len() == 3
    });
    drop(guard);
}

#[test]
fn server_errors_are_retried_and_retry_after_is_honoured() {
    let server = TestServer::start();
    server.script([
        (503, vec![], r#"{"error":"disk full"}"#.into()),
        (500, vec![], String::new()),
        (429, vec![("retry-after", "1".into())], String::new()),
    ]);
    let (layer, guard) = start(&server, |b| b);
    let started = Instant::now();
    log_n(layer, 5);
    guard.flush().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 ignored"
    );
    assert_eq!(indices(&server), [0, 1, 2, 3, 4]);
    let stats = guard.stats();
    assert_eq!((stats.retries, stats.sent, stats.dropped()), (3, 5, 0));
}

#[test]
fn a_413_splits_the_batch_until_it_fits() {
    let server = TestServer::start();
    server.set_max_lines(3);
    let (layer, guard) = start(&server, |b| b);
    log_n(layer, 20);
    guard.flush().unwrap();
    assert_eq!(indices(&server), (0..20).collect::<Vec<_>>());
    assert_eq!(guard.stats().dropped(), 0);
}

#[test]
fn a_bad_entry_is_dropped_and_the_rest_delivered() {
    let server = TestServer::start();
    server.set_poison("\"i\":3}");
    let (layer, guard) = start(&server, |b| b);
    log_n(layer, 6);
    guard.flush().unwrap();
    assert_eq!(indices(&server), [0, 1, 2, 4, 5]);
    assert_eq!(guard.stats().dropped_rejected, 1);
}

#[test]
fn a_poison_batch_is_dropped_counted_and_does_not_block_later_events() {
    let server = TestServer::start();
    server.script([(401, vec![], r#"{"error":"unauthorized"}"#.into())]);
    let (layer, guard) = start(&server, |b| b.batch_max_entries(5));
    log_n(layer, 10);
    guard.flush().unwrap();
    assert_eq!(indices(&server), [5, 6, 7, 8, 9]);
    let stats = guard.stats();
    assert_eq!((stats.dropped_rejected, stats.sent), (5, 5));
    // The drop is reported once delivery works.
    let report = guard.flush().map(|()| server.json());
    let report = report
        .unwrap()
        .into_iter()
        .find(|l| l["target"] == "tracing_estuary");
    assert!(report.is_some(), "no drop report");
}

#[test]
fn a_full_queue_drops_counts_and_reports_once_delivery_resumes() {
    let server = TestServer::start();
    server.set_failing(Some((503, vec![], String::new())));
    let (layer, guard) = start(&server, |b| {
        b.queue_max_entries(10)
            .batch_max_entries(5)
            .spill_max_bytes(0)
    });
    log_n(layer, 50);
    let stats = guard.stats();
    assert_eq!(stats.dropped_queue_full, 40);
    assert!(
        stats.queued <= 10,
        "memory stays within the bound: {}",
        stats.queued
    );
    server.set_failing(None);
    guard.flush().unwrap();
    assert_eq!(indices(&server), (0..10).collect::<Vec<_>>());
    wait_until("the drop report", || guard.stats().drops_reported == 40);
    let lines = server.json();
    let report = lines
        .iter()
        .find(|l| l["target"] == "tracing_estuary")
        .unwrap();
    assert_eq!(report["message"], "tracing-estuary dropped 40 events");
    assert_eq!(report["level"], "WARN");
    assert_eq!(report["service"], "unit-test");
    assert_eq!(report["fields"]["queue_full"], 40);
}

#[test]
fn a_full_queue_spills_to_disk_and_delivers_everything_once_the_collector_is_back() {
    let server = TestServer::start();
    server.set_failing(Some((503, vec![], String::new())));
    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = start(&server, |b| {
        b.queue_max_bytes(4_000)
            .batch_max_entries(5)
            .spill_dir(dir.path())
    });
    log_n(layer, 2_000);
    let stats = guard.stats();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(stats.queued, 2_000, "{stats:?}");
    assert!(
        stats.queued_bytes <= 4_000,
        "memory stays within its bound: {stats:?}"
    );
    assert!(stats.spilled >= 1_900, "{stats:?}");
    assert!(stats.spilled_bytes > 100 * stats.spilled, "{stats:?}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
    server.set_failing(None);
    guard.flush().unwrap();
    assert_eq!(indices(&server), (0..2_000).collect::<Vec<_>>());
    let stats = guard.stats();
    assert_eq!((stats.sent, stats.dropped(), stats.queued), (2_000, 0, 0));
    assert_eq!(stats.spilled_bytes, 0, "the file was drained");
}

#[test]
fn the_byte_bound_holds_too() {
    let server = TestServer::start();
    server.set_failing(Some((503, vec![], String::new())));
    let (layer, guard) = start(&server, |b| b.queue_max_bytes(4_000).spill_max_bytes(0));
    log_n(layer, 100);
    let stats = guard.stats();
    assert!(stats.queued_bytes <= 4_000, "{}", stats.queued_bytes);
    assert!(stats.dropped_queue_full >= 80, "{stats:?}");
    server.set_failing(None);
}

#[test]
fn oversize_entries_are_dropped_before_queueing() {
    let server = TestServer::start();
    let (layer, guard) = start(&server, |b| b.max_entry_bytes(1_000));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(blob = "x".repeat(2_000), "big");
        tracing::info!("small");
    });
    guard.flush().unwrap();
    assert_eq!(guard.stats().dropped_oversize, 1);
    assert!(server.json().iter().any(|l| l["message"] == "small"));
}

#[test]
fn block_policy_waits_for_room_instead_of_dropping() {
    let server = TestServer::start();
    server.set_failing(Some((503, vec![], String::new())));
    let (layer, guard) = start(&server, |b| {
        b.queue_max_entries(5)
            .overflow(Overflow::Block)
            .spill_max_bytes(0)
    });
    let logger = std::thread::spawn(move || log_n(layer, 20));
    wait_until("the queue to fill", || guard.stats().queued == 5);
    assert!(
        !logger.is_finished(),
        "the logging thread should be blocked"
    );
    server.set_failing(None);
    logger.join().unwrap();
    guard.flush().unwrap();
    assert_eq!(indices(&server), (0..20).collect::<Vec<_>>());
    assert_eq!(guard.stats().dropped(), 0);
}

#[test]
fn block_for_gives_up_after_its_timeout() {
    let server = TestServer::start();
    server.set_failing(Some((503, vec![], String::new())));
    let policy = Overflow::BlockFor(Duration::from_millis(20));
    let (layer, guard) = start(&server, |b| {
        b.queue_max_entries(2).overflow(policy).spill_max_bytes(0)
    });
    log_n(layer, 4);
    assert_eq!(guard.stats().dropped_queue_full, 2);
    server.set_failing(None);
}

#[test]
fn flush_times_out_while_the_collector_is_down_and_shutdown_is_bounded() {
    let server = TestServer::start();
    server.set_failing(Some((503, vec![], String::new())));
    let (layer, guard) = start(&server, |b| b.flush_timeout(Duration::from_millis(300)));
    log_n(layer, 7);
    assert_eq!(guard.flush(), Err(FlushError::Timeout { pending: 7 }));
    let started = Instant::now();
    let handle = guard.handle();
    assert_eq!(guard.shutdown(), Err(FlushError::Timeout { pending: 7 }));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(handle.stats().dropped_shutdown, 7);
    // Events after shutdown are dropped and counted, never queued.
    assert!(matches!(
        handle.flush(),
        Ok(()) | Err(FlushError::WorkerGone { .. })
    ));
}

#[test]
fn works_and_shuts_down_inside_a_current_thread_runtime() {
    let server = TestServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (layer, guard) = start(&server, |b| b);
        log_n(layer, 3);
        drop(guard); // blocks this runtime thread briefly; must neither panic nor hang
    });
    assert_eq!(indices(&server), [0, 1, 2]);
}

#[test]
fn nothing_logged_on_the_workers_threads_reaches_the_layer() {
    let server = TestServer::start();
    let (layer, guard) = start(&server, |b| b);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let on_worker = dispatch.clone();
    std::thread::spawn(move || {
        // What the worker and its runtime threads do first: a no-op default dispatcher…
        crate::no_feedback::quiet_thread();
        tracing::info!(target: "hyper::proto", "not even seen");
        // …and even if something routes an event to the layer there, it is ignored.
        tracing::dispatcher::with_default(
            &on_worker,
            || tracing::info!(target: "reqwest::connect", "ignored by the layer"),
        );
    })
    .join()
    .unwrap();
    tracing::dispatcher::with_default(&dispatch, || tracing::info!("app event"));
    guard.flush().unwrap();
    let messages: Vec<_> = server.json().iter().map(|l| l["message"].clone()).collect();
    assert_eq!(messages, ["app event"]);
}
