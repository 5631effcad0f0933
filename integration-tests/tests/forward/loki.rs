//! Loki: wire format, ordering, outage, refused batches.

use std::sync::Arc;

use serde_json::Value;

use super::{forwarder, post, start, wait_all, Accepted, ARRIVAL};
use crate::support::fake_sink::{always, wire, FakeSink, Request, Responder};
use crate::support::wait_until;

/// The entries of one push: `(stream labels, ns, line)`, checked against Loki's
/// documented format.
fn pushed(request: &Request) -> Vec<(Value, i128, Value)> {
    wire::loki_values(&request.decoded())
        .unwrap_or_else(|e| panic!("not a Loki push: {e}"))
        .into_iter()
        .map(|value| (value.labels, value.ns, value.line))
        .collect()
}

/// Accepts (204) pushes unless `refuse` says otherwise, recording accepted `n`s.
fn loki(accepted: &Accepted, refuse: impl Fn(&[u8]) -> Option<u16> + Send + 'static) -> Responder {
    let accepted = Arc::clone(accepted);
    Box::new(move |request| {
        if let Some(status) = refuse(&request.decoded()) {
            return (status, "{}".into());
        }
        for (_, _, line) in pushed(request) {
            accepted
                .lock()
                .unwrap()
                .insert(line["n"].as_u64().expect("n"));
        }
        (204, String::new())
    })
}

fn check_wire_format(request: &Request) {
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/loki/api/v1/push")
    );
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["content-encoding"], "gzip");
    assert_eq!(request.headers["x-scope-orgid"], "acme");
    let mut last: std::collections::HashMap<String, i128> = Default::default();
    for (labels, ns, line) in pushed(request) {
        assert_eq!(
            labels,
            serde_json::json!({"service": line["service"], "level": line["level"]})
        );
        let stamp = time::OffsetDateTime::parse(
            line["timestamp"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(
            ns,
            stamp.unix_timestamp_nanos(),
            "ns is the entry's timestamp"
        );
        let previous = last.insert(labels.to_string(), ns).unwrap_or(i128::MIN);
        assert!(previous <= ns, "stream {labels} out of order");
    }
}

#[test]
fn loki_gets_everything_in_order_after_an_outage() {
    let fake = FakeSink::recording(always(503)).expect("a fake Loki");
    let mut collector = start(&[
        "--loki-url",
        &fake.url(),
        "--loki-tenant",
        "acme",
        "--forward-batch-entries",
        "150",
    ]);
    post(&collector, "api", 0..300, 100);
    post(&collector, "web", 300..400, 100);
    wait_until(ARRIVAL, "retries while Loki is down", || {
        forwarder(&collector, "loki")["retries"].as_u64() > Some(1)
    });
    // The lag is measured at most once a second.
    wait_until(ARRIVAL, "the lag in /health", || {
        forwarder(&collector, "loki")["lag_entries"] == 400
    });
    let health = forwarder(&collector, "loki");
    assert!(health["lag_bytes"].as_u64() > Some(0), "{health}");
    assert!(
        health["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503")),
        "{health}"
    );

    let accepted = Accepted::default();
    fake.respond(loki(&accepted, |_| None));
    wait_all(&accepted, 400, "every entry after Loki came back");
    fake.requests().iter().for_each(check_wire_format);
    wait_until(ARRIVAL, "lag back to zero", || {
        forwarder(&collector, "loki")["lag_bytes"] == 0
    });
    let health = forwarder(&collector, "loki");
    assert_eq!(health["lag_entries"], 0);
    assert!(health["last_success"].is_string(), "{health}");
    assert!(collector.dir.join(".forward/loki.json").exists());
    collector.kill();
}

#[test]
fn a_refused_batch_is_skipped_counted_and_never_blocks() {
    let accepted = Accepted::default();
    let fake = FakeSink::recording(loki(&accepted, |body| {
        (body.windows(6).any(|w| w == b"poison")).then_some(400)
    }))
    .expect("a fake Loki");
    let collector = start(&["--loki-url", &fake.url(), "--loki-tenant", "acme"]);
    let (status, _) = collector
        .post_json(&serde_json::json!({"service": "api", "message": "poison", "n": 1_000_000}));
    assert_eq!(status, 201);
    wait_until(ARRIVAL, "the refused batch counted", || {
        forwarder(&collector, "loki")["rejected_entries"] == 1
    });
    post(&collector, "api", 0..50, 25);
    wait_all(&accepted, 50, "entries after the refused batch");
    assert_eq!(forwarder(&collector, "loki")["rejected_entries"], 1);
    assert!(
        fake.requests().iter().filter(|r| r.status == 400).count() == 1,
        "the refused batch is not retried"
    );
}

#[test]
fn high_cardinality_labels_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(crate::support::estuary_bin())
        .args([
            "serve",
            "--loki-url",
            "http://127.0.0.1:9",
            "--loki-labels",
            "service,trace_id",
        ])
        .env("LOG_DIR", dir.path())
        .env("PORT", crate::support::free_port().to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}
