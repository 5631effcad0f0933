//! One readable, colour-coded line per entry: time, level, service, message, key fields.

use std::fmt::Write;

use serde_json::{Map, Value};

/// Keys shown in their own column rather than among the fields.
const SHOWN: [&str; 5] = ["timestamp", "level", "service", "message", "msg"];

/// Renders a stored line for a terminal; `colour` adds ANSI colours by level.
///
/// # Examples
///
/// ```
/// use estuary_collector::cli::render::render_line;
///
/// let line = r#"{"timestamp":"2026-11-25T10:00:00.5Z","level":"WARN","service":"api","message":"slow","ms":900}"#;
/// assert_eq!(render_line(line, false), "2026-11-25T10:00:00.5Z WARN  api slow ms=900");
/// ```
pub fn render_line(line: &str, colour: bool) -> String {
    let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
    let level = text("level").to_ascii_uppercase();
    let message = if entry.contains_key("message") {
        text("message")
    } else {
        text("msg")
    };
    let mut out = String::new();
    let _ = write!(out, "{} ", text("timestamp"));
    let padded = format!("{level:<5}");
    match (colour, level_colour(&level)) {
        (true, Some(code)) => {
            let _ = write!(out, "\x1b[{code}m{padded}\x1b[0m");
        }
        _ => out.push_str(&padded),
    }
    let _ = write!(out, " {} {message}", text("service"));
    append_fields(&mut out, &entry);
    out
}

fn append_fields(out: &mut String, entry: &Map<String, Value>) {
    let nested = entry.get("fields").and_then(Value::as_object);
    let top = entry.iter().filter(|(k, _)| {
        !SHOWN.contains(&k.as_str()) && !matches!(k.as_str(), "fields" | "span" | "spans")
    });
    for (key, value) in nested.into_iter().flatten().chain(top) {
        match value {
            Value::String(s) => {
                let _ = write!(out, " {key}={s}");
            }
            other => {
                let _ = write!(out, " {key}={other}");
            }
        }
    }
}

fn level_colour(level: &str) -> Option<&'static str> {
    Some(match level {
        "ERROR" | "ERR" | "FATAL" | "CRITICAL" => "31",
        "WARN" | "WARNING" => "33",
        "INFO" => "32",
        "DEBUG" => "34",
        "TRACE" => "2",
        _ => return None,
    })
}
