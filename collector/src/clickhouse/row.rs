//! One `JSONEachRow` row per stored line, written as bytes: the line itself goes in as a
//! JSON string, and the columns the queries filter on are read from its top-level keys
//! (and, for `field.*` filters, every scalar at a dotted path of objects).

use std::borrow::Cow;
use std::io::Write;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::filter::BorrowedStr as Key;
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
    let top = serde_json::from_slice::<Fields<'_>>(line)
        .unwrap_or_default()
        .0;
    let get = |key: &str| top.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v);
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
    // A key given twice counts once, with its last value, as when the line is parsed.
    dedup_last(&mut attrs);
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
    match std::str::from_utf8(line) {
        Ok(line) => string(out, line),
        Err(_) => string(out, &String::from_utf8_lossy(line)),
    }
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
            let inner = serde_json::from_str::<Fields<'_>>(text)
                .unwrap_or_default()
                .0;
            for (key, value) in &inner {
                if !key.contains('.') {
                    let mut inner_path = String::with_capacity(path.len() + 1 + key.len());
                    inner_path.push_str(path);
                    inner_path.push('.');
                    inner_path.push_str(key);
                    collect(&inner_path, value, depth + 1, out);
                }
            }
        }
        Some(b'{' | b'[') | None => {}
        Some(b'"') => {
            // A lone surrogate escape cannot be decoded: its escaped text stands for it, as
            // in the files' field filter.
            let text = string_of(raw).unwrap_or_else(|| text[1..text.len() - 1].into());
            out.push((path.to_owned(), tagged('s', &text)));
        }
        Some(_) => {
            // Numbers, bools and null by their canonical JSON; a number serde cannot hold
            // (`1e999999`) by its text.
            let value = if canonical(text) {
                tagged('j', text)
            } else {
                let json = serde_json::from_str::<serde_json::Value>(text)
                    .map_or_else(|_| text.to_owned(), |value| value.to_string());
                tagged('j', &json)
            };
            out.push((path.to_owned(), value));
        }
    }
}

/// `tag` followed by `text`.
fn tagged(tag: char, text: &str) -> String {
    let mut value = String::with_capacity(1 + text.len());
    value.push(tag);
    value.push_str(text);
    value
}

/// Whether a JSON scalar's text is already what serde_json would write for it: `true`,
/// `false`, `null`, or an integer that fits 64 bits (JSON has no leading zeros or `+`).
/// Other numbers (`1.50`, `1e3`) go through serde_json to be written the canonical way.
fn canonical(text: &str) -> bool {
    matches!(text, "true" | "false" | "null")
        || (text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok()))
}

/// Keeps the last of each attribute's values, in key order.
fn dedup_last(attrs: &mut Vec<(String, String)>) {
    // Reversed, then sorted stably, each key's last value in the document comes first;
    // `dedup_by` keeps the first of each run.
    attrs.reverse();
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    attrs.dedup_by(|later, first| later.0 == first.0);
}

/// An object's keys and raw values, in document order, borrowing whatever needs no
/// unescaping.
#[derive(Default)]
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((key, value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    fields.push((key.0, value));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(FieldsVisitor)
    }
}

/// The text of a JSON string value.
fn string_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(text) => Some(Cow::Borrowed(text)),
        Err(_) => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

fn string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("writing to memory cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_serde_cannot_hold_are_kept_by_their_text() {
        let mut out = Vec::new();
        let origin = Origin {
            service: "s",
            collector: "c",
        };
        let line = br#"{"big":1e999999,"odd":"\ud800","n":1.50,"a.b":1,"x":{"y":"z"}}"#;
        write_row(&mut out, origin, 0, line);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""attr_keys":["big","n","odd","x.y"]"#),
            "{text}"
        );
        assert!(
            text.contains(r#""attr_values":["j1e999999","j1.5","s\\ud800","sz"]"#),
            "{text}"
        );
    }
}
