//! SQL text from hostile input. ClickHouse 18.16 has no bound query parameters
//! (`{name:String}` came in 19.x), so every string that is not ours goes into SQL as
//! `unhex('…')`: only hexadecimal digits reach the parser, whatever the bytes were.
//! Numbers are formatted from Rust integers. Identifiers are checked when the settings
//! are read ([`valid_identifier`]) and quoted here.

use crate::filter::{LineFilter, Severity};
use crate::timefmt::Nanos;

const SECOND: Nanos = 1_000_000_000;

/// A string literal for any bytes.
///
/// # Examples
///
/// ```
/// use estuary_collector::clickhouse::sql::string;
///
/// assert_eq!(string("a'"), "unhex('6127')");
/// ```
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2 + 9);
    out.push_str("unhex('");
    for byte in text.bytes() {
        out.push_str(&format!("{byte:02X}"));
    }
    out.push_str("')");
    out
}

/// Whether `name` may name a database or table: ASCII letters, digits and `_`, not
/// starting with a digit.
///
/// # Examples
///
/// ```
/// use estuary_collector::clickhouse::sql::valid_identifier;
///
/// assert!(valid_identifier("estuary_logs"));
/// assert!(!valid_identifier("logs; DROP TABLE x"));
/// ```
pub fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A checked identifier, quoted.
pub fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// `toDateTime(secs)` of an instant (clamped to what `DateTime` holds).
fn seconds(ts: Nanos) -> (u32, u32) {
    let ts = ts.max(0);
    let secs = u32::try_from(ts / SECOND).unwrap_or(u32::MAX);
    (secs, (ts % SECOND) as u32)
}

/// The conditions of `filter`, joined with `AND` (`1` when it keeps everything). Entries
/// without a readable time (stored at `ts = 0`) never match a time window, as with files.
pub fn conditions(filter: &LineFilter) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(min) = filter.min_level {
        // Slot 6 (no level) counts as info.
        parts.push(format!(
            "if(severity = 6, {}, severity) >= {}",
            Severity::Info.slot(),
            min.slot()
        ));
    }
    if let Some(text) = &filter.text {
        parts.push(format!("position(line, {}) > 0", string(text)));
    }
    if filter.has_time() {
        parts.push("ts > toDateTime(0)".into());
    }
    if let Some(since) = filter.since {
        let (s, n) = seconds(since);
        parts.push(format!(
            "ts >= toDateTime({s}) AND (ts > toDateTime({s}) OR ns >= {n})"
        ));
    }
    if let Some(until) = filter.until {
        let (s, n) = seconds(until);
        parts.push(format!(
            "ts <= toDateTime({s}) AND (ts < toDateTime({s}) OR ns <= {n})"
        ));
    }
    if let Some(target) = &filter.target {
        parts.push(target_within(target));
    }
    for (path, expected) in &filter.fields {
        parts.push(field_equals(path, expected));
    }
    for text in &filter.exclude_text {
        parts.push(format!("position(line, {}) = 0", string(text)));
    }
    for target in &filter.exclude_targets {
        parts.push(format!("NOT {}", target_within(target)));
    }
    for (path, excluded) in &filter.exclude_fields {
        parts.push(format!("NOT {}", field_equals(path, excluded)));
    }
    if parts.is_empty() {
        "1".into()
    } else {
        parts.join(" AND ")
    }
}

/// An entry whose `target` is `target` or nested in it (after `::`).
fn target_within(target: &str) -> String {
    format!(
        "(target = {} OR startsWith(target, {}))",
        string(target),
        string(&format!("{target}::"))
    )
}

/// An entry whose attribute at `path` is the string `expected`, or the number, bool or
/// null whose JSON is `expected` — the files' `field.*` semantics.
pub fn field_equals(path: &[String], expected: &str) -> String {
    // A scalar's text as given, and its canonical JSON (`1.50` finds `1.5`).
    let mut accepted = vec![
        string(&format!("s{expected}")),
        string(&format!("j{expected}")),
    ];
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(expected) {
        if !(value.is_string() || value.is_array() || value.is_object()) {
            accepted.push(string(&format!("j{value}")));
        }
    }
    format!(
        "arrayExists((k, v) -> k = {} AND v IN ({}), attr_keys, attr_values)",
        string(&path.join(".")),
        accepted.join(", ")
    )
}

/// `service IN (…)`, or `1` for every service.
pub fn services(names: Option<&[String]>) -> String {
    match names {
        None => "1".into(),
        Some(names) => {
            let list: Vec<String> = names.iter().map(|n| string(n)).collect();
            format!("service IN ({})", list.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_reaches_sql_as_hex_digits_only() {
        let hostile = "x') OR 1=1 -- \\' \u{0} é";
        let literal = string(hostile);
        let inner = literal
            .strip_prefix("unhex('")
            .and_then(|l| l.strip_suffix("')"))
            .unwrap();
        assert!(inner.chars().all(|c| c.is_ascii_hexdigit()));
        let bytes: Vec<u8> = (0..inner.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&inner[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(bytes, hostile.as_bytes());
    }

    #[test]
    fn a_number_filter_also_accepts_the_json_number() {
        let sql = field_equals(&["fields".into(), "n".into()], "7");
        assert!(sql.contains(&string("s7")) && sql.contains(&string("j7")));
        let sql = field_equals(&["a".into()], "1.50");
        assert!(sql.contains(&string("j1.5")), "{sql}");
    }
}
