//! One OTLP log record → one stored line (the mapping table in the README, "OTLP").
//!
//! The resource's and the scope's parts are written once per group and copied into each
//! record's line, so a batch of many records from one SDK costs little more than NDJSON.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use crate::api::line::{write_hex, write_key, write_str, write_timestamp, Batches, Refusals};
use crate::body::MAX_DEPTH;
use crate::filter::{EntryFacts, Severity};
use crate::service::{ServiceName, ServiceNameError};

/// The resource attribute that names the service.
const SERVICE_NAME: &str = "service.name";
/// The stored levels, by [`Severity::slot`] (OTLP's severity numbers 1–24 give four
/// numbers to each, in this order).
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
/// Nesting used by the line around an attribute value (`{"fields":{"k":…`).
const FIELD_DEPTH: usize = 2;

/// Maps every record of `resources` into `batches`; records that cannot be stored are
/// counted in `refused` with the reason.
pub(super) fn map_request(
    resources: &[ResourceLogs],
    arrival_nanos: i128,
    batches: &mut Batches,
    refused: &mut Refusals,
) {
    let mut line = Vec::with_capacity(512);
    for (r, resource_logs) in resources.iter().enumerate() {
        let records = resource_logs
            .scope_logs
            .iter()
            .map(|s| s.log_records.len())
            .sum();
        let attributes = resource_logs
            .resource
            .as_ref()
            .map_or(&[][..], |r| &r.attributes[..]);
        let (service, resource_json) = match resource_parts(attributes) {
            Ok(parts) => parts,
            Err(reason) => {
                refused.add(records, || format!("resource {r}: {reason}"));
                continue;
            }
        };
        for (s, scope_logs) in resource_logs.scope_logs.iter().enumerate() {
            let tail = match scope_tail(scope_logs, &resource_json) {
                Ok(tail) => tail,
                Err(reason) => {
                    let n = scope_logs.log_records.len();
                    refused.add(n, || format!("resource {r} scope {s}: {reason}"));
                    continue;
                }
            };
            for (i, record) in scope_logs.log_records.iter().enumerate() {
                line.clear();
                let stored = write_record(&mut line, record, &service, arrival_nanos, &tail)
                    .and_then(|facts| batches.push_with_facts(&service, &line, facts));
                if let Err(reason) = stored {
                    refused.add(1, || format!("resource {r} scope {s} record {i}: {reason}"));
                }
            }
        }
    }
}

/// The service named by `service.name`, and `,"resource":{…}` holding the other attributes.
fn resource_parts(attributes: &[KeyValue]) -> Result<(ServiceName, Vec<u8>), String> {
    let mut service = ServiceName::unknown();
    let mut json = Vec::new();
    let others: Vec<&KeyValue> = attributes
        .iter()
        .filter(|kv| kv.key != SERVICE_NAME)
        .collect();
    if let Some(kv) = attributes.iter().rev().find(|kv| kv.key == SERVICE_NAME) {
        service = service_from(kv.value.as_ref())
            .map_err(|err| format!("invalid {SERVICE_NAME}: {err}"))?;
    }
    if !others.is_empty() {
        json.extend_from_slice(b",\"resource\":");
        write_attributes(&mut json, &others, FIELD_DEPTH)?;
    }
    Ok((service, json))
}

/// `service.name` as a service: a valid name; the SDKs' default `unknown_service` (or
/// `unknown_service:<process>`) is `unknown`.
fn service_from(value: Option<&AnyValue>) -> Result<ServiceName, ServiceNameError> {
    let name = match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(name)) => name.as_str(),
        _ => return Ok(ServiceName::unknown()),
    };
    if name == "unknown_service" || name.starts_with("unknown_service:") {
        return Ok(ServiceName::unknown());
    }
    ServiceName::parse(name)
}

/// What every record of a scope ends with: `,"scope":{…}` then the resource, then `}`.
fn scope_tail(scope_logs: &ScopeLogs, resource_json: &[u8]) -> Result<Vec<u8>, String> {
    let mut tail = Vec::new();
    if let Some(scope) = scope_logs.scope.as_ref() {
        if !scope.name.is_empty() || !scope.version.is_empty() || !scope.attributes.is_empty() {
            tail.extend_from_slice(b",\"scope\":{");
            if !scope.name.is_empty() {
                write_key(&mut tail, "name");
                write_str(&mut tail, &scope.name);
            }
            if !scope.version.is_empty() {
                write_key(&mut tail, "version");
                write_str(&mut tail, &scope.version);
            }
            if !scope.attributes.is_empty() {
                write_key(&mut tail, "attributes");
                write_attributes(&mut tail, &scope.attributes, FIELD_DEPTH + 1)?;
            }
            tail.push(b'}');
        }
    }
    tail.extend_from_slice(resource_json);
    tail.push(b'}');
    Ok(tail)
}

/// Writes one record's line (without the newline); returns its level and time as the
/// count index reads them from the line (`level` is always one of [`LEVELS`], and the
/// timestamp written is exactly `nanos`: OTLP's times are unsigned 64-bit nanoseconds, far
/// inside the years the stamp can spell).
fn write_record(
    line: &mut Vec<u8>,
    record: &LogRecord,
    service: &ServiceName,
    arrival_nanos: i128,
    tail: &[u8],
) -> Result<EntryFacts, String> {
    let nanos = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|n| *n != 0)
        .map_or(arrival_nanos, i128::from);
    let level = level_of(record);
    line.extend_from_slice(b"{\"timestamp\":");
    write_timestamp(line, nanos);
    line.extend_from_slice(b",\"service\":");
    write_str(line, service.as_str());
    line.extend_from_slice(b",\"level\":\"");
    line.extend_from_slice(LEVELS[level.slot() as usize].as_bytes());
    line.push(b'"');
    write_severity_text(line, record);
    write_body(line, record.body.as_ref())?;
    if !record.attributes.is_empty() {
        line.extend_from_slice(b",\"fields\":");
        write_attributes(line, &record.attributes, FIELD_DEPTH)?;
    }
    write_id(line, "trace_id", &record.trace_id, 16)?;
    write_id(line, "span_id", &record.span_id, 8)?;
    if !record.event_name.is_empty() {
        line.extend_from_slice(b",\"event_name\":");
        write_str(line, &record.event_name);
    }
    line.extend_from_slice(tail);
    Ok(EntryFacts {
        level: level.slot(),
        timestamp: Some(nanos),
    })
}

