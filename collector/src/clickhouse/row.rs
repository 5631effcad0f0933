//! One `JSONEachRow` row per stored line, written as bytes: the line itself goes in as a
//! JSON string, and the columns the queries filter on are read from its top-level keys
//! (and, for `field.*` filters, every scalar at a dotted path of objects).

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::value::RawValue;

use crate::filter::EntryFacts;

/// Nesting followed when collecting `attr_keys`: deeper objects are not indexed (a
/// `field.*` filter that deep answers nothing, as a filter on a missing key does).
const MAX_DEPTH: usize = 8;

/// Where a row comes from: its service, and the collector and position that identify it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The service.
    pub service: &'a str,
    /// The collector's name.
    pub collector: &'a str,
}

/// Appends the row of `line` (at stream position `offset`) and a `\n` to `out`.
///
/// # Examples
///
/// ```
/// use estuary_collector::clickhouse::row::{write_row, Origin};
///
/// let mut out = Vec::new();
/// let origin = Origin { service: "api", collector: "c1" };
/// write_row(&mut out, origin, 42, br#"{"timestamp":"1970-01-01T00:00:01.5Z","level":"warn","fields":{"user":7}}"#);
/// let row: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(row["ts"], 1);
/// assert_eq!(row["ns"], 500_000_000);
/// assert_eq!(row["severity"], 3);
/// assert_eq!(row["stream_offset"], 42);
/// assert_eq!(row["attr_keys"], serde_json::json!(["fields.user", "level", "timestamp"]));
/// assert_eq!(row["attr_values"][0], "j7");
/// ```
pub fn write_row(out: &mut Vec<u8>, origin: Origin<'_>, offset: u64, line: &[u8]) {
    let top: BTreeMap<String, &RawValue> = serde_json::from_slice(line).unwrap_or_default();
    let get = |key: &str| top.get(key).copied();
    let facts = EntryFacts::from_raw(get("level"), get("severity"), get("timestamp"));
    let ts = facts.timestamp.unwrap_or(0).max(0);
    let (secs, nanos) = (ts / 1_000_000_000, ts % 1_000_000_000);
    let secs = u32::try_from(secs).unwrap_or(u32::MAX);
    let text = |key: &str| get(key).and_then(string_of).unwrap_or_default();
    let message = get("message").or_else(|| get("msg")).and_then(string_of);
    let _ = write!(
        out,
        "{{\"ts\":{secs},\"ns\":{nanos},\"severity\":{},\"stream_offset\":{offset},\"service\":",
        facts.level
    );
    string(out, origin.service);
    for (name, value) in [
        ("collector", origin.collector),
        ("level", &text("level")),
        ("target", &text("target")),
        ("message", &message.unwrap_or_default()),
        ("trace_id", &text("trace_id")),
        ("span_id", &text("span_id")),
    ] {
        let _ = write!(out, ",\"{name}\":");
        string(out, value);
    }
    let mut attrs = Vec::new();
    for (key, value) in top.iter().filter(|(key, _)| !key.contains('.')) {
        collect(key, value, 1, &mut attrs);
    }
    out.extend_from_slice(b",\"attr_keys\":[");
    for (i, (key, _)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, key);
    }
    out.extend_from_slice(b"],\"attr_values\":[");
    for (i, (_, value)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, value);
    }
    out.extend_from_slice(b"],\"line\":");
    string(out, &String::from_utf8_lossy(line));
    out.extend_from_slice(b"}\n");
}

/// The attribute of every scalar under `path`: `s<text>` for a string, `j<json>` for a
/// number, bool or null. Keys holding a dot are skipped: a `field.a.b` filter splits at
/// every dot, so it can never name them.
fn collect(path: &str, raw: &RawValue, depth: usize, out: &mut Vec<(String, String)>) {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return;
    }
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') if depth < MAX_DEPTH => {
            let inner: BTreeMap<String, &RawValue> = serde_json::from_str(text).unwrap_or_default();
            for (key, value) in &inner {
                if !key.contains('.') {
                    collect(&format!("{path}.{key}"), value, depth + 1, out);
                }
            }
        }
        Some(b'{' | b'[') | None => {}
        Some(b'"') => {
            if let Some(s) = string_of(raw) {
                out.push((path.to_owned(), format!("s{s}")));
            }
        }
        Some(_) => {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
                out.push((path.to_owned(), format!("j{value}")));
            }
        }
    }
}

/// The text of a JSON string value.
fn string_of(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok()
}

fn string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("writing to memory cannot fail");
}
