use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::decode::OtlpEncoding;
use super::map::map_request;
use crate::api::line::{Batches, Refusals};
use crate::filter::EntryFacts;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service), kv("host.name", "h1")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(
                    opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                        name: "app.db".into(),
                        version: "1.2".into(),
                        ..Default::default()
                    },
                ),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn map_lines(request: &ExportLogsServiceRequest) -> (Vec<serde_json::Value>, Refusals) {
    let mut batches = Batches::new(1 << 20);
    let mut refused = Refusals::default();
    map_request(
        &request.resource_logs,
        7_000_000_000,
        &mut batches,
        &mut refused,
    );
    let values = batches.values();
    (values, refused)
}

#[test]
fn a_record_maps_to_an_ordinary_line() {
    let record = LogRecord {
        time_unix_nano: 1_500_000_000,
        severity_number: 13,
        severity_text: "WARNING".into(),
        body: Some(AnyValue {
            value: Some(Value::StringValue("disk low".into())),
        }),
        attributes: vec![kv("user", "a"), kv("user", "b")],
        trace_id: vec![0xab; 16],
        span_id: vec![0x01; 8],
        ..Default::default()
    };
    let (lines, refused) = map_lines(&request("checkout", vec![record]));
    assert_eq!(refused.count, 0);
    let line = &lines[0];
    assert_eq!(line["timestamp"], "1970-01-01T00:00:01.500000000Z");
    assert_eq!(line["service"], "checkout");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["severity_text"], "WARNING");
    assert_eq!(line["message"], "disk low");
    assert_eq!(
        line["fields"]["user"], "b",
        "the last of a repeated key wins"
    );
    assert_eq!(line["trace_id"], "ab".repeat(16));
    assert_eq!(line["span_id"], "01".repeat(8));
    assert_eq!(line["resource"], serde_json::json!({"host.name": "h1"}));
    assert_eq!(
        line["scope"],
        serde_json::json!({"name": "app.db", "version": "1.2"})
    );
}

#[test]
fn observed_time_then_arrival_stand_in_for_a_missing_time() {
    let observed = LogRecord {
        observed_time_unix_nano: 2_000_000_000,
        ..Default::default()
    };
    let (lines, _) = map_lines(&request("a", vec![observed, LogRecord::default()]));
    assert_eq!(lines[0]["timestamp"], "1970-01-01T00:00:02.000000000Z");
    assert_eq!(lines[1]["timestamp"], "1970-01-01T00:00:07.000000000Z");
    assert_eq!(lines[1]["level"], "INFO");
    assert_eq!(lines[1]["message"], "");
}

#[test]
fn a_structured_body_stays_structured() {
    let body = AnyValue {
        value: Some(Value::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: vec![kv("k", "v")],
            },
        )),
    };
    let (lines, _) = map_lines(&request(
        "a",
        vec![LogRecord {
            body: Some(body),
            ..Default::default()
        }],
    ));
    assert_eq!(lines[0]["body"], serde_json::json!({"k": "v"}));
}

#[test]
fn bad_service_names_and_ids_are_refused_by_position() {
    let (lines, refused) = map_lines(&request(
        "../etc",
        vec![LogRecord::default(), LogRecord::default()],
    ));
    assert!(lines.is_empty());
    assert_eq!(refused.count, 2);
    assert!(refused
        .message("log records")
        .contains("resource 0: invalid service.name"));
    let bad_id = LogRecord {
        trace_id: vec![1; 5],
        ..Default::default()
    };
    let (lines, refused) = map_lines(&request("ok", vec![bad_id, LogRecord::default()]));
    assert_eq!((lines.len(), refused.count), (1, 1));
    assert!(refused
        .message("log records")
        .contains("record 0: trace_id is 5 bytes"));
}

#[test]
fn the_sdk_default_service_is_unknown() {
    let (lines, _) = map_lines(&request(
        "unknown_service:python3",
        vec![LogRecord::default()],
    ));
    assert_eq!(lines[0]["service"], "unknown");
}

#[test]
fn both_encodings_decode_and_garbage_does_not() {
    let req = request("a", vec![LogRecord::default()]);
    let decoded = OtlpEncoding::Protobuf.decode(&req.encode_to_vec()).unwrap();
    assert_eq!(decoded, req);
    let json = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"j"}}]},
        "scopeLogs":[{"logRecords":[{"timeUnixNano":"1000000000","severityNumber":17,"traceId":"5b8efff798038103d269b633813fc60c",
        "spanId":"eee19b7ec3c1b174","body":{"stringValue":"x"},"attributes":[{"key":"n","value":{"intValue":"42"}}],"unknownField":1}]}]}]}"#;
    let decoded = OtlpEncoding::Json.decode(json).unwrap();
    let (lines, _) = map_lines(&decoded);
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["n"], 42);
    assert_eq!(lines[0]["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert!(OtlpEncoding::Protobuf
        .decode(&req.encode_to_vec()[..10])
        .is_err());
    assert!(OtlpEncoding::Json
        .decode(br#"{"resourceLogs":{}}"#)
        .is_err());
}

#[test]
fn the_count_index_facts_are_those_read_back_from_each_line() {
    let record = |number: i32, text: &str, time: u64| LogRecord {
        severity_number: number,
        severity_text: text.into(),
        time_unix_nano: time,
        ..Default::default()
    };
    let records = vec![
        record(1, "", 1_500_000_000),
        record(6, "", 0),
        record(11, "", u64::MAX),
        record(14, "", 1),
        record(19, "", 1_795_622_503_123_456_000),
        record(24, "", 2),
        record(0, "warning", 3),
        record(0, "crit", 4),
        record(0, "50", 5),
        record(0, "chatty", 6),
        record(30, "", 7),
    ];
    let mut batches = Batches::new(1 << 20);
    let mut refused = Refusals::default();
    map_request(
        &request("a", records).resource_logs,
        7_000_000_000,
        &mut batches,
        &mut refused,
    );
    let batch = &batches.into_inner()[0];
    let lines: Vec<&[u8]> = batch.lines.split(|b| *b == b'\n').collect();
    assert_eq!(batch.facts.len(), 11);
    for (line, facts) in lines.iter().zip(&batch.facts) {
        assert_eq!(
            facts.facts,
            EntryFacts::of_line(line),
            "{}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(facts.bytes as usize, line.len() + 1);
    }
}
