//! The Loki push body (streams by label set, `[ns, line]` values in time order, gzip) and
//! what a push's answer means, against a tiny real HTTP server.

use std::io::Read;

use serde_json::{json, Value};

use super::*;
use crate::forward::http::Auth;
use crate::forward::loki::PUSH_PATH;
use crate::forward::send_once;
use crate::forward::tests::{shipment, TinyServer};
use crate::timefmt::parse_rfc3339;

fn config(url: &str, labels: &[&str]) -> LokiConfig {
    let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
    LokiConfig::new(url, &labels, None, Auth::None).unwrap()
}

fn sink(config: &LokiConfig) -> LokiSink {
    LokiSink::new(config, Duration::from_secs(10)).unwrap()
}

fn gunzip_json(body: &[u8]) -> Value {
    let mut json = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut json)
        .expect("a gzip body");
    serde_json::from_str(&json).expect("a JSON body")
}

fn ns(second: u32) -> String {
    parse_rfc3339(&format!("2026-01-01T00:00:{second:02}Z"))
        .unwrap()
        .to_string()
}

#[test]
fn streams_group_by_label_set_with_values_in_time_order() {
    let lines = [
        r#"{"level":"info","m":"b","timestamp":"2026-01-01T00:00:02Z"}"#,
        r#"{"level":"error","m":"x","timestamp":"2026-01-01T00:00:05Z"}"#,
        r#"{"level":"info","m":"a","timestamp":"2026-01-01T00:00:01Z"}"#,
        r#"{"level":"info","m":"delivered already","timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"level":"info","m":"no time"}"#,
        r#"{"m":"no level","timestamp":"2026-01-01T00:00:03Z"}"#,
        r#"{"level":"info","m":"é \"q\" \\ \n","timestamp":"2026-01-01T00:00:04Z"}"#,
    ];
    let batch = shipment("api", &lines, vec![0, 1, 2, 4, 5, 6]);
    let before = timefmt::now();
    let body = sink(&config("http://loki", &["service", "level"])).body(&batch);
    let after = timefmt::now();
    let push = gunzip_json(&body);
    let streams = push["streams"].as_array().unwrap();
    let labels: Vec<&Value> = streams.iter().map(|s| &s["stream"]).collect();
    assert_eq!(
        labels,
        [
            &json!({"level": "error", "service": "api"}),
            &json!({"level": "info", "service": "api"}),
            // No `level`: the labels it has.
            &json!({"service": "api"}),
        ]
    );
    let value = |ts: String, line: &str| json!([ts, line]);
    assert_eq!(streams[0]["values"], json!([value(ns(5), lines[1])]));
    assert_eq!(streams[2]["values"], json!([value(ns(3), lines[5])]));
    let info = streams[1]["values"].as_array().unwrap();
    assert_eq!(
        info[..3],
        [
            value(ns(1), lines[2]),
            value(ns(2), lines[0]),
            value(ns(4), lines[6]),
        ],
        "sorted by timestamp, lines sent as stored"
    );
    // Without a timestamp: stamped with the time of sending, so it sorts last.
    assert_eq!(info[3][1], lines[4]);
    let stamped: i128 = info[3][0].as_str().unwrap().parse().unwrap();
    assert!((before..=after).contains(&stamped));
    assert_eq!(info.len(), 4, "the entry not pending is not sent");
}

#[test]
fn label_values_are_text_and_a_stream_always_has_a_label() {
    let lines = [r#"{"status":500,"ok":false,"region":"eu"}"#];
    let batch = shipment("api", &lines, vec![0]);
    let push = gunzip_json(&sink(&config("http://loki", &["status", "region", "ok"])).body(&batch));
    assert_eq!(
        push["streams"][0]["stream"],
        json!({"ok": "false", "region": "eu", "status": "500"})
    );
    // None of the configured labels present: the service names the stream.
    let push = gunzip_json(&sink(&config("http://loki", &["level"])).body(&batch));
    assert_eq!(push["streams"][0]["stream"], json!({"service": "api"}));
}

#[test]
fn the_configuration_refuses_per_entry_labels() {
    let labels = |list: &[&str]| list.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    for bad in ["trace_id", "timestamp", "message"] {
        let refused = LokiConfig::new("http://loki", &labels(&["service", bad]), None, Auth::None);
        assert!(
            matches!(refused, Err(crate::forward::ForwardError::HighCardinalityLabel(ref l)) if l == bad)
        );
    }
    let config = LokiConfig::new(
        "http://loki:3100/",
        &labels(&[" service ", "", "level"]),
        Some(String::new()),
        Auth::None,
    )
    .unwrap();
    assert_eq!(config.push_url, "http://loki:3100/loki/api/v1/push");
    assert_eq!(config.labels, ["service", "level"]);
    assert_eq!(config.tenant, None);
}

#[tokio::test]
async fn a_push_is_a_gzip_json_post_with_tenant_and_token() {
    let server = TinyServer::start(vec![(204, "")]).await;
    let labels = vec!["service".to_owned()];
    let config = LokiConfig::new(
        &server.url,
        &labels,
        Some("team-a".into()),
        Auth::Bearer("tok".into()),
    )
    .unwrap();
    let line = r#"{"m":1,"timestamp":"2026-01-01T00:00:01Z"}"#;
    let delivery = send_once(&sink(&config), &shipment("api", &[line], vec![0]))
        .await
        .unwrap();
    assert_eq!(delivery, Delivery::default());
    let received = server.received();
    let request = &received[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", PUSH_PATH)
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("x-scope-orgid"), Some("team-a"));
    assert_eq!(request.header("authorization"), Some("Bearer tok"));
    assert_eq!(
        gunzip_json(&request.body),
        json!({"streams": [{"stream": {"service": "api"}, "values": [[ns(1), line]]}]})
    );
}

#[tokio::test]
async fn a_bad_batch_is_refused_for_good_and_the_rest_is_retried() {
    let answers = [
        (400, "bad"),
        (422, "bad"),
        (429, ""),
        (500, ""),
        (503, ""),
        (401, ""),
    ];
    let server = TinyServer::start(answers.to_vec()).await;
    let sink = sink(&config(&server.url, &["service"]));
    let batch = shipment("api", &[r#"{"m":1}"#], vec![0]);
    for (status, _) in answers {
        let outcome = send_once(&sink, &batch).await;
        match status {
            400 | 422 => assert!(
                matches!(&outcome, Err(SendError::Reject(reason)) if reason.contains("bad")),
                "{status}: {outcome:?}"
            ),
            _ => assert!(
                matches!(outcome, Err(SendError::Retry(_))),
                "{status}: {outcome:?}"
            ),
        }
    }
    assert_eq!(server.received().len(), answers.len());

    // Nobody listening: retried too.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let outcome = send_once(&self::sink(&config(&url, &["service"])), &batch).await;
    assert!(matches!(outcome, Err(SendError::Retry(_))), "{outcome:?}");
}
