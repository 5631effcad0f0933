//! `GET /metrics`: well-formed Prometheus text whose values follow what the collector does.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::raw_get;
use crate::support::{http, wait_until, Collector};

/// Samples by `name{labels}` as rendered, after checking every line is valid text format
/// and every family is declared once, before its samples.
fn scrape(collector: &Collector) -> HashMap<String, f64> {
    let response = http()
        .get(format!("{}/metrics", collector.url))
        .send()
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&response.text().expect("text"))
}

fn parse(text: &str) -> HashMap<String, f64> {
    let mut declared: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                declared.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{name} declared twice"
            );
            continue;
        }
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP "), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let name = series.split('{').next().expect("name");
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| {
            name.strip_suffix(s)
                .filter(|f| declared.get(*f).is_some_and(|k| k == "histogram"))
        });
        assert!(
            declared.contains_key(family.unwrap_or(name)),
            "{name} has no TYPE line"
        );
        if series.contains('{') {
            assert!(
                series.ends_with('}') && series.matches('"').count() % 2 == 0,
                "{line}"
            );
        }
        let value: f64 = value
            .replace("+Inf", "inf")
            .parse()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

#[test]
fn metrics_follow_ingestion_rejections_disk_and_streams() {
    let collector = Collector::start_with(&["--sse-heartbeat-secs", "1"], &[]);
    let before = scrape(&collector);
    assert_eq!(
        value(
            &before,
            &format!(
                "estuary_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    assert_eq!(value(&before, "estuary_live_streams"), 0.0);
    assert!(!before
        .keys()
        .any(|k| k.starts_with("estuary_ingested_entries_total")));

    let alpha: Vec<_> = (0..3)
        .map(|i| json!({"service": "alpha", "i": i}))
        .collect();
    assert_eq!(collector.post_json(&json!(alpha)).0, 201);
    assert_eq!(
        collector
            .post_json(&json!([{"service": "beta"}, {"service": "beta"}]))
            .0,
        201
    );
    assert_eq!(
        collector
            .post_raw("application/json", None, b"{oops".to_vec())
            .0,
        400
    );
    assert_eq!(
        collector.post_raw("text/plain", None, b"{}".to_vec()).0,
        415
    );
    let (stream_status, stream) = raw_get(&collector, "/logs/stream");
    assert!(stream_status.contains(" 200 "));

    let after = scrape(&collector);
    let alpha_bytes = collector.raw("alpha").len() as f64;
    assert_eq!(
        value(&after, "estuary_ingested_entries_total{service=\"alpha\"}"),
        3.0
    );
    assert_eq!(
        value(&after, "estuary_ingested_entries_total{service=\"beta\"}"),
        2.0
    );
    assert_eq!(
        value(&after, "estuary_ingested_bytes_total{service=\"alpha\"}"),
        alpha_bytes
    );
    assert_eq!(
        value(&after, "estuary_disk_bytes{service=\"alpha\"}"),
        alpha_bytes
    );
    assert_eq!(
        value(
            &after,
            "estuary_rejected_requests_total{reason=\"invalid_entry\",status=\"400\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "estuary_rejected_requests_total{reason=\"unsupported_media_type\",status=\"415\"}"
        ),
        1.0
    );
    assert!(value(&after, "estuary_commit_duration_seconds_count") >= 2.0);
    assert!(
        value(
            &after,
            "estuary_commit_duration_seconds_bucket{le=\"+Inf\"}"
        ) >= 2.0
    );
    assert_eq!(value(&after, "estuary_live_streams"), 1.0);

    drop(stream);
    assert_eq!(collector.post_json(&json!({"service": "alpha"})).0, 201);
    wait_until(
        Duration::from_secs(10),
        "the stream to be counted as closed",
        || value(&scrape(&collector), "estuary_live_streams") == 0.0,
    );
    assert_eq!(
        value(
            &scrape(&collector),
            "estuary_ingested_entries_total{service=\"alpha\"}"
        ),
        4.0
    );
}
