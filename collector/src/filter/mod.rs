//! Which entries a query or a live stream keeps: minimum severity, contained text, time
//! window, target and field equality — applied to stored lines. The cheap text test runs
//! first on the raw bytes; a line is parsed only when a structural filter needs it.

use serde_json::Value;

mod field;
pub(crate) use field::BorrowedStr;
pub use field::{field_equals, value_at};

use crate::timefmt::{parse_epoch, parse_instant, Nanos};

/// A log severity, ordered from least to most severe: the one mapping from what producers
/// write to a level, shared by the `level` filter, the CLI and everything that counts by
/// level.
///
/// | written as | severity |
/// |---|---|
/// | `trace`; pino/bunyan `10`–`19` | [`Severity::Trace`] |
/// | `debug`, `verbose`; pino `20`–`29`; syslog `7` | [`Severity::Debug`] |
/// | `info`, `information`, `informational`, `notice`; pino `30`–`39`; syslog `5`, `6` | [`Severity::Info`] |
/// | `warn`, `warning`; pino `40`–`49`; syslog `4` | [`Severity::Warn`] |
/// | `error`, `err`; pino `50`–`59`; syslog `3` | [`Severity::Error`] |
/// | `fatal`, `critical`, `crit`, `alert`, `emerg`, `emergency`, `panic`; pino `60` and up; syslog `0`–`2` | [`Severity::Fatal`] |
///
/// Names are read in any case, numbers as JSON numbers or digit strings. The level is
/// taken from `level`, else `severity`; an entry with neither (or with a value that is
/// none of the above) counts as `info` ([`Severity::of_entry`]).
///
/// # Examples
///
/// ```
/// use estuary_collector::filter::Severity;
///
/// assert_eq!(Severity::parse("WARNING"), Some(Severity::Warn));
/// assert_eq!(Severity::parse("50"), Some(Severity::Error)); // pino
/// assert_eq!(Severity::from_number(2.0), Some(Severity::Fatal)); // syslog crit
/// assert!(Severity::Error > Severity::Info);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// Every severity, least severe first.
    pub const ALL: [Severity; 6] = [
        Severity::Trace,
        Severity::Debug,
        Severity::Info,
        Severity::Warn,
        Severity::Error,
        Severity::Fatal,
    ];

    /// Understands the usual names in any case (the layer sends `INFO`, Python `WARNING`,
    /// syslog `crit`…) and numbers written as text (`"30"`).
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" => Severity::Trace,
            "debug" | "verbose" => Severity::Debug,
            "info" | "information" | "informational" | "notice" => Severity::Info,
            "warn" | "warning" => Severity::Warn,
            "error" | "err" => Severity::Error,
            "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => {
                Severity::Fatal
            }
            digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                return digits
                    .parse::<u32>()
                    .ok()
                    .and_then(|n| Self::from_number(n.into()))
            }
            _ => return None,
        })
    }

    /// A numeric level: syslog `0`–`7` (0 is the most severe) or pino/bunyan `10`–`60`
    /// (10 is `trace`). `8`, `9`, negative and fractional numbers are not levels.
    pub fn from_number(n: f64) -> Option<Self> {
        if n.fract() != 0.0 || n < 0.0 {
            return None;
        }
        Some(match n as u64 {
            0..=2 => Severity::Fatal,
            3 => Severity::Error,
            4 => Severity::Warn,
            5 | 6 => Severity::Info,
            7 => Severity::Debug,
            8 | 9 => return None,
            10..=19 => Severity::Trace,
            20..=29 => Severity::Debug,
            30..=39 => Severity::Info,
            40..=49 => Severity::Warn,
            50..=59 => Severity::Error,
            _ => Severity::Fatal,
        })
    }

    /// The severity a JSON value names: a string name or number, or a number.
    pub fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::String(text) => Self::parse(text),
            Value::Number(n) => n.as_f64().and_then(Self::from_number),
            _ => None,
        }
    }

    /// An entry's severity: its `level`, else its `severity`; `info` when neither names
    /// one. This is what the `level` filter, the CLI and level counts use.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::filter::Severity;
    ///
    /// let entry = serde_json::json!({"severity": "CRITICAL", "message": "disk"});
    /// assert_eq!(Severity::of_entry(&entry), Severity::Fatal);
    /// assert_eq!(Severity::of_entry(&serde_json::json!({"level": 40})), Severity::Warn);
    /// assert_eq!(Severity::of_entry(&serde_json::json!({"message": "no level"})), Severity::Info);
    /// ```
    pub fn of_entry(entry: &Value) -> Self {
        Self::named_by(entry.get("level"), entry.get("severity")).unwrap_or(Severity::Info)
    }

    /// The severity of a stored line, without building the whole entry (for indexes and
    /// counts); `info` when it names none or is not a JSON object.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::filter::Severity;
    ///
    /// assert_eq!(Severity::of_line(br#"{"level":50,"msg":"x"}"#), Severity::Error);
    /// assert_eq!(Severity::of_line(br#"{"level":"WARN"}"#), Severity::Warn);
    /// ```
    pub fn of_line(line: &[u8]) -> Self {
        serde_json::from_slice::<Head<'_>>(line)
            .ok()
            .and_then(|head| head.severity())
            .unwrap_or(Severity::Info)
    }

    /// `level` when it names a severity, else `severity`.
    pub(crate) fn named_by(level: Option<&Value>, severity: Option<&Value>) -> Option<Self> {
        level
            .and_then(Self::from_value)
            .or_else(|| severity.and_then(Self::from_value))
    }

    /// The upper-case name shown by the CLI: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`,
    /// `FATAL`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
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
    /// Leave out lines containing any of these texts (`q!=`).
    pub exclude_text: Vec<String>,
    /// Leave out entries whose `target` is any of these or nested in it (`target!=`).
    /// Entries without a target are kept.
    pub exclude_targets: Vec<String>,
    /// Leave out entries where a dotted path holds the value (`field.<path>!=`), with the
    /// equality of [`LineFilter::fields`]. Entries without the field are kept.
    pub exclude_fields: Vec<(Vec<String>, String)>,
}

