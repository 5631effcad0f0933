//! Turning a request body into stored lines without rebuilding the entries.
//!
//! Each entry is validated in one pass that looks only at its top-level keys (`service`,
//! `timestamp`); its bytes are then copied as sent, minus insignificant whitespace, with a
//! `timestamp` appended when it had none. Entries are grouped per service, ready for the
//! store. A body is accepted or refused as a whole.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::filter::EntryFacts;
use crate::service::{ServiceName, ServiceNameError};
use crate::timefmt::{parse_rfc3339, Nanos};

/// How a body lays out its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON object, or a JSON array of objects (`application/json`).
    Json,
    /// One JSON object per line (`application/x-ndjson`).
    Ndjson,
}

/// The entries of one request for one service, as the bytes to append.
#[derive(Debug)]
pub struct ServiceLines {
    /// The service the entries belong to.
    pub service: ServiceName,
    /// Complete lines, each ending in `\n`.
    pub lines: Vec<u8>,
    /// How many entries `lines` holds.
    pub entries: usize,
    /// Each entry's length and what the count index records of it, in order.
    pub facts: Vec<LineFacts>,
}

/// One stored line as the store's count index sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFacts {
    /// The line's bytes, with its `\n`.
    pub bytes: u32,
    /// Its level slot and time.
    pub facts: EntryFacts,
}

impl ServiceLines {
    /// Lines as they are (counted and read for their facts here), for callers that build
    /// stored lines themselves; each must end in `\n`.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::body::ServiceLines;
    /// use estuary_collector::service::ServiceName;
    ///
    /// let lines = ServiceLines::from_lines(ServiceName::parse("api").unwrap(), b"{\"a\":1}\n{\"b\":2}\n".to_vec());
    /// assert_eq!((lines.entries, lines.facts.len()), (2, 2));
    /// ```
    pub fn from_lines(service: ServiceName, lines: Vec<u8>) -> Self {
        let facts: Vec<LineFacts> = lines
            .split_inclusive(|b| *b == b'\n')
            .map(|line| LineFacts {
                bytes: line.len() as u32,
                facts: EntryFacts::of_line(line.strip_suffix(b"\n").unwrap_or(line)),
            })
            .collect();
        ServiceLines {
            service,
            entries: facts.len(),
            lines,
            facts,
        }
    }
}

/// A whole request's entries, grouped by service.
#[derive(Debug, Default)]
pub struct ParsedBody {
    /// One group of lines per service, in order of first appearance.
    pub per_service: Vec<ServiceLines>,
    /// Whether the body was a single object (the seed's form) rather than a batch.
    pub single: bool,
}

