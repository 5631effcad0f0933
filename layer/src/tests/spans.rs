//! Span nesting and field capture.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tracing::field::Empty;

use super::capture;

#[test]
fn nested_spans_arrive_root_first_with_their_fields() {
    let (lines, _, _) = capture(
        |b| b,
        || {
            let outer = tracing::info_span!("request", method = "GET", id = 7u64);
            let _o = outer.enter();
            let inner = tracing::debug_span!("db", table = "orders", rows = Empty);
            let _i = inner.enter();
            inner.record("rows", 12);
            tracing::info!(ms = 3, "query done");
        },
    );
    let e = &lines[0];
    let request = json!({"name": "request", "method": "GET", "id": 7});
    let db = json!({"name": "db", "table": "orders", "rows": 12});
    assert_eq!(e["span"], db);
    assert_eq!(e["spans"], json!([request, db]));
    assert_eq!(e["fields"], json!({"ms": 3}));
}

#[test]
fn explicit_parents_are_used_and_events_outside_spans_have_none() {
    let (lines, _, _) = capture(
        |b| b,
        || {
            let job = tracing::info_span!("job", n = 1);
            tracing::info!(parent: &job, "explicit");
            tracing::info!("outside");
        },
    );
    assert_eq!(lines[0]["spans"], json!([{"name": "job", "n": 1}]));
    assert!(lines[1].get("span").is_none());
}

#[test]
fn a_field_recorded_again_replaces_its_value() {
    let (lines, raw, _) = capture(
        |b| b,
        || {
            let span = tracing::info_span!("s", state = "new", big = Empty, name = "field");
            span.record("big", u128::MAX);
            span.record("state", "done");
            let _e = span.enter();
            tracing::info!("in s");
        },
    );
    assert_eq!(lines[0]["span"]["state"], "done");
    // A field called `name` cannot shadow the span's name.
    assert_eq!(lines[0]["span"]["name"], "s");
    assert_eq!(lines[0]["span"]["field.name"], "field");
    assert_eq!(
        raw[0].matches("\"state\"").count(),
        2,
        "span + spans: {}",
        raw[0]
    );
    assert!(
        raw[0].contains(&format!("\"big\":{}", u128::MAX)),
        "{}",
        raw[0]
    );
}

/// Counts how often it is formatted.
struct Counted<'a>(&'a AtomicUsize);
impl fmt::Debug for Counted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fetch_add(1, Ordering::SeqCst);
        f.write_str("counted")
    }
}

#[test]
fn span_fields_are_formatted_once_not_per_event() {
    let formatted = AtomicUsize::new(0);
    let (lines, _, _) = capture(
        |b| b,
        || {
            let span = tracing::info_span!("hot", value = ?Counted(&formatted));
            let _e = span.enter();
            for i in 0..5 {
                tracing::info!(i, "tick");
            }
        },
    );
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["span"]["value"] == "counted"));
    assert_eq!(formatted.load(Ordering::SeqCst), 1);
}

#[test]
fn span_close_records_carry_busy_and_idle_time() {
    let (lines, _, _) = capture(
        |b| b.span_close_records(true),
        || {
            let span = tracing::info_span!("work", job = "x");
            span.in_scope(|| std::thread::sleep(std::time::Duration::from_millis(20)));
            drop(span);
        },
    );
    let close = lines
        .iter()
        .find(|l| l["message"] == "close")
        .expect("close record");
    assert_eq!(close["span"], json!({"name": "work", "job": "x"}));
    assert_eq!(close["level"], "INFO");
    let busy = close["fields"]["busy_ns"].as_u64().unwrap();
    assert!(busy >= 20_000_000, "busy {busy}");
    assert!(close["fields"]["idle_ns"].is_u64());
}

#[test]
fn span_close_records_are_off_by_default() {
    let (lines, _, _) = capture(
        |b| b,
        || {
            let _ = tracing::info_span!("quiet").entered();
            tracing::info!("only this");
        },
    );
    assert_eq!(lines.len(), 1);
}

#[test]
fn the_span_stack_follows_enters_exits_and_records_between_events() {
    // Each thread keeps the last rendered stack: every change must show in the next event.
    let (lines, _, _) = capture(
        |b| b,
        || {
            let outer = tracing::info_span!("outer", step = 0u64);
            let _o = outer.enter();
            tracing::info!("a");
            tracing::info!("b");
            let inner = tracing::info_span!("inner");
            let entered = inner.enter();
            tracing::info!("c");
            drop(entered);
            tracing::info!("d");
            outer.record("step", 1u64);
            tracing::info!("e");
            // A record from another thread while this one has the span entered.
            std::thread::scope(|s| {
                s.spawn(|| outer.record("step", 2u64));
            });
            tracing::info!("f");
            tracing::info!(parent: None, "g");
            tracing::info!("h");
        },
    );
    let spans: Vec<_> = lines.iter().map(|l| l.get("spans").cloned()).collect();
    let outer = |step: u64| json!({"name": "outer", "step": step});
    assert_eq!(
        spans,
        vec![
            Some(json!([outer(0)])),
            Some(json!([outer(0)])),
            Some(json!([outer(0), {"name": "inner"}])),
            Some(json!([outer(0)])),
            Some(json!([outer(1)])),
            Some(json!([outer(2)])),
            None,
            Some(json!([outer(2)])),
        ]
    );
}
