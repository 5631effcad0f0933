//! One readable line per entry, shaped like `tracing-subscriber`'s fmt output:
//!
//! ```text
//! 2026-12-02T00:09:49.123456Z  INFO shop-api request{method=POST path=/orders}: order placed items=3
//! ```
//!
//! time (fixed width, UTC or `--local`), level (the [`Severity`] mapping, right-aligned),
//! service (padded to the widest seen), the span stack with its fields, the message, then
//! the event's own fields. Where the entry came from (`target`, `file`, `line`,
//! `module_path`, thread, `pid`, `host`) is shown only when verbose. Values with spaces or
//! quotes are quoted, and control characters (newlines, escape sequences) are escaped, so
//! one entry is always one line and data cannot drive the terminal.

use std::fmt::Write;

use serde_json::value::RawValue;
use serde_json::Value;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::filter::Severity;
use crate::timefmt::parse_instant;

/// Keys drawn in their own place rather than among the fields.
const PLACED: [&str; 7] = [
    "timestamp",
    "service",
    "message",
    "msg",
    "fields",
    "span",
    "spans",
];

/// Where an entry came from: shown only when verbose.
const ORIGIN: [&str; 8] = [
    "target",
    "file",
    "line",
    "module_path",
    "thread_name",
    "thread_id",
    "pid",
    "host",
];

/// UTC times: always 27 characters.
const UTC_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
/// Local times: always 32 characters.
const LOCAL_TIME: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6][offset_hour sign:mandatory]:[offset_minute]"
);

/// Draws entries as lines; keeps the service column's width from one line to the next.
#[derive(Debug, Clone, Default)]
pub struct Renderer {
    /// ANSI colours by level (only when stdout is a terminal).
    pub colour: bool,
    /// Also show where each entry came from.
    pub verbose: bool,
    /// Show times in this offset instead of UTC.
    pub local: Option<UtcOffset>,
    /// The service column's width: the widest name drawn so far (or announced).
    pub service_width: usize,
}

impl Renderer {
    /// Draws one stored line; a line that is not a JSON object is drawn as it is (escaped).
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::cli::render::Renderer;
    ///
    /// let line = r#"{"timestamp":"2026-11-25T12:00:00.5+02:00","level":"WARN","service":"api",
    ///   "message":"slow\nquery","spans":[{"name":"request","method":"POST","path":"/orders"}],
    ///   "fields":{"ms":900,"user":"ada lovelace"},"file":"src/db.rs","pid":7}"#;
    /// assert_eq!(
    ///     Renderer::default().render(line),
    ///     r#"2026-11-25T10:00:00.500000Z  WARN api request{method=POST path=/orders}: slow\nquery ms=900 user="ada lovelace""#
    /// );
    /// ```
    pub fn render(&mut self, line: &str) -> String {
        let Some(entry) = Ordered::parse(line) else {
            return escape_controls(line);
        };
        let mut out = String::with_capacity(line.len());
        self.time(&mut out, entry.get("timestamp"));
        out.push(' ');
        self.level(&mut out, &entry);
        let service = entry
            .get("service")
            .and_then(text)
            .unwrap_or_else(|| "-".into());
        self.service_width = self.service_width.max(service.chars().count());
        let _ = write!(
            out,
            " {:<width$}",
            escape_controls(&service),
            width = self.service_width
        );
        spans(&mut out, &entry);
        let message = entry
            .get("message")
            .or_else(|| entry.get("msg"))
            .map(|m| text(m).unwrap_or_else(|| m.get().to_owned()))
            .unwrap_or_default();
        out.push(' ');
        out.push_str(&escape_controls(&message));
        self.fields(&mut out, &entry);
        out.truncate(out.trim_end().len());
        out
    }

    fn time(&self, out: &mut String, stamp: Option<&RawValue>) {
        let text = stamp.map_or_else(
            || String::from("-"),
            |raw| text(raw).unwrap_or_else(|| raw.get().to_owned()),
        );
        let instant =
            parse_instant(&text).and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok());
        let (formatted, width) = match (instant, self.local) {
            (Some(t), Some(offset)) => (t.to_offset(offset).format(LOCAL_TIME).ok(), 32),
            (Some(t), None) => (t.format(UTC_TIME).ok(), 27),
            (None, local) => (None, if local.is_some() { 32 } else { 27 }),
        };
        let shown = formatted.unwrap_or_else(|| escape_controls(&text));
        let _ = write!(out, "{shown:<width$}");
    }

    fn level(&self, out: &mut String, entry: &Ordered) {
        let value = |key: &str| {
            entry
                .get(key)
                .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        };
        let name = Severity::named_by(value("level").as_ref(), value("severity").as_ref())
            .unwrap_or(Severity::Info)
            .name();
        let padded = format!("{name:>5}");
        match (self.colour, level_colour(name)) {
            (true, Some(code)) => {
                let _ = write!(out, "\x1b[{code}m{padded}\x1b[0m");
            }
            _ => out.push_str(&padded),
        }
    }

    fn fields(&self, out: &mut String, entry: &Ordered) {
        let level_key = level_key(entry);
        let nested = entry
            .get("fields")
            .and_then(|raw| Ordered::parse(raw.get()));
        let top = entry.0.iter().filter(|(k, _)| {
            let k = k.as_str();
            !PLACED.contains(&k) && Some(k) != level_key && !ORIGIN.contains(&k)
        });
        for (key, value) in nested.iter().flat_map(|n| n.0.iter()).chain(top) {
            pair(out, key, value);
        }
        if self.verbose {
            for key in ORIGIN {
                if let Some(value) = entry.get(key) {
                    pair(out, key, value);
                }
            }
        }
    }
}

