//! `POST /loki/api/v1/push` from python-logging-loki (JSON) and hand-built snappy protobuf.

use prost::Message as _;
use serde_json::json;

use super::{json, post, python};
use crate::support::Collector;

/// Loki's `logproto` messages (field numbers from Loki's `pkg/push/push.proto`), built here
/// independently of the collector's own definitions.
#[derive(Clone, PartialEq, prost::Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<Stream>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Stream {
    #[prost(string, tag = "1")]
    labels: String,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<Entry>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Entry {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    line: String,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<Pair>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Pair {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

fn snappy_push(labels: &str, line: &str) -> Vec<u8> {
    let request = PushRequest {
        streams: vec![Stream {
            labels: labels.into(),
            entries: vec![Entry {
                timestamp: Some(Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 42,
                }),
                line: line.into(),
                structured_metadata: vec![Pair {
                    name: "trace_id".into(),
                    value: "0af7651916cd43dd8448eb211c80319c".into(),
                }],
            }],
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");

#[test]
fn python_logging_loki_pushes_entries_with_labels_as_fields() {
    let collector = Collector::start();
    python("loki_handler.py", &[&collector.url, "py-loki"]);
    let lines = collector.lines("py-loki");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["message"], "job started");
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["fields"]["env"], "test");
    assert_eq!(lines[1]["level"], "WARN");
    assert_eq!(lines[1]["fields"]["queue"], "emails");
}

#[test]
fn snappy_protobuf_is_stored_with_metadata_and_a_token_applies() {
    let collector = Collector::start_with(&["--ingest-token", "ing"], &[]);
    let body = snappy_push(
        r#"{job="batch", service_name="billing", level="error"}"#,
        "charge failed",
    );
    let (status, _, _) = post(
        &collector.url,
        "/loki/api/v1/push",
        &[PROTOBUF],
        body.clone(),
    );
    assert_eq!(status, 401, "the ingest token applies");
    let (status, _, answer) = post(
        &collector.url,
        "/loki/api/v1/push",
        &[PROTOBUF, ("authorization", "Bearer ing")],
        body,
    );
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&answer));
    let line = &collector.lines("billing")[0];
    assert_eq!(line["timestamp"], "2023-11-14T22:13:20.000000042Z");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["message"], "charge failed");
    assert_eq!(
        line["fields"],
        json!({"job": "batch", "service_name": "billing", "level": "error"})
    );
    assert_eq!(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
}

#[test]
fn hostile_pushes_are_refused_whole_and_the_server_stays_up() {
    let collector = Collector::start_with(&["--max-body-bytes", "65536"], &[]);
    let good = snappy_push(r#"{job="ok"}"#, "x");
    let raw = PushRequest {
        streams: vec![Stream {
            labels: r#"{job="ok"}"#.into(),
            entries: vec![],
        }],
    }
    .encode_to_vec();
    let mut truncated_inner = snappy_push(r#"{job="ok"}"#, "x");
    truncated_inner.truncate(truncated_inner.len() - 4);
    let huge = snap::raw::Encoder::new()
        .compress_vec(&vec![b'a'; 200_000])
        .unwrap();
    let mixed = json!({"streams": [
        {"stream": {"job": "fine"}, "values": [["1700000000000000000", "kept?"]]},
        {"stream": {"service": "../etc"}, "values": [["1700000000000000000", "evil"]]}
    ]});
    for (content_type, body, expected) in [
        ("application/x-protobuf", raw, 400),
        ("application/x-protobuf", truncated_inner, 400),
        ("application/x-protobuf", huge, 413),
        (
            "application/json",
            br#"{"streams":[{"stream":{"job":"a"},"values":[[1,2]]}]}"#.to_vec(),
            400,
        ),
        ("application/json", mixed.to_string().into_bytes(), 400),
        ("text/plain", good, 415),
    ] {
        let (status, _, answer) = post(
            &collector.url,
            "/loki/api/v1/push",
            &[("content-type", content_type)],
            body,
        );
        assert_eq!(status, expected, "{}", String::from_utf8_lossy(&answer));
        let error = json(&answer)["error"].as_str().unwrap().to_owned();
        if expected == 400 && content_type == "application/json" && error.contains("stream 1") {
            assert!(error.contains("label service=\"../etc\""), "{error}");
        }
    }
    assert_eq!(
        collector.files(),
        Vec::<String>::new(),
        "nothing was written"
    );
    assert_eq!(collector.get("/health").0, 200);
}
