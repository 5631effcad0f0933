use prost::Message as _;

use super::decode::{
    parse_labels, EntryAdapter, LabelPair, PushEncoding, PushRequest, StreamAdapter, Timestamp,
};
use super::map::map_streams;
use crate::api::line::{Batches, Refusals};

fn map(encoding: PushEncoding, body: &[u8]) -> (Vec<serde_json::Value>, Refusals) {
    let streams = encoding.decode(body, 1 << 20).unwrap();
    let mut batches = Batches::new(1 << 20);
    let mut refused = Refusals::default();
    map_streams(&streams, 5, &mut batches, &mut refused);
    let lines = batches.values();
    (lines, refused)
}

#[test]
fn labels_parse_like_prometheus() {
    let labels = parse_labels(r#"{job="api", msg="a \"q\" \\ \n", _x = "é"}"#).unwrap();
    assert_eq!(labels["job"], "api");
    assert_eq!(labels["msg"], "a \"q\" \\ \n");
    assert_eq!(labels["_x"], "é");
    assert!(parse_labels("{}").unwrap().is_empty());
    for bad in [
        r#"job="a""#,
        r#"{job=a}"#,
        r#"{1a="b"}"#,
        r#"{a="b" c="d"}"#,
        r#"{a="b}"#,
    ] {
        assert!(parse_labels(bad).is_err(), "{bad}");
    }
}

#[test]
fn snappy_protobuf_maps_labels_metadata_and_service() {
    let request = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{job="batch", service_name="api", level="warn"}"#.into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp {
                    seconds: 1,
                    nanos: 5,
                }),
                line: "hello".into(),
                structured_metadata: vec![LabelPair {
                    name: "trace_id".into(),
                    value: "abc".into(),
                }],
            }],
            hash: 0,
        }],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap();
    let (lines, refused) = map(PushEncoding::SnappyProtobuf, &body);
    assert_eq!(refused.count, 0);
    let line = &lines[0];
    assert_eq!(line["service"], "api", "service_name wins over job");
    assert_eq!(line["timestamp"], "1970-01-01T00:00:01.000000005Z");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["message"], "hello");
    assert_eq!(line["fields"]["job"], "batch");
    assert_eq!(line["metadata"]["trace_id"], "abc");
    assert_eq!(line["trace_id"], "abc");
}

#[test]
fn json_pushes_map_too_and_bad_services_are_refused() {
    let body = br#"{"streams":[{"stream":{"job":"web"},"values":[["2000000000","a"],["3000000000","b",{"user":"u"}]]},
        {"stream":{"service":"a/b"},"values":[["1","x"]]}]}"#;
    let (lines, refused) = map(PushEncoding::Json, body);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["service"], "web");
    assert_eq!(lines[1]["metadata"]["user"], "u");
    assert_eq!(refused.count, 1);
    assert!(refused
        .message("entries")
        .contains("stream 1: label service=\"a/b\""));
}

#[test]
fn hostile_bodies_are_errors() {
    assert!(PushEncoding::SnappyProtobuf
        .decode(b"not snappy", 1 << 20)
        .is_err());
    let big = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 4096])
        .unwrap();
    assert!(
        PushEncoding::SnappyProtobuf.decode(&big, 1024).is_err(),
        "over the limit"
    );
    let truncated = snap::raw::Encoder::new()
        .compress_vec(&[0x0a, 0x10, 0x0a])
        .unwrap();
    assert!(PushEncoding::SnappyProtobuf
        .decode(&truncated, 1 << 20)
        .is_err());
    assert!(PushEncoding::Json
        .decode(
            br#"{"streams":[{"stream":{},"values":[["soon","x"]]}]}"#,
            1 << 20
        )
        .is_err());
    assert!(PushEncoding::Json
        .decode(br#"{"streams":[{"stream":{"a":1},"values":[]}]}"#, 1 << 20)
        .is_err());
}