impl ParsedBody {
    /// The number of entries across all services.
    pub fn entries(&self) -> usize {
        self.per_service.iter().map(|b| b.entries).sum()
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The body has no entries at all.
    #[error("request body is empty")]
    EmptyBody,
    /// The body is not UTF-8.
    #[error("request body is not valid UTF-8")]
    InvalidUtf8,
    /// The body is not well-formed JSON (for an array: as a whole).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// One entry is invalid.
    #[error("entry {index}: {reason}")]
    Invalid {
        /// Position of the entry in the body, from 0.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// One entry is over the per-entry size limit.
    #[error("entry {index} is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Position of the entry in the body, from 0.
        index: usize,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl EntryError {
    /// The index of the offending entry, when one entry is to blame.
    pub fn index(&self) -> Option<usize> {
        match self {
            EntryError::Invalid { index, .. } | EntryError::TooLarge { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// Validates `body` and turns it into per-service lines, stamping `timestamp` (the
/// already-formatted current time) on entries that lack one.
///
/// # Errors
///
/// Returns an [`EntryError`] for the first problem found; nothing from the body is kept.
///
/// # Examples
///
/// ```
/// use estuary_collector::body::{parse_body, BodyFormat};
///
/// let body = br#"{"service":"api", "message":"hi"}"#;
/// let parsed = parse_body(body, BodyFormat::Json, 1024, "2026-01-01T00:00:00Z").unwrap();
/// assert_eq!(parsed.per_service[0].service.as_str(), "api");
/// assert_eq!(
///     parsed.per_service[0].lines,
///     br#"{"service":"api","message":"hi","timestamp":"2026-01-01T00:00:00Z"}
/// "#
/// );
/// ```
pub fn parse_body(
    body: &[u8],
    format: BodyFormat,
    max_entry_bytes: usize,
    timestamp: &str,
) -> Result<ParsedBody, EntryError> {
    let text = std::str::from_utf8(body).map_err(|_| EntryError::InvalidUtf8)?;
    let trimmed = text.trim_ascii();
    if trimmed.is_empty() {
        return Err(EntryError::EmptyBody);
    }
    let mut out = Grouper::new(max_entry_bytes, timestamp);
    match format {
        BodyFormat::Ndjson => {
            let lines = trimmed
                .split('\n')
                .map(str::trim_ascii)
                .filter(|l| !l.is_empty());
            for (index, line) in lines.enumerate() {
                out.push(index, line)?;
            }
        }
        BodyFormat::Json if trimmed.starts_with('[') => {
            let entries: Vec<&RawValue> =
                serde_json::from_str(trimmed).map_err(|e| EntryError::Malformed(e.to_string()))?;
            for (index, entry) in entries.into_iter().enumerate() {
                out.push(index, entry.get())?;
            }
        }
        BodyFormat::Json => {
            out.push(0, trimmed)?;
            out.parsed.single = true;
        }
    }
    Ok(out.parsed)
}

/// Accumulates validated entries into per-service batches.
struct Grouper<'t> {
    max_entry_bytes: usize,
    timestamp: &'t str,
    /// `timestamp` in unix nanoseconds, for entries that get it.
    stamped_at: Option<Nanos>,
    parsed: ParsedBody,
}

impl<'t> Grouper<'t> {
    fn new(max_entry_bytes: usize, timestamp: &'t str) -> Self {
        Grouper {
            max_entry_bytes,
            timestamp,
            stamped_at: parse_rfc3339(timestamp),
            parsed: ParsedBody::default(),
        }
    }

    fn push(&mut self, index: usize, raw: &str) -> Result<(), EntryError> {
        if raw.len() > self.max_entry_bytes {
            return Err(EntryError::TooLarge {
                index,
                size: raw.len(),
                limit: self.max_entry_bytes,
            });
        }
        let invalid = |reason: String| EntryError::Invalid { index, reason };
        let meta: EntryMeta<'_> = serde_json::from_str(raw).map_err(|e| invalid(e.to_string()))?;
        let service = match meta.service {
            None => ServiceName::unknown(),
            Some(name) => {
                ServiceName::parse(&name).map_err(|e: ServiceNameError| invalid(e.to_string()))?
            }
        };
        let (timestamp, stamped_at) = (self.timestamp, self.stamped_at);
        let mut facts = EntryFacts::from_raw(meta.level, meta.severity, meta.timestamp);
        let batch = self.batch_for(service);
        let start = batch.lines.len();
        append_minified(&mut batch.lines, raw.as_bytes()).map_err(invalid)?;
        if meta.timestamp.is_none() {
            stamp(&mut batch.lines, timestamp);
            facts.timestamp = stamped_at;
        }
        batch.lines.push(b'\n');
        batch.entries += 1;
        batch.facts.push(LineFacts {
            bytes: (batch.lines.len() - start) as u32,
            facts,
        });
        Ok(())
    }

    fn batch_for(&mut self, service: ServiceName) -> &mut ServiceLines {
        let batches = &mut self.parsed.per_service;
        let position = match batches.iter().position(|b| b.service == service) {
            Some(position) => position,
            None => {
                batches.push(ServiceLines {
                    service,
                    lines: Vec::new(),
                    entries: 0,
                    facts: Vec::new(),
                });
                batches.len() - 1
            }
        };
        &mut batches[position]
    }
}

/// How deeply objects and arrays may nest in an entry: serde_json's own default recursion
/// limit, so every stored line parses with ordinary JSON parsers.
pub const MAX_DEPTH: usize = 128;

/// Copies JSON text, dropping whitespace outside strings, and refuses nesting deeper than
/// [`MAX_DEPTH`]. The text is known to be valid JSON, so strings are delimited by
/// unescaped quotes. On error `out` is left as it was.
fn append_minified(out: &mut Vec<u8>, json: &[u8]) -> Result<(), String> {
    if is_compact(json) {
        out.extend_from_slice(json);
        return Ok(());
    }
    append_minified_walk(out, json)
}

/// Whether valid JSON `json` is certainly compact (no whitespace outside strings) and no
/// deeper than [`MAX_DEPTH`], so it can be copied as it is: one vectorizable pass and one
/// `memchr` per space, where walking it string by string costs a search per string.
///
/// - Bytes below `0x20` are never inside a JSON string (they must be escaped there), so any
///   of them is whitespace outside one.
/// - A space outside a string always touches a structural byte (`{}[],:`) or an end of the
///   text, because two values are never adjacent in valid JSON. A space inside a string may
///   touch one too (`", "`): such a line merely takes the walk.
/// - Nesting is at most the number of `{` and `[` bytes, strings included.
fn is_compact(json: &[u8]) -> bool {
    let mut opens = 0usize;
    // Byte-wide counters over chunks of at most 255 bytes, so the loop runs on whole vector
    // registers rather than widening every byte to a `usize`.
    for chunk in json.chunks(255) {
        let (mut chunk_opens, mut controls) = (0u8, 0u8);
        for &b in chunk {
            // `[` is 0x5B and `{` 0x7B: the only bytes that are `{` once bit 0x20 is set.
            chunk_opens += u8::from(b | 0x20 == b'{');
            controls |= u8::from(b < 0x20);
        }
        opens += usize::from(chunk_opens);
        if controls != 0 || opens > MAX_DEPTH {
            return false;
        }
    }
    let structural =
        |at: Option<&u8>| at.is_none_or(|b| matches!(b, b'{' | b'}' | b'[' | b']' | b',' | b':'));
    memchr::memchr_iter(b' ', json).all(|i| {
        let before = i.checked_sub(1).and_then(|j| json.get(j));
        !structural(before) && !structural(json.get(i + 1))
    })
}

/// [`append_minified`]'s general case: string by string, dropping whitespace between them
/// and counting the depth.
fn append_minified_walk(out: &mut Vec<u8>, json: &[u8]) -> Result<(), String> {
    let start = out.len();
    out.reserve(json.len());
    let mut depth = 0usize;
    let mut i = 0;
    // Copies runs (a whole string, a whole number) rather than byte by byte.
    while i < json.len() {
        match json[i] {
            b'"' => {
                let end = string_end(json, i);
                out.extend_from_slice(&json[i..end]);
                i = end;
            }
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            open @ (b'{' | b'[') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    out.truncate(start);
                    return Err(format!("nested deeper than {MAX_DEPTH} levels"));
                }
                out.push(open);
                i += 1;
            }
            close @ (b'}' | b']') => {
                depth = depth.saturating_sub(1);
                out.push(close);
                i += 1;
            }
            _ => {
                let run = json[i..]
                    .iter()
                    .position(|b| is_structural(*b))
                    .unwrap_or(json.len() - i);
                out.extend_from_slice(&json[i..i + run]);
                i += run;
            }
        }
    }
    Ok(())
}

/// The offset just past the string that starts with the quote at `open`.
fn string_end(json: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while let Some(k) = memchr::memchr2(b'"', b'\\', &json[i..]) {
        i += k;
        if json[i] == b'"' {
            return i + 1;
        }
        i = (i + 2).min(json.len());
    }
    json.len()
}

fn is_structural(byte: u8) -> bool {
    matches!(
        byte,
        b'"' | b' ' | b'\n' | b'\r' | b'\t' | b'{' | b'[' | b'}' | b']'
    )
}

/// Appends `,"timestamp":"<now>"` inside the object that `line` ends with.
fn stamp(line: &mut Vec<u8>, timestamp: &str) {
    let closing = line.pop();
    debug_assert_eq!(closing, Some(b'}'));
    if line.last() != Some(&b'{') {
        line.push(b',');
    }
    line.extend_from_slice(b"\"timestamp\":\"");
    line.extend_from_slice(timestamp.as_bytes());
    line.extend_from_slice(b"\"}");
}

/// What validation and the count index need from an entry: its `service`, and the raw
/// values of `timestamp`, `level` and `severity`.
struct EntryMeta<'a> {
    service: Option<Cow<'a, str>>,
    timestamp: Option<&'a RawValue>,
    level: Option<&'a RawValue>,
    severity: Option<&'a RawValue>,
    has_target: bool,
}

impl<'de> de::Deserialize<'de> for EntryMeta<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MetaVisitor)
    }
}

