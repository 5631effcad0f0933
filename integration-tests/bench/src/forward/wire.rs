//! The destinations' wire formats as the fake sees them: counting entries cheaply, checking
//! a body in full against what Loki's and Elasticsearch's documentation define, and the
//! `_bulk` answer.

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

/// The push body in full: streams with string labels, values of a nanosecond timestamp
/// string and a line that is itself a JSON object, `expected` values in all.
///
/// # Errors
///
/// What does not match, in words.
pub fn check_loki(json: &[u8], expected: u64) -> Result<(), String> {
    let push: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let streams = push["streams"].as_array().ok_or("no streams array")?;
    let mut values = 0u64;
    for stream in streams {
        let labels = stream["stream"]
            .as_object()
            .ok_or("a stream without labels")?;
        if labels.is_empty() || !labels.values().all(Value::is_string) {
            return Err(format!("bad labels {labels:?}"));
        }
        for value in stream["values"]
            .as_array()
            .ok_or("a stream without values")?
        {
            let ns = value[0]
                .as_str()
                .ok_or("a value without a timestamp string")?;
            let line = value[1].as_str().ok_or("a value without a line")?;
            if ns.is_empty() || !ns.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("timestamp {ns:?} is not unix nanoseconds"));
            }
            serde_json::from_str::<serde_json::Map<String, Value>>(line)
                .map_err(|e| format!("a line that is not a JSON object: {e}"))?;
            values += 1;
        }
    }
    if values != expected {
        return Err(format!(
            "{values} values, but the cheap count said {expected}"
        ));
    }
    Ok(())
}

/// The `_bulk` body in full: `create` actions naming an index, each followed by a JSON
/// object, `expected` pairs in all.
///
/// # Errors
///
/// What does not match, in words.
pub fn check_bulk(ndjson: &[u8], expected: u64) -> Result<(), String> {
    let lines: Vec<&[u8]> = ndjson
        .strip_suffix(b"\n")
        .unwrap_or(ndjson)
        .split(|b| *b == b'\n')
        .collect();
    if lines.len() as u64 != expected * 2 {
        return Err(format!("{} lines for {expected} items", lines.len()));
    }
    for pair in lines.chunks(2) {
        let action: Value = serde_json::from_slice(pair[0]).map_err(|e| e.to_string())?;
        if !action["create"]["_index"].is_string() {
            return Err(format!("action {action} is not a create with an index"));
        }
        serde_json::from_slice::<serde_json::Map<String, Value>>(pair[1])
            .map_err(|e| format!("a source that is not a JSON object: {e}"))?;
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
        let answer: Value = serde_json::from_slice(&bulk_answer(Some(3))).expect("JSON");
        assert_eq!(answer["items"].as_array().map(Vec::len), Some(3));
    }
}