/// A JSON object's members in the order they were written, each value as its JSON text
/// (`serde_json::Map` would sort them).
struct Ordered(Vec<(String, Box<RawValue>)>);

impl Ordered {
    fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(Ordered(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The text of a JSON string value, or `None` for any other value.
fn text(raw: &RawValue) -> Option<String> {
    raw.get()
        .starts_with('"')
        .then(|| serde_json::from_str::<String>(raw.get()).ok())
        .flatten()
}

/// The key the level was read from (`level`, else `severity`), hidden among the fields.
fn level_key(entry: &Ordered) -> Option<&'static str> {
    let names = |key: &str| {
        entry
            .get(key)
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            .and_then(|v| Severity::from_value(&v))
            .is_some()
    };
    if names("level") || (entry.get("level").is_some() && !names("severity")) {
        Some("level")
    } else if entry.get("severity").is_some() {
        Some("severity")
    } else {
        None
    }
}

/// ` root{k=v}:child{k=v}:` like fmt's span context; nothing outside spans.
fn spans(out: &mut String, entry: &Ordered) {
    let stack: Vec<Ordered> = match entry.get("spans") {
        Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
        None => entry
            .get("span")
            .and_then(|raw| Ordered::parse(raw.get()))
            .into_iter()
            .collect(),
    };
    if stack.is_empty() {
        return;
    }
    out.push(' ');
    for span in stack {
        let name = span
            .get("name")
            .and_then(text)
            .unwrap_or_else(|| "span".into());
        out.push_str(&escape_controls(&name));
        let mut fields = span
            .0
            .iter()
            .filter(|(k, _)| k.as_str() != "name")
            .peekable();
        if fields.peek().is_some() {
            out.push('{');
            let mut first = true;
            for (key, value) in fields {
                if !first {
                    out.push(' ');
                }
                first = false;
                let _ = write!(out, "{}={}", escape_controls(key), value_text(value));
            }
            out.push('}');
        }
        out.push(':');
    }
}

fn pair(out: &mut String, key: &str, value: &RawValue) {
    let _ = write!(out, " {}={}", escape_controls(key), value_text(value));
}

/// A string as is unless it has spaces, quotes, `=` or control characters (then quoted, as
/// JSON); any other value as its JSON text, as stored.
fn value_text(value: &RawValue) -> String {
    match text(value) {
        Some(s) => {
            let plain = !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '=' | '\\'));
            if plain {
                s
            } else {
                Value::String(s).to_string()
            }
        }
        None => escape_controls(value.get()),
    }
}

/// Control characters as escapes (`\n`, `\t`, `\u{1b}`), so text stays on one line and
/// cannot send terminal commands.
fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The local time zone's offset now (for `--local`), or UTC when it cannot be told. Call
/// it before any thread starts: the platform's answer is only trusted then.
pub fn local_offset() -> UtcOffset {
    UtcOffset::current_local_offset().unwrap_or_else(|_| {
        eprintln!("estuary: cannot tell the local time zone; showing UTC");
        UtcOffset::UTC
    })
}

fn level_colour(level: &str) -> Option<&'static str> {
    Some(match level {
        "ERROR" | "FATAL" => "31",
        "WARN" => "33",
        "INFO" => "32",
        "DEBUG" => "34",
        "TRACE" => "2",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(line: &str) -> String {
        Renderer::default().render(line)
    }

    #[test]
    fn levels_as_people_write_them() {
        let cases = [
            (r#"{"severity":"CRITICAL"}"#, "FATAL"),
            (r#"{"level":30}"#, " INFO"),
            (r#"{"level":50}"#, "ERROR"),
            (r#"{"severity":4}"#, " WARN"),
            (r#"{"message":"none"}"#, " INFO"),
        ];
        for (line, level) in cases {
            let drawn = render(line);
            assert_eq!(&drawn[28..33], level, "{line} → {drawn}");
        }
        // The level's own key is not repeated among the fields.
        assert!(!render(r#"{"level":30,"m":1}"#).contains("level="));
    }

    #[test]
    fn origin_only_when_verbose() {
        let line =
            r#"{"service":"a","message":"m","file":"x.rs","line":3,"thread_id":2,"version":"1"}"#;
        assert!(render(line).ends_with("a m version=1"), "{}", render(line));
        let mut verbose = Renderer {
            verbose: true,
            ..Renderer::default()
        };
        assert!(verbose
            .render(line)
            .contains("file=x.rs line=3 thread_id=2"));
    }

    #[test]
    fn columns_align_and_lines_stay_single() {
        let mut renderer = Renderer::default();
        let a = renderer
            .render(r#"{"timestamp":"2026-01-01T00:00:00Z","service":"checkout","message":"x"}"#);
        let b = renderer.render(
            r#"{"timestamp":"yesterday","service":"api","message":"two\nlines \u001b[31m"}"#,
        );
        assert_eq!(a.find(" x"), b.find(" two"), "{a}\n{b}");
        assert!(!b.contains('\n') && !b.contains('\u{1b}'), "{b}");
    }

    #[test]
    fn local_times_keep_one_width() {
        let mut renderer = Renderer {
            local: Some(UtcOffset::from_hms(2, 0, 0).unwrap()),
            ..Renderer::default()
        };
        let line = renderer.render(r#"{"timestamp":"2026-01-01T00:00:00Z","service":"a"}"#);
        assert!(
            line.starts_with("2026-01-01T02:00:00.000000+02:00  INFO a"),
            "{line}"
        );
    }
}
