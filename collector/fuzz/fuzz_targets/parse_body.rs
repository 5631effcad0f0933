//! Fuzzes `parse_body`, the validator every request body goes through: it must never
//! panic, and whatever it accepts must be stored as complete lines, each a JSON object
//! with a timestamp, filed under the service it names.
//!
//! The first input byte picks the format (bit 0) and the per-entry limit (high bits, from
//! 64 bytes to 2 MiB); the rest is the body.

#![no_main]

use std::collections::HashMap;

use estuary_collector::body::{parse_body, BodyFormat, ParsedBody};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        BodyFormat::Json
    } else {
        BodyFormat::Ndjson
    };
    let max_entry = 64usize << (selector >> 4);
    if let Ok(parsed) = parse_body(body, format, max_entry, "2026-01-01T00:00:00Z") {
        check(&parsed, max_entry);
    }
});

fn check(parsed: &ParsedBody, max_entry: usize) {
    // An empty array is an empty batch (accepted, nothing stored); one object is one entry.
    assert!(!parsed.single || parsed.entries() == 1);
    for batch in &parsed.per_service {
        assert!(batch.lines.ends_with(b"\n"));
        let lines: Vec<&[u8]> = batch
            .lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), batch.entries);
        for line in lines {
            // The stamp adds at most ~50 bytes to an entry within the limit.
            assert!(line.len() <= max_entry + 64);
            let object: HashMap<String, &RawValue> =
                serde_json::from_slice(line).expect("a stored line is a JSON object");
            assert!(object.contains_key("timestamp"));
            let service = object.get("service").map_or_else(
                || "unknown".to_owned(),
                |raw| serde_json::from_str::<String>(raw.get()).expect("service is a string"),
            );
            assert_eq!(service, batch.service.as_str());
        }
    }
}