struct MetaVisitor;

impl<'de> Visitor<'de> for MetaVisitor {
    type Value = EntryMeta<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut meta = EntryMeta {
            service: None,
            timestamp: None,
            level: None,
            severity: None,
            has_target: false,
        };
        // The keys filters read must be unambiguous: a second one is refused.
        let duplicate = |name: &str| de::Error::custom(format!("duplicate \"{name}\" key"));
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Service if meta.service.is_some() => return Err(duplicate("service")),
                Key::Service => meta.service = Some(map.next_value::<ServiceValue<'de>>()?.0),
                Key::Timestamp if meta.timestamp.is_some() => return Err(duplicate("timestamp")),
                Key::Timestamp => meta.timestamp = Some(map.next_value()?),
                Key::Level if meta.level.is_some() => return Err(duplicate("level")),
                Key::Level => meta.level = Some(map.next_value()?),
                Key::Severity if meta.severity.is_some() => return Err(duplicate("severity")),
                Key::Severity => meta.severity = Some(map.next_value()?),
                Key::Target if meta.has_target => return Err(duplicate("target")),
                Key::Target => {
                    meta.has_target = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(meta)
    }
}

/// A top-level key, classified without allocating.
enum Key {
    Service,
    Timestamp,
    Level,
    Severity,
    Target,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "service" => Key::Service,
                    "timestamp" => Key::Timestamp,
                    "level" => Key::Level,
                    "severity" => Key::Severity,
                    "target" => Key::Target,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The `service` value: a string, borrowed unless it contained escapes.
struct ServiceValue<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for ServiceValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ServiceVisitor;
        impl<'de> Visitor<'de> for ServiceVisitor {
            type Value = ServiceValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"service\" to be a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ServiceValue(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ServiceValue(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(ServiceVisitor)
    }
}

#[cfg(test)]
mod tests;
