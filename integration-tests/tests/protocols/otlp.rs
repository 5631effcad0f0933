//! `POST /v1/logs` from the OpenTelemetry Python SDK and from hand-built bodies.

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use serde_json::json;

use super::{json, post, python};
use crate::support::{gzip, Collector};

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");

#[test]
fn the_python_sdk_exports_entries_with_service_level_attributes_resource_and_trace() {
    let collector = Collector::start_with(&["--ingest-token", "ing", "--query-token", "qry"], &[]);
    let ids = json(python("otlp_sdk.py", &[&collector.url, "ing"]).as_bytes());
    let lines = collector.lines("py-otlp");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let warn = &lines[0];
    assert_eq!(warn["service"], "py-otlp");
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["message"], "payment slow");
    assert_eq!(warn["fields"]["order_id"], 42);
    assert_eq!(warn["fields"]["user"], "ana");
    assert_eq!(warn["resource"]["deployment.environment"], "test");
    assert_eq!(warn["resource"]["telemetry.sdk.language"], "python");
    assert_eq!(warn["scope"]["name"], "shop.checkout");
    assert_eq!(warn["trace_id"], ids["trace_id"]);
    assert_eq!(warn["span_id"], ids["span_id"]);
    assert!(warn["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["level"], "ERROR");
    assert!(lines[1].get("trace_id").is_none());
    // Following the request: one trace id across services, in time order.
    let trace = ids["trace_id"].as_str().unwrap();
    let page = crate::support::http()
        .get(format!("{}/logs?field.trace_id={trace}", collector.url))
        .bearer_auth("qry")
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(page["count"], 1, "{page}");
}

fn record(service: &str, message: &str) -> ExportLogsServiceRequest {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_001,
                    severity_number: 9,
                    body: Some(AnyValue {
                        value: Some(Value::StringValue(message.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn hand_built_json_and_gzip_protobuf_are_stored_and_answered_in_kind() {
    let collector = Collector::start();
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
        "scopeLogs": [{"scope": {"name": "web"}, "logRecords": [{
            "timeUnixNano": "1700000000000000000", "severityNumber": 21, "severityText": "CRITICAL",
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "body": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}},
            "attributes": [{"key": "ok", "value": {"boolValue": true}}],
            "someFutureField": {"ignored": true}
        }]}]
    }]});
    let (status, headers, answer) = post(
        &collector.url,
        "/v1/logs",
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json(&answer), json!({}));
    let line = &collector.lines("js")[0];
    assert_eq!(line["timestamp"], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(
        (line["level"].as_str(), line["severity_text"].as_str()),
        (Some("FATAL"), Some("CRITICAL"))
    );
    assert_eq!(line["body"], json!({"k": 1.5}));
    assert_eq!(line["fields"], json!({"ok": true}));
    assert_eq!(line["trace_id"], "5b8efff798038103d269b633813fc60c");

    let bytes = gzip(&record("pb", "zipped").encode_to_vec());
    let (status, headers, answer) = post(
        &collector.url,
        "/v1/logs",
        &[PROTOBUF, ("content-encoding", "gzip")],
        bytes,
    );
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(
        ExportLogsServiceResponse::decode(&answer[..])
            .unwrap()
            .partial_success,
        None
    );
    assert_eq!(collector.lines("pb")[0]["message"], "zipped");
}

#[test]
fn hostile_otlp_is_refused_or_reported_and_nothing_invalid_is_written() {
    let collector = Collector::start_with(&["--max-body-bytes", "65536"], &[]);
    let good = record("ok", "fine").encode_to_vec();
    // Truncated protobuf, wrong JSON types, unknown content type: 4xx with a JSON error.
    for (headers, body, expected) in [
        (vec![PROTOBUF], good[..good.len() - 3].to_vec(), 400),
        (
            vec![("content-type", "application/json")],
            br#"{"resourceLogs":[{"scopeLogs":"no"}]}"#.to_vec(),
            400,
        ),
        (
            vec![("content-type", "application/json")],
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#.to_vec(),
            400,
        ),
        (vec![("content-type", "text/plain")], good.clone(), 415),
        (vec![PROTOBUF], vec![0u8; 70_000], 413),
        (
            vec![PROTOBUF, ("content-encoding", "gzip")],
            gzip(&vec![0u8; 1_000_000]),
            413,
        ),
    ] {
        let (status, _, answer) = post(&collector.url, "/v1/logs", &headers, body);
        assert_eq!(status, expected, "{}", String::from_utf8_lossy(&answer));
        assert!(json(&answer)["error"].is_string());
    }
    // A bad service name inside the resource: a partial success naming it.
    let mut mixed = record("bad/name", "refused");
    mixed
        .resource_logs
        .extend(record("ok", "kept").resource_logs);
    let (status, _, answer) = post(
        &collector.url,
        "/v1/logs",
        &[PROTOBUF],
        mixed.encode_to_vec(),
    );
    assert_eq!(status, 200);
    let partial = ExportLogsServiceResponse::decode(&answer[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial
            .error_message
            .contains("resource 0: invalid service.name"),
        "{}",
        partial.error_message
    );
    assert_eq!(collector.files(), vec!["ok.log".to_string()]);
    assert_eq!(collector.lines("ok").len(), 1);
    assert_eq!(collector.get("/health").0, 200, "the server stays up");
}