/// `TRACE`…`FATAL` from the severity number, else from a severity text the collector's
/// filters understand (`warning`, `crit`…), else `INFO`.
fn level_of(record: &LogRecord) -> Severity {
    match record.severity_number {
        // Four numbers per severity, least severe first, as `Severity::ALL` lists them.
        n @ 1..=24 => Severity::ALL[(n as usize - 1) / 4],
        _ => Severity::parse(&record.severity_text).unwrap_or(Severity::Info),
    }
}

/// Keeps the sender's own severity name when it says more than the level (`WARNING`,
/// `notice`), so nothing the SDK sent is lost.
fn write_severity_text(line: &mut Vec<u8>, record: &LogRecord) {
    let text = record.severity_text.as_str();
    if !text.is_empty() && !LEVELS.contains(&text) {
        line.extend_from_slice(b",\"severity_text\":");
        write_str(line, text);
    }
}

/// A string body is the `message`; a scalar is the message as text; an array or map stays
/// structured in `body` beside an empty `message`.
fn write_body(line: &mut Vec<u8>, body: Option<&AnyValue>) -> Result<(), String> {
    line.extend_from_slice(b",\"message\":");
    match body.and_then(|b| b.value.as_ref()) {
        None => line.extend_from_slice(b"\"\""),
        Some(Value::StringValue(text)) => write_str(line, text),
        Some(v @ (Value::BoolValue(_) | Value::IntValue(_) | Value::DoubleValue(_))) => {
            let mut text = Vec::new();
            write_value(&mut text, Some(v), 0)?;
            write_str(line, &String::from_utf8_lossy(&text));
        }
        Some(structured) => {
            line.extend_from_slice(b"\"\",\"body\":");
            write_value(line, Some(structured), 1)?;
        }
    }
    Ok(())
}

/// `,"trace_id":"<hex>"` when the id is set (present and not all zero).
fn write_id(line: &mut Vec<u8>, key: &str, id: &[u8], len: usize) -> Result<(), String> {
    if id.is_empty() || id.iter().all(|b| *b == 0) {
        return Ok(());
    }
    if id.len() != len {
        return Err(format!("{key} is {} bytes; it must be {len}", id.len()));
    }
    write_key(line, key);
    write_hex(line, id);
    Ok(())
}

/// Attributes as a JSON object; a key given twice keeps its last value, as OTLP intends.
fn write_attributes<K: std::borrow::Borrow<KeyValue>>(
    out: &mut Vec<u8>,
    attributes: &[K],
    depth: usize,
) -> Result<(), String> {
    let attributes: &[K] = attributes;
    // Quadratic for the usual handful of attributes; a set for long lists.
    let long = (attributes.len() > 32).then(|| {
        let mut last = std::collections::HashMap::new();
        for (i, kv) in attributes.iter().enumerate() {
            last.insert(kv.borrow().key.as_str(), i);
        }
        last
    });
    out.push(b'{');
    for (i, kv) in attributes.iter().enumerate() {
        let kv: &KeyValue = kv.borrow();
        let superseded = match &long {
            Some(last) => last.get(kv.key.as_str()) != Some(&i),
            None => attributes[i + 1..]
                .iter()
                .any(|later| later.borrow().key == kv.key),
        };
        if superseded {
            continue;
        }
        write_key(out, &kv.key);
        write_value(out, kv.value.as_ref().and_then(|v| v.value.as_ref()), depth)?;
    }
    out.push(b'}');
    Ok(())
}

/// An `AnyValue` as JSON: strings, booleans and numbers as themselves (non-finite doubles as
/// the strings `NaN`, `Infinity`, `-Infinity`), bytes as base64, arrays and maps nested.
fn write_value(out: &mut Vec<u8>, value: Option<&Value>, depth: usize) -> Result<(), String> {
    if depth >= MAX_DEPTH {
        return Err(format!("a value is nested deeper than {MAX_DEPTH} levels"));
    }
    match value {
        None => out.extend_from_slice(b"null"),
        Some(Value::StringValue(s)) => write_str(out, s),
        Some(Value::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(Value::IntValue(n)) => {
            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
        }
        Some(Value::DoubleValue(d)) if d.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, d);
        }
        Some(Value::DoubleValue(d)) => write_str(out, &non_finite(*d)),
        Some(Value::BytesValue(bytes)) => {
            write_str(
                out,
                &base64::engine::general_purpose::STANDARD.encode(bytes),
            );
        }
        Some(Value::ArrayValue(array)) => {
            out.push(b'[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item.value.as_ref(), depth + 1)?;
            }
            out.push(b']');
        }
        Some(Value::KvlistValue(list)) => write_attributes(out, &list.values, depth + 1)?,
        // Profiling's string-table references carry no value outside profiles.
        Some(Value::StringValueStrindex(_)) => out.extend_from_slice(b"null"),
    }
    Ok(())
}

fn non_finite(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d > 0.0 {
        "Infinity".into()
    } else {
        "-Infinity".into()
    }
}
