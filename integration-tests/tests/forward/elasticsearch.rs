//! Elasticsearch: wire format, partial bulk failures, crash mid-forward, rotation and
//! retention while behind.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{forwarder, post, start, wait_all, Accepted, ARRIVAL};
use crate::support::fake_sink::{always, wire, FakeSink, Request, Responder};
use crate::support::wait_until;

/// The `(action, source)` pairs of a `_bulk` request, checked against Elasticsearch's
/// documented format.
fn pairs(request: &Request) -> Vec<(Value, Value)> {
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/_bulk")
    );
    assert_eq!(request.headers["content-type"], "application/x-ndjson");
    wire::bulk_pairs(&request.decoded()).unwrap_or_else(|e| panic!("not a _bulk body: {e}"))
}

/// Answers each item with `status(item position, request number)`, recording accepted `n`s.
fn bulk(accepted: &Accepted, status: impl Fn(usize, usize) -> u16 + Send + 'static) -> Responder {
    let (accepted, seen) = (Arc::clone(accepted), Arc::new(Mutex::new(0usize)));
    Box::new(move |request| {
        let number = {
            let mut seen = seen.lock().unwrap();
            *seen += 1;
            *seen - 1
        };
        let mut items = Vec::new();
        for (i, (action, source)) in pairs(request).into_iter().enumerate() {
            let index = action["create"]["_index"]
                .as_str()
                .expect("create action with _index")
                .to_owned();
            assert_eq!(
                index,
                format!("logs-{}-2026.11.25", source["service"].as_str().unwrap())
            );
            let code = status(i, number);
            if code < 300 {
                accepted
                    .lock()
                    .unwrap()
                    .insert(source["n"].as_u64().expect("n"));
            }
            items.push(json!({"create": {"_index": index, "status": code}}));
        }
        let errors = items
            .iter()
            .any(|i| i["create"]["status"].as_u64() >= Some(300));
        (
            200,
            json!({"took": 1, "errors": errors, "items": items}).to_string(),
        )
    })
}

#[test]
fn only_failed_retryable_items_are_sent_again() {
    let accepted = Accepted::default();
    // First request: item 0 → 429, item 1 → 400 (for good), item 2 → 503; then all accepted.
    let fake = FakeSink::recording(bulk(&accepted, |i, number| match (number, i) {
        (0, 0) => 429,
        (0, 1) => 400,
        (0, 2) => 503,
        _ => 201,
    }))
    .expect("a fake Elasticsearch");
    let collector = start(&["--elasticsearch-url", &fake.url()]);
    post(&collector, "api", 0..10, 10);
    wait_until(ARRIVAL, "the retry", || fake.requests().len() >= 2);
    wait_until(ARRIVAL, "the rejected item counted", || {
        forwarder(&collector, "elasticsearch")["rejected_entries"] == 1
    });
    let requests = fake.requests();
    let resent: Vec<u64> = pairs(&requests[1])
        .iter()
        .map(|(_, s)| s["n"].as_u64().unwrap())
        .collect();
    assert_eq!(resent, vec![0, 2], "only the 429 and 503 items are resent");
    let mut expected: std::collections::BTreeSet<u64> = (0..10).collect();
    expected.remove(&1);
    assert_eq!(*accepted.lock().unwrap(), expected);
    wait_until(ARRIVAL, "the retry counted", || {
        forwarder(&collector, "elasticsearch")["sent_entries"] == 9
    });
}

#[test]
fn a_collector_killed_mid_forward_misses_nothing() {
    let accepted = Accepted::default();
    // Accept the first request only: the forwarder is then stuck mid-way.
    let fake = FakeSink::recording(bulk(
        &accepted,
        |_, number| if number == 0 { 201 } else { 503 },
    ))
    .expect("a fake Elasticsearch");
    let mut collector = start(&[
        "--elasticsearch-url",
        &fake.url(),
        "--forward-batch-entries",
        "100",
    ]);
    post(&collector, "api", 0..1000, 250);
    wait_until(ARRIVAL, "failures after a success", || {
        fake.requests().len() >= 3
    });
    assert_eq!(
        accepted.lock().unwrap().len(),
        100,
        "one batch went through before the crash"
    );
    collector.kill();
    fake.respond(bulk(&accepted, |_, _| 201));
    collector.start_again();
    wait_all(&accepted, 1000, "every entry after the restart");
}

#[test]
fn rotation_and_retention_while_behind_skip_nothing() {
    let fake = FakeSink::recording(always(503)).expect("a fake Elasticsearch");
    let collector = start(&[
        "--elasticsearch-url",
        &fake.url(),
        "--rotate-bytes",
        "20000",
        "--retain-service-bytes",
        "1",
        "--retention-interval-secs",
        "1",
    ]);
    post(&collector, "api", 0..3000, 100);
    let segments = collector.dir.join("segments/api");
    // Distinct segments (a segment being compressed briefly exists twice).
    let count = || {
        let names = std::fs::read_dir(&segments).map_or(Vec::new(), |d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        });
        names
            .iter()
            .filter(|n| n.contains(".log"))
            .filter_map(|n| n.split('_').nth(1).map(str::to_owned))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert!(count() >= 5, "several segments while behind");
    // Not synchronization but a window: two retention passes (1 s apart) run while the
    // forwarder is behind, and the unsent segments must survive them.
    let passes_before = count();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        count(),
        passes_before,
        "retention keeps what the forwarder has not sent"
    );
    let accepted = Accepted::default();
    fake.respond(bulk(&accepted, |_, _| 201));
    wait_all(&accepted, 3000, "every entry across the rotated segments");
    wait_until(ARRIVAL, "retention deletes sent segments", || count() <= 1);
}