impl LineFilter {
    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.exclude_text.is_empty() && !self.needs_parsing()
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
            || !self.exclude_targets.is_empty()
            || !self.exclude_fields.is_empty()
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
            excluded: self
                .exclude_text
                .iter()
                .map(|t| memchr::memmem::Finder::new(t.as_bytes()))
                .collect(),
            field_hints: self.fields.iter().map(|(_, v)| field::hint(v)).collect(),
            exclusion_hints: self
                .exclude_fields
                .iter()
                .map(|(_, v)| field::hint(v))
                .collect(),
        }
    }

    /// The structural part of [`LineFilter::matches`]: level, time, target, fields.
    fn matches_structure(&self, line: &[u8]) -> bool {
        self.matches_structure_where(line, |_| true)
    }

    /// [`LineFilter::matches_structure`], testing only the field exclusions for which
    /// `may_exclude(i)` says the line can hold the value.
    fn matches_structure_where(&self, line: &[u8], may_exclude: impl Fn(usize) -> bool) -> bool {
        if !self.needs_parsing() {
            return true;
        }
        // Only the few top-level keys the filters read are parsed; the rest is skipped
        // without building anything. Field filters walk to their value the same way
        // ([`field`]); with only those, the head is not read at all.
        let head_filters = self.min_level.is_some()
            || self.has_time()
            || self.target.is_some()
            || !self.exclude_targets.is_empty();
        if head_filters || self.fields.is_empty() {
            let Ok(head) = serde_json::from_slice::<Head<'_>>(line) else {
                return false;
            };
            if !self.matches_head(&head) {
                return false;
            }
        }
        if self.fields.is_empty() && self.exclude_fields.is_empty() {
            return true;
        }
        self.fields
            .iter()
            .all(|(path, expected)| field::field_equals(line, path, expected))
            && !self
                .exclude_fields
                .iter()
                .enumerate()
                .any(|(i, (path, excluded))| {
                    may_exclude(i) && field::field_equals(line, path, excluded)
                })
    }

    fn matches_head(&self, head: &Head<'_>) -> bool {
        if let Some(min) = self.min_level {
            if head.severity().unwrap_or(Severity::Info) < min {
                return false;
            }
        }
        if self.has_time() {
            let Some(ts) = head.timestamp.and_then(instant_of_raw) else {
                return false;
            };
            if self.since.is_some_and(|s| ts < s) || self.until.is_some_and(|u| ts > u) {
                return false;
            }
        }
        let actual = text_of(head.target);
        if let Some(target) = &self.target {
            if !actual.as_deref().is_some_and(|a| within_target(a, target)) {
                return false;
            }
        }
        if let Some(actual) = actual.as_deref() {
            if self
                .exclude_targets
                .iter()
                .any(|excluded| within_target(actual, excluded))
            {
                return false;
            }
        }
        true
    }
}

