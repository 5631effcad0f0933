//! Line filters shared by live streams (and, later, queries): minimum severity and
//! contained text, applied to stored lines without building a JSON tree.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A log severity, ordered from least to most severe.
///
/// # Examples
///
/// ```
/// use estuary_collector::filter::Severity;
///
/// assert_eq!(Severity::parse("WARNING"), Some(Severity::Warn));
/// assert!(Severity::Error > Severity::Info);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// `trace`.
    Trace,
    /// `debug`.
    Debug,
    /// `info`, `information`, `notice`.
    Info,
    /// `warn`, `warning`.
    Warn,
    /// `error`, `err`.
    Error,
    /// `fatal`, `critical`, `crit`, `alert`, `emerg`, `emergency`, `panic`.
    Fatal,
}

impl Severity {
    /// Understands the usual names in any case (the layer sends `INFO`, Python `WARNING`,
    /// syslog `crit`…).
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" => Severity::Trace,
            "debug" => Severity::Debug,
            "info" | "information" | "notice" => Severity::Info,
            "warn" | "warning" => Severity::Warn,
            "error" | "err" => Severity::Error,
            "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => {
                Severity::Fatal
            }
            _ => return None,
        })
    }
}

/// Which lines to keep.
///
/// # Examples
///
/// ```
/// use estuary_collector::filter::{LineFilter, Severity};
///
/// let filter = LineFilter { min_level: Some(Severity::Warn), text: Some("disk".into()) };
/// assert!(filter.matches(br#"{"level":"ERROR","message":"disk full"}"#));
/// assert!(!filter.matches(br#"{"level":"INFO","message":"disk ok"}"#));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineFilter {
    /// Keep entries at least this severe. An entry without a recognisable `level` counts
    /// as `info`.
    pub min_level: Option<Severity>,
    /// Keep lines containing this text (case-sensitive, on the stored JSON text).
    pub text: Option<String>,
}

impl LineFilter {
    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.min_level.is_none() && self.text.is_none()
    }

    /// Whether `line` (one stored JSON object) passes.
    pub fn matches(&self, line: &[u8]) -> bool {
        if let Some(text) = &self.text {
            if memchr::memmem::find(line, text.as_bytes()).is_none() {
                return false;
            }
        }
        match self.min_level {
            Some(min) => level_of(line).unwrap_or(Severity::Info) >= min,
            None => true,
        }
    }
}

/// The `level` (or `severity`) field of a stored line, when it names a known severity.
pub fn level_of(line: &[u8]) -> Option<Severity> {
    serde_json::from_slice::<LevelField>(line)
        .ok()?
        .0
        .as_deref()
        .and_then(Severity::parse)
}

/// Reads only the top-level `level`/`severity` string of an object.
struct LevelField(Option<String>);

impl<'de> de::Deserialize<'de> for LevelField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;
        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = LevelField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LevelField, A::Error> {
                let mut level = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if level.is_none() && matches!(key.as_ref(), "level" | "severity") {
                        level = map.next_value::<Option<String>>().ok().flatten();
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(LevelField(level))
            }
        }
        deserializer.deserialize_map(LevelVisitor)
    }
}

/// The top-level `timestamp` string of a stored line (empty when absent), for ordering
/// entries of several services.
pub fn timestamp_of(line: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Stamp {
        timestamp: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Stamp>(line) {
        Ok(Stamp {
            timestamp: Some(serde_json::Value::String(s)),
        }) => s,
        _ => String::new(),
    }
}
