//! The seed (Flask logging service) API is our compatibility floor.

use serde_json::json;

use crate::support::{http, Collector};

#[test]
fn health_reports_healthy_and_the_configured_service_name() {
    let collector = Collector::start_with(&[], &[("SERVICE_NAME", "central-logs")]);
    let (status, body) = collector.get("/health");
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "central-logs");
    assert!(body["version"].is_string());
}

#[test]
fn a_posted_object_is_stored_as_one_line_with_a_timestamp_and_read_back() {
    let collector = Collector::start();
    let (status, body) =
        collector.post_json(&json!({"service": "billing", "level": "INFO", "message": "paid"}));
    assert_eq!(status, 201);
    assert_eq!(body, json!({"status": "logged"}));

    let lines = collector.lines("billing");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "paid");
    let stamp = lines[0]["timestamp"].as_str().expect("timestamp added");
    assert!(
        stamp.ends_with('Z') && stamp.contains('.'),
        "RFC 3339 UTC with fraction: {stamp}"
    );

    let (status, body) = collector.get("/logs/billing");
    assert_eq!(status, 200);
    assert_eq!(body["service"], "billing");
    assert_eq!(body["count"], 1);
    assert_eq!(body["logs"][0], lines[0]);
}

#[test]
fn an_entry_without_service_goes_to_unknown_and_a_given_timestamp_is_kept() {
    let collector = Collector::start();
    let (status, _) =
        collector.post_json(&json!({"message": "hi", "timestamp": "2020-01-01T00:00:00Z"}));
    assert_eq!(status, 201);
    let lines = collector.lines("unknown");
    assert_eq!(
        lines,
        vec![json!({"message": "hi", "timestamp": "2020-01-01T00:00:00Z"})]
    );
}

#[test]
fn limit_returns_the_last_n_oldest_first_and_defaults_to_100() {
    let collector = Collector::start();
    let batch: Vec<_> = (0..150).map(|i| json!({"service": "s", "i": i})).collect();
    assert_eq!(collector.post_json(&json!(batch)).0, 201);

    let (_, body) = collector.get("/logs/s?limit=3");
    assert_eq!(body["count"], 3);
    let order: Vec<i64> = body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(order, vec![147, 148, 149]);

    let (_, body) = collector.get("/logs/s");
    assert_eq!(body["count"], 100);
    assert_eq!(body["logs"][0]["i"], 50);
}

#[test]
fn an_unknown_service_answers_an_empty_list() {
    let collector = Collector::start();
    let (status, body) = collector.get("/logs/never-seen");
    assert_eq!(status, 200);
    assert_eq!(body["service"], "never-seen");
    assert_eq!(body["count"], 0);
    assert_eq!(body["logs"], json!([]));
}

#[test]
fn cors_allows_any_origin_by_default_and_only_listed_ones_when_restricted() {
    let open = Collector::start();
    let resp = http()
        .request(reqwest::Method::OPTIONS, format!("{}/logs", open.url))
        .header("origin", "https://dash.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .expect("preflight");
    assert!(resp.status().is_success());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");

    let closed = Collector::start_with(&["--cors-origins", "https://ok.example"], &[]);
    let origin_of = |origin: &str| {
        http()
            .get(format!("{}/health", closed.url))
            .header("origin", origin)
            .send()
            .expect("get")
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    assert_eq!(
        origin_of("https://ok.example").as_deref(),
        Some("https://ok.example")
    );
    assert_eq!(origin_of("https://evil.example"), None);
}
