//! The wire schema: top-level keys and every field value type.

use std::fmt;

use serde_json::{json, Value};
use tracing::Level;

use super::capture;

#[derive(Debug)]
struct Inner;
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disk on fire")
    }
}
impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(Inner);
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("could not save order")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn every_value_type_keeps_its_json_type() {
    let err = Outer(Inner);
    let (lines, raw, _) = capture(
        |b| b,
        || {
            tracing::info!(
                neg = -5i64,
                big = u64::MAX,
                huge = u128::MAX,
                tiny = i128::MIN,
                ratio = 0.25f64,
                nan = f64::NAN,
                inf = f64::INFINITY,
                ok = true,
                text = "quote \" newline \n tab \t ✓",
                debug = ?vec![1, 2],
                display = %"shown",
                bytes = &b"\x00\xff"[..],
                error = &err as &(dyn std::error::Error + 'static),
                "values"
            );
        },
    );
    let fields = &lines[0]["fields"];
    assert_eq!(fields["neg"], json!(-5));
    assert_eq!(fields["big"], json!(u64::MAX));
    assert_eq!(fields["ratio"], json!(0.25));
    assert_eq!(fields["nan"], Value::Null);
    assert_eq!(fields["inf"], Value::Null);
    assert_eq!(fields["ok"], json!(true));
    assert_eq!(fields["text"], json!("quote \" newline \n tab \t ✓"));
    assert_eq!(fields["debug"], json!("[1, 2]"));
    assert_eq!(fields["display"], json!("shown"));
    assert_eq!(fields["bytes"], json!("00ff"));
    assert_eq!(
        fields["error"],
        json!({"message": "could not save order", "sources": ["disk on fire"]})
    );
    // 128-bit integers are JSON numbers with every digit (serde_json's Value would round
    // them, so look at the raw line).
    assert!(
        raw[0].contains(&format!("\"huge\":{}", u128::MAX)),
        "{}",
        raw[0]
    );
    assert!(
        raw[0].contains(&format!("\"tiny\":{}", i128::MIN)),
        "{}",
        raw[0]
    );
}

#[test]
fn records_carry_the_documented_top_level_keys() {
    let (lines, _, _) = capture(
        |b| {
            b.static_field("region", "eu-west-1")
                .static_field("replica", 3)
        },
        || {
            // The scoped subscriber is per thread: carry it over.
            let dispatch = tracing::dispatcher::get_default(|d| d.clone());
            std::thread::Builder::new()
                .name("worker-7".into())
                .spawn(move || {
                    tracing::dispatcher::with_default(
                        &dispatch,
                        || tracing::warn!(target: "shop::cart", items = 3, "cart is {}", "full"),
                    )
                })
                .unwrap()
                .join()
                .unwrap();
        },
    );
    let e = &lines[0];
    let line = include_str!("schema.rs")
        .lines()
        .position(|l| l.contains("\"cart is {}\""))
        .unwrap()
        + 1;
    assert_eq!(e["level"], "WARN");
    assert_eq!(e["service"], "unit-test");
    assert_eq!(e["target"], "shop::cart");
    assert_eq!(e["message"], "cart is full");
    assert_eq!(e["fields"], json!({"items": 3}));
    assert_eq!(e["file"], file!());
    assert_eq!(e["line"], json!(line));
    assert_eq!(e["module_path"], module_path!());
    assert_eq!(e["thread_name"], "worker-7");
    assert!(e["thread_id"].as_u64().unwrap() > 0);
    assert_eq!(e["pid"], json!(std::process::id()));
    assert_eq!(
        e["host"],
        gethostname::gethostname().to_string_lossy().as_ref()
    );
    assert_eq!(e["region"], "eu-west-1");
    assert_eq!(e["replica"], 3);
    assert!(e.get("span").is_none() && e.get("spans").is_none());
    // RFC 3339, UTC, nanoseconds: 2026-11-24T10:11:12.123456789Z
    let ts = e["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 30, "{ts}");
    assert!(
        ts.ends_with('Z') && &ts[10..11] == "T" && &ts[19..20] == ".",
        "{ts}"
    );
    let secs = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs();
    let year = 1970 + secs / 31_556_952;
    assert_eq!(ts[..4].parse::<u64>().unwrap(), year, "{ts}");
}

#[test]
fn message_comes_first_whatever_the_field_order_and_may_be_absent() {
    let (lines, raw, _) = capture(
        |b| b,
        || {
            tracing::info!(a = 1, "after a");
            tracing::info!(b = 2);
            tracing::info!(message = 42);
        },
    );
    assert_eq!(lines[0]["message"], "after a");
    assert_eq!(lines[0]["fields"], json!({"a": 1}));
    assert!(raw[0].find("\"message\"").unwrap() < raw[0].find("\"fields\"").unwrap());
    assert_eq!(lines[1]["message"], "");
    assert_eq!(lines[1]["fields"], json!({"b": 2}));
    assert_eq!(lines[2]["message"], "42");
}

#[test]
fn the_layer_filter_applies_to_this_layer_only() {
    let filter = "info,noisy=error".parse().unwrap();
    let (lines, _, _) = capture(
        |b| b.filter(filter),
        || {
            tracing::debug!("too detailed");
            tracing::info!("kept");
            tracing::warn!(target: "noisy", "dropped by target");
            tracing::error!(target: "noisy", "kept too");
        },
    );
    let messages: Vec<_> = lines.iter().map(|l| l["message"].clone()).collect();
    assert_eq!(messages, [json!("kept"), json!("kept too")]);
}

#[test]
fn levels_are_upper_case_names() {
    let (lines, _, _) = capture(
        |b| b,
        || {
            tracing::event!(Level::TRACE, "t");
            tracing::event!(Level::DEBUG, "d");
            tracing::event!(Level::INFO, "i");
            tracing::event!(Level::WARN, "w");
            tracing::event!(Level::ERROR, "e");
        },
    );
    let levels: Vec<_> = lines
        .iter()
        .map(|l| l["level"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(levels, ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]);
}
