//! Which entries a query or a live stream keeps: minimum severity, contained text, time
//! window, target and field equality — applied to stored lines. The cheap text test runs
//! first on the raw bytes; a line is parsed only when a structural filter needs it.

use serde_json::Value;

use crate::timefmt::{parse_rfc3339, Nanos};

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

/// Which lines to keep. The default keeps everything.
///
/// # Examples
///
/// ```
/// use estuary_collector::filter::{LineFilter, Severity};
///
/// let filter = LineFilter {
///     min_level: Some(Severity::Warn),
///     text: Some("disk".into()),
///     fields: vec![(vec!["fields".into(), "cache".into()], "hit".into())],
///     ..LineFilter::default()
/// };
/// assert!(filter.matches(br#"{"level":"ERROR","message":"disk full","fields":{"cache":"hit"}}"#));
/// assert!(!filter.matches(br#"{"level":"INFO","message":"disk ok","fields":{"cache":"hit"}}"#));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineFilter {
    /// Keep entries at least this severe (`level` or `severity` field). An entry without a
    /// recognisable level counts as `info`.
    pub min_level: Option<Severity>,
    /// Keep lines containing this text (case-sensitive, on the stored JSON text).
    pub text: Option<String>,
    /// Keep entries whose RFC 3339 `timestamp` is at or after this time.
    pub since: Option<Nanos>,
    /// Keep entries whose RFC 3339 `timestamp` is at or before this time.
    pub until: Option<Nanos>,
    /// Keep entries whose `target` equals this or starts with it followed by `::`.
    pub target: Option<String>,
    /// Keep entries where each dotted path holds this value (a string equal to it, or a
    /// number/bool/null whose JSON text equals it).
    pub fields: Vec<(Vec<String>, String)>,
}

impl LineFilter {
    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && !self.needs_parsing()
    }

    /// Whether a time window is set.
    pub fn has_time(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    fn needs_parsing(&self) -> bool {
        self.min_level.is_some()
            || self.has_time()
            || self.target.is_some()
            || !self.fields.is_empty()
    }

    /// Whether `line` (one stored JSON object) passes. To test many lines, use
    /// [`LineFilter::prepared`], which builds the text searcher once.
    pub fn matches(&self, line: &[u8]) -> bool {
        self.prepared().matches(line)
    }

    /// The filter ready to run over many lines.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::filter::LineFilter;
    ///
    /// let mut filter = LineFilter::default();
    /// filter.text = Some("disk".into());
    /// let matcher = filter.prepared();
    /// assert!(matcher.matches(br#"{"m":"disk full"}"#));
    /// assert!(!matcher.matches(br#"{"m":"cpu hot"}"#));
    /// ```
    pub fn prepared(&self) -> Matcher<'_> {
        Matcher {
            filter: self,
            finder: self
                .text
                .as_deref()
                .map(|t| memchr::memmem::Finder::new(t.as_bytes())),
        }
    }

    /// The structural part of [`LineFilter::matches`]: level, time, target, fields.
    fn matches_structure(&self, line: &[u8]) -> bool {
        if !self.needs_parsing() {
            return true;
        }
        // Only the few top-level keys the filters read are parsed; the rest is skipped
        // without building anything. Field filters need the whole tree.
        let Ok(head) = serde_json::from_slice::<Head<'_>>(line) else {
            return false;
        };
        if !self.matches_head(&head) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(entry) => self
                .fields
                .iter()
                .all(|(path, expected)| field_equals(&entry, path, expected)),
            Err(_) => false,
        }
    }

    fn matches_head(&self, head: &Head<'_>) -> bool {
        if let Some(min) = self.min_level {
            let level = text_of(head.level).or_else(|| text_of(head.severity));
            if level
                .as_deref()
                .and_then(Severity::parse)
                .unwrap_or(Severity::Info)
                < min
            {
                return false;
            }
        }
        if self.has_time() {
            let Some(ts) = text_of(head.timestamp).as_deref().and_then(parse_rfc3339) else {
                return false;
            };
            if self.since.is_some_and(|s| ts < s) || self.until.is_some_and(|u| ts > u) {
                return false;
            }
        }
        if let Some(target) = &self.target {
            let Some(actual) = text_of(head.target) else {
                return false;
            };
            let nested = actual
                .strip_prefix(target.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
            if !nested {
                return false;
            }
        }
        true
    }
}

/// What counting needs to know about an entry: its level slot and its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryFacts {
    /// The level slot: [`Severity`] as `0..=5` (trace … fatal), or [`OTHER_LEVEL`] when the
    /// entry has no recognisable `level`/`severity` (filters count it as `info`).
    pub level: u8,
    /// The RFC 3339 `timestamp` in unix nanoseconds, when it has one.
    pub timestamp: Option<Nanos>,
}

