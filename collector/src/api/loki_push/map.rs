//! One Loki entry → one stored line (the mapping table in the README, "Loki push").

use super::decode::Stream;
use crate::api::line::{write_key, write_str, write_timestamp, Batches, Refusals};
use crate::filter::Severity;
use crate::service::ServiceName;

/// The labels that name the service, in the order they are tried.
pub(super) const SERVICE_LABELS: [&str; 3] = ["service_name", "service", "job"];
/// Labels or metadata that carry the level, in the order they are tried.
const LEVEL_KEYS: [&str; 4] = ["level", "detected_level", "severity", "severity_text"];
/// Metadata lifted to the top level, so `field.trace_id` follows a request.
const TRACE_KEYS: [&str; 2] = ["trace_id", "span_id"];

/// Maps every entry of `streams` into `batches`. A stream whose service label is not a
/// valid service name, or an entry over the size limit, is counted in `refused`.
pub(super) fn map_streams(
    streams: &[Stream],
    arrival_nanos: i128,
    batches: &mut Batches,
    refused: &mut Refusals,
) {
    let mut line = Vec::with_capacity(256);
    for (i, stream) in streams.iter().enumerate() {
        let service = match service_of(stream) {
            Ok(service) => service,
            Err(reason) => {
                refused.add(stream.entries.len().max(1), || {
                    format!("stream {i}: {reason}")
                });
                continue;
            }
        };
        let stream_level = LEVEL_KEYS
            .iter()
            .find_map(|k| stream.labels.get(*k).and_then(|v| Severity::parse(v)));
        let mut labels = Vec::new();
        labels.push(b'{');
        for (name, value) in &stream.labels {
            write_key(&mut labels, name);
            write_str(&mut labels, value);
        }
        labels.push(b'}');
        for (j, entry) in stream.entries.iter().enumerate() {
            line.clear();
            let nanos = if entry.nanos > 0 {
                entry.nanos
            } else {
                arrival_nanos
            };
            line.extend_from_slice(b"{\"timestamp\":");
            write_timestamp(&mut line, nanos);
            line.extend_from_slice(b",\"service\":");
            write_str(&mut line, service.as_str());
            let level = LEVEL_KEYS
                .iter()
                .find_map(|k| {
                    let (_, v) = entry.metadata.iter().rev().find(|(n, _)| n == k)?;
                    Severity::parse(v)
                })
                .or(stream_level);
            if let Some(level) = level {
                line.extend_from_slice(b",\"level\":");
                write_str(&mut line, level.name());
            }
            line.extend_from_slice(b",\"message\":");
            write_str(&mut line, &entry.line);
            line.extend_from_slice(b",\"fields\":");
            line.extend_from_slice(&labels);
            write_metadata(&mut line, &entry.metadata);
            line.push(b'}');
            if let Err(reason) = batches.push(&service, &line) {
                refused.add(1, || format!("stream {i} entry {j}: {reason}"));
            }
        }
    }
}

/// The service from the first of [`SERVICE_LABELS`] present; `unknown` when none is.
fn service_of(stream: &Stream) -> Result<ServiceName, String> {
    match SERVICE_LABELS
        .iter()
        .find_map(|k| stream.labels.get(*k).map(|v| (k, v)))
    {
        None => Ok(ServiceName::unknown()),
        Some((label, value)) => ServiceName::parse(value)
            .map_err(|err| format!("label {label}={value:?} is not a valid service name: {err}")),
    }
}

/// `,"metadata":{…}` and the trace ids beside it.
fn write_metadata(line: &mut Vec<u8>, metadata: &[(String, String)]) {
    if metadata.is_empty() {
        return;
    }
    line.extend_from_slice(b",\"metadata\":{");
    for (i, (name, value)) in metadata.iter().enumerate() {
        // A name sent twice keeps its last value, so the object has no duplicate keys.
        if metadata[i + 1..].iter().any(|(later, _)| later == name) {
            continue;
        }
        write_key(line, name);
        write_str(line, value);
    }
    line.push(b'}');
    for key in TRACE_KEYS {
        if let Some((_, value)) = metadata.iter().rev().find(|(n, _)| n == key) {
            write_key(line, key);
            write_str(line, value);
        }
    }
}
