//! A Rust app with `tracing-opentelemetry` + `tracing-estuary`: its entries carry the trace
//! and span ids its spans were exported with, and `field.trace_id` follows the request.

use std::process::Command;

use crate::support::{http, Collector};

#[test]
fn entries_carry_the_ids_the_spans_export_and_field_trace_id_follows_the_request() {
    let collector = Collector::start();
    let out = Command::new(env!("CARGO_BIN_EXE_layer_app_otel"))
        .env("ESTUARY_URL", &collector.url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the app");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = |name: &str| -> (String, String) {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("span {name} ")))
            .unwrap_or_else(|| panic!("span {name} not exported: {stdout}"));
        let parts: Vec<&str> = line.split(' ').collect();
        (parts[2].to_owned(), parts[3].to_owned())
    };
    let (trace, checkout) = exported("checkout");
    let (db_trace, db) = exported("db");
    assert_eq!(trace, db_trace);
    let lines = collector.lines("otel-app");
    let entry = |message: &str| lines.iter().find(|l| l["message"] == message).unwrap();
    assert_eq!(entry("charging the card")["trace_id"], trace.as_str());
    assert_eq!(entry("charging the card")["span_id"], checkout.as_str());
    assert_eq!(entry("no stock row")["span_id"], db.as_str());
    assert!(entry("after the request").get("trace_id").is_none());
    let page: serde_json::Value = http()
        .get(format!(
            "{}/logs?field.trace_id={trace}&order=asc",
            collector.url
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let messages: Vec<_> = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].clone())
        .collect();
    assert_eq!(
        messages,
        vec!["charging the card", "no stock row"],
        "{page}"
    );
}