/// The level slot of entries without a recognisable level.
pub const OTHER_LEVEL: u8 = 6;

impl Severity {
    /// The level slot of this severity (`0` for trace … `5` for fatal).
    pub fn slot(self) -> u8 {
        self as u8
    }

    /// The severity a level slot stands for, as filters see it: "other" is `info`.
    pub fn of_slot(slot: u8) -> Severity {
        match slot {
            0 => Severity::Trace,
            1 => Severity::Debug,
            3 => Severity::Warn,
            4 => Severity::Error,
            5 => Severity::Fatal,
            _ => Severity::Info,
        }
    }
}

impl EntryFacts {
    /// The facts from the raw values of an entry's top-level `level`, `severity` and
    /// `timestamp` keys — the same reading the filters make.
    pub fn from_raw(
        level: Option<&serde_json::value::RawValue>,
        severity: Option<&serde_json::value::RawValue>,
        timestamp: Option<&serde_json::value::RawValue>,
    ) -> Self {
        let level = text_of(level)
            .or_else(|| text_of(severity))
            .as_deref()
            .and_then(Severity::parse)
            .map_or(OTHER_LEVEL, Severity::slot);
        EntryFacts {
            level,
            timestamp: text_of(timestamp).as_deref().and_then(parse_rfc3339),
        }
    }

    /// The facts of a stored line (one JSON object); a line that does not parse has no
    /// level and no time.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::filter::{EntryFacts, Severity, OTHER_LEVEL};
    ///
    /// let facts = EntryFacts::of_line(br#"{"severity":"WARNING","timestamp":"1970-01-01T00:00:01Z"}"#);
    /// assert_eq!(facts.level, Severity::Warn.slot());
    /// assert_eq!(facts.timestamp, Some(1_000_000_000));
    /// assert_eq!(EntryFacts::of_line(br#"{"m":1}"#).level, OTHER_LEVEL);
    /// ```
    pub fn of_line(line: &[u8]) -> Self {
        match serde_json::from_slice::<Head<'_>>(line) {
            Ok(head) => Self::from_raw(head.level, head.severity, head.timestamp),
            Err(_) => EntryFacts {
                level: OTHER_LEVEL,
                timestamp: None,
            },
        }
    }
}

/// A [`LineFilter`] with its text searcher built once, for scanning many lines.
pub struct Matcher<'f> {
    filter: &'f LineFilter,
    finder: Option<memchr::memmem::Finder<'f>>,
}

impl Matcher<'_> {
    /// Whether `line` passes the filter: the text test first, on the raw bytes, then the
    /// structural filters, which parse the line only when they are set.
    pub fn matches(&self, line: &[u8]) -> bool {
        if let Some(finder) = &self.finder {
            if finder.find(line).is_none() {
                return false;
            }
        }
        self.filter.matches_structure(line)
    }
}

/// The top-level keys the filters read, borrowed from the line; any JSON type is accepted
/// (a non-string simply does not count).
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    timestamp: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    level: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    severity: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    target: Option<&'a serde_json::value::RawValue>,
}

/// The text of a JSON string value (unescaped), or `None` for any other value.
fn text_of(raw: Option<&serde_json::value::RawValue>) -> Option<std::borrow::Cow<'_, str>> {
    let raw = raw?.get();
    if !raw.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(raw) {
        Ok(text) => Some(std::borrow::Cow::Borrowed(text)),
        Err(_) => serde_json::from_str::<String>(raw)
            .ok()
            .map(std::borrow::Cow::Owned),
    }
}

fn field_equals(entry: &Value, path: &[String], expected: &str) -> bool {
    let mut value = entry;
    for key in path {
        match value.get(key) {
            Some(inner) => value = inner,
            None => return false,
        }
    }
    match value {
        Value::String(s) => s == expected,
        Value::Array(_) | Value::Object(_) => false,
        other => serde_json::from_str::<Value>(expected).is_ok_and(|e| e == *other),
    }
}

/// The top-level RFC 3339 `timestamp` of a stored line, in unix nanoseconds.
pub fn timestamp_nanos(line: &[u8]) -> Option<Nanos> {
    #[derive(serde::Deserialize)]
    struct Stamp<'a> {
        #[serde(borrow)]
        timestamp: Option<std::borrow::Cow<'a, str>>,
    }
    let stamp: Stamp<'_> = serde_json::from_slice(line).ok()?;
    parse_rfc3339(&stamp.timestamp?)
}

/// The top-level `timestamp` string of a stored line (empty when absent), for ordering
/// entries of several services.
pub fn timestamp_of(line: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Stamp {
        timestamp: Option<Value>,
    }
    match serde_json::from_slice::<Stamp>(line) {
        Ok(Stamp {
            timestamp: Some(Value::String(s)),
        }) => s,
        _ => String::new(),
    }
}