/// Whether `actual` is `target` or nested in it (`target::…`).
fn within_target(actual: &str, target: &str) -> bool {
    actual
        .strip_prefix(target)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
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
        let head = Head {
            timestamp,
            level,
            severity,
            target: None,
        };
        EntryFacts {
            level: head.severity().map_or(OTHER_LEVEL, Severity::slot),
            timestamp: timestamp.and_then(instant_of_raw),
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
    excluded: Vec<memchr::memmem::Finder<'f>>,
    /// Per field filter, text a line must contain to hold the value (see [`field::hint`]).
    field_hints: Vec<Option<memchr::memmem::Finder<'static>>>,
    /// The same for the field exclusions.
    exclusion_hints: Vec<Option<memchr::memmem::Finder<'static>>>,
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
        if self.excluded.iter().any(|f| f.find(line).is_some()) {
            return false;
        }
        if self.field_hints.is_empty() && self.exclusion_hints.is_empty() {
            return self.filter.matches_structure(line);
        }
        // A line without the value's text (and no escape that could spell it otherwise)
        // cannot hold it: no need to walk it.
        let escaped = memchr::memchr(b'\\', line).is_some();
        let cannot_hold = |hint: &Option<memchr::memmem::Finder<'static>>| {
            !escaped && hint.as_ref().is_some_and(|h| h.find(line).is_none())
        };
        if self.field_hints.iter().any(cannot_hold) {
            return false;
        }
        self.filter
            .matches_structure_where(line, |i| !cannot_hold(&self.exclusion_hints[i]))
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

impl Head<'_> {
    /// The severity `level` (else `severity`) names, string or number.
    fn severity(&self) -> Option<Severity> {
        let named = |raw: Option<&serde_json::value::RawValue>| {
            let raw = raw?;
            match text_of(Some(raw)) {
                Some(text) => Severity::parse(&text),
                None => raw
                    .get()
                    .parse::<f64>()
                    .ok()
                    .and_then(Severity::from_number),
            }
        };
        named(self.level).or_else(|| named(self.severity))
    }
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

/// The instant a JSON `timestamp` value names: an RFC 3339 string, or unix epoch time as
/// a number or a digit string (see [`crate::timefmt::parse_epoch`] for the units).
fn instant_of_raw(raw: &serde_json::value::RawValue) -> Option<Nanos> {
    match text_of(Some(raw)) {
        Some(text) => parse_instant(&text),
        None => parse_epoch(raw.get()),
    }
}

/// The instant of a stored line's top-level `timestamp` (RFC 3339 or epoch time), in unix
/// nanoseconds; `None` when it has none or it names no time (`"yesterday"`).
///
/// # Examples
///
/// ```
/// use estuary_collector::filter::timestamp_nanos;
///
/// assert_eq!(timestamp_nanos(br#"{"timestamp":"1970-01-01T02:00:01+02:00"}"#), Some(1_000_000_000));
/// assert_eq!(timestamp_nanos(br#"{"timestamp":1500}"#), Some(1_500_000_000_000));
/// assert_eq!(timestamp_nanos(br#"{"timestamp":"yesterday"}"#), None);
/// ```
pub fn timestamp_nanos(line: &[u8]) -> Option<Nanos> {
    #[derive(serde::Deserialize)]
    struct Stamp<'a> {
        #[serde(borrow, default)]
        timestamp: Option<&'a serde_json::value::RawValue>,
    }
    let stamp: Stamp<'_> = serde_json::from_slice(line).ok()?;
    instant_of_raw(stamp.timestamp?)
}

/// The instants to order lines of one service by, given in stream (arrival) order, oldest
/// first. A line whose `timestamp` names no time takes the instant of the line stored just
/// before it (it arrived after that one), or, for leading ones, of the first line after
/// it; `None` only when no line of the slice has a readable time.
///
/// # Examples
///
/// ```
/// use estuary_collector::filter::order_keys;
///
/// let lines: [&[u8]; 3] = [br#"{"timestamp":"yesterday"}"#, br#"{"timestamp":5}"#, br#"{"m":1}"#];
/// let five = Some(5_000_000_000);
/// assert_eq!(order_keys(&lines), vec![five, five, five]);
/// ```
pub fn order_keys(lines: &[&[u8]]) -> Vec<Option<Nanos>> {
    let mut keys: Vec<Option<Nanos>> = lines.iter().map(|l| timestamp_nanos(l)).collect();
    let first = keys.iter().flatten().next().copied();
    let mut carried = first;
    for key in &mut keys {
        match key {
            Some(known) => carried = Some(*known),
            None => *key = carried,
        }
    }
    keys
}

/// The top-level `timestamp` string of a stored line (empty when absent), for display.
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
