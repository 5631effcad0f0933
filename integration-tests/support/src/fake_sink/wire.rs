//! The destinations' wire formats as the fake sees them: counting entries cheaply (for the
//! benchmarks), parsing a body in full against what Loki's and Elasticsearch's
//! documentation define (for the tests' assertions and the benchmarks' check of a first
//! body), and the `_bulk` answer.

use std::io::Write as _;

use serde_json::Value;

/// Loki values in a push body: each is `["<ns>","<line>"]`, and inside a JSON string a
/// quote is always escaped, so `["` appears once per value (checked against a full parse
/// on the first body).
pub fn count_loki(json: &[u8]) -> u64 {
    memchr::memmem::find_iter(json, b"[\"").count() as u64
}

/// `_bulk` items: an action line and a source line each, every line ending in `\n`.
///
/// # Errors
///
/// When the body is not whole pairs of lines.
pub fn count_bulk(ndjson: &[u8]) -> Result<u64, String> {
    let lines = memchr::memchr_iter(b'\n', ndjson).count() as u64;
    if !lines.is_multiple_of(2) || ndjson.last() != Some(&b'\n') {
        return Err(format!(
            "a _bulk body of {lines} lines (must be action/source pairs ending in a newline)"
        ));
    }
    Ok(lines / 2)
}

/// `{"errors":false}`, with one `create` item per entry when `items` is given.
pub fn bulk_answer(items: Option<u64>) -> Vec<u8> {
    let Some(items) = items else {
        return br#"{"took":1,"errors":false}"#.to_vec();
    };
    let mut out = br#"{"took":30,"errors":false,"items":["#.to_vec();
    for i in 0..items {
        if i > 0 {
            out.push(b',');
        }
        write!(
            out,
            r#"{{"create":{{"_index":"logs-bench-forward-2026.11.25","_id":"bench-{i:012}","_version":1,"result":"created","_shards":{{"total":2,"successful":1,"failed":0}},"_seq_no":{i},"_primary_term":1,"status":201}}}}"#
        )
        .expect("writing to memory cannot fail");
    }
    out.extend_from_slice(b"]}");
    out
}

/// One value of a Loki push, with the labels of its stream.
#[derive(Debug, Clone)]
pub struct LokiValue {
    /// The stream's labels: a JSON object of strings.
    pub labels: Value,
    /// The timestamp, unix nanoseconds.
    pub ns: i128,
    /// The log line, itself a JSON object.
    pub line: Value,
}

/// Every value of a push body, checked against Loki's documented format:
/// `{"streams":[{"stream":{<labels>},"values":[["<ns>","<line>"],…]},…]}`, with string
/// labels, a nanosecond timestamp as a string of digits, and a line that is itself a JSON
/// object (what Estuary stores).
///
/// # Errors
///
/// What does not match, in words.
pub fn loki_values(json: &[u8]) -> Result<Vec<LokiValue>, String> {
    let push: Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
    let streams = push["streams"].as_array().ok_or("no streams array")?;
    let mut out = Vec::new();
    for stream in streams {
        let labels = &stream["stream"];
        match labels.as_object() {
            Some(map) if !map.is_empty() && map.values().all(Value::is_string) => {}
            _ => return Err(format!("bad labels {labels}")),
        }
        for value in stream["values"]
            .as_array()
            .ok_or("a stream without values")?
        {
            let (ns, line) = match value.as_array().map(Vec::as_slice) {
                Some([ns, line]) => (ns, line),
                _ => return Err(format!("value {value} is not [ns, line]")),
            };
            let ns = ns.as_str().ok_or("a value without a timestamp string")?;
            if ns.is_empty() || !ns.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("timestamp {ns:?} is not unix nanoseconds"));
            }
            let line: Value = serde_json::from_str(line.as_str().ok_or("a value without a line")?)
                .map_err(|e| format!("a line that is not JSON: {e}"))?;
            if !line.is_object() {
                return Err(format!("line {line} is not a JSON object"));
            }
            out.push(LokiValue {
                labels: labels.clone(),
                ns: ns.parse().map_err(|e| format!("timestamp {ns:?}: {e}"))?,
                line,
            });
        }
    }
    Ok(out)
}

/// The push body in full ([`loki_values`]), `expected` values in all.
///
/// # Errors
///
/// What does not match, in words.
pub fn check_loki(json: &[u8], expected: u64) -> Result<(), String> {
    same_count(loki_values(json)?.len(), expected, "values")
}

/// The `(action, source)` pairs of a `_bulk` body, checked against Elasticsearch's
/// documented format: UTF-8 NDJSON ending in a newline, each `create` action naming an
/// `_index` and followed by its source, a JSON object.
///
/// # Errors
///
/// What does not match, in words.
pub fn bulk_pairs(ndjson: &[u8]) -> Result<Vec<(Value, Value)>, String> {
    let text = std::str::from_utf8(ndjson).map_err(|e| format!("not UTF-8: {e}"))?;
    let lines: Vec<&str> = text
        .strip_suffix('\n')
        .ok_or("a _bulk body must end with a newline")?
        .split('\n')
        .collect();
    if !lines.len().is_multiple_of(2) {
        return Err(format!(
            "{} lines: not action and source pairs",
            lines.len()
        ));
    }
    lines
        .chunks(2)
        .map(|pair| {
            let action: Value =
                serde_json::from_str(pair[0]).map_err(|e| format!("an action: {e}"))?;
            if !action["create"]["_index"].is_string() {
                return Err(format!("action {action} is not a create with an _index"));
            }
            let source: Value =
                serde_json::from_str(pair[1]).map_err(|e| format!("a source: {e}"))?;
            if !source.is_object() {
                return Err(format!("source {source} is not a JSON object"));
            }
            Ok((action, source))
        })
        .collect()
}

/// The `_bulk` body in full ([`bulk_pairs`]), `expected` pairs in all.
///
/// # Errors
///
/// What does not match, in words.
pub fn check_bulk(ndjson: &[u8], expected: u64) -> Result<(), String> {
    same_count(bulk_pairs(ndjson)?.len(), expected, "items")
}

/// Whether a full parse found what the cheap count said.
fn same_count(found: usize, expected: u64, what: &str) -> Result<(), String> {
    if found as u64 != expected {
        return Err(format!(
            "{found} {what}, but the cheap count said {expected}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_counts_match_full_checks() {
        let push = br#"{"streams":[{"stream":{"level":"INFO","service":"a"},"values":[["1","{\"m\":\"[\\\"x\"}"],["2","{}"]]},{"stream":{"service":"a"},"values":[["3","{}"]]}]}"#;
        assert_eq!(count_loki(push), 3);
        check_loki(push, 3).expect("valid push");
        let bulk = b"{\"create\":{\"_index\":\"i\"}}\n{\"a\":\"[\\\"\"}\n{\"create\":{\"_index\":\"i\"}}\n{}\n";
        assert_eq!(count_bulk(bulk), Ok(2));
        check_bulk(bulk, 2).expect("valid bulk");
        assert!(count_bulk(b"{}\n{}").is_err());
        assert!(bulk_pairs(b"{\"index\":{}}\n{}\n").is_err(), "not a create");
        assert!(loki_values(br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#).is_err());
        let answer: Value = serde_json::from_slice(&bulk_answer(Some(3))).expect("JSON");
        assert_eq!(answer["items"].as_array().map(Vec::len), Some(3));
    }
}
