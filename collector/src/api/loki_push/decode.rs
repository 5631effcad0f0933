//! The Loki push body: snappy-compressed protobuf (`application/x-protobuf`, what Promtail,
//! Alloy and most clients send) or JSON (`application/json`), read into one shape.
//!
//! Loki publishes no Rust crate of its own types, so the messages below are derived with
//! `prost` from Loki's `pkg/push/push.proto` (field numbers copied from it); `prost` does
//! the decoding. The stream labels arrive as a Prometheus label string, parsed here.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap};
use prost::Message as _;
use serde::Deserialize;

use crate::api::ApiError;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams, each with its labels and entries.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// `{name="value", …}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The stream's entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Unused by receivers.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// When the line was logged.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The log line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Per-entry metadata (Loki 3's structured metadata).
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPair>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// One stream, whichever encoding it came in.
#[derive(Debug, Default)]
pub(super) struct Stream {
    /// Its labels.
    pub(super) labels: BTreeMap<String, String>,
    /// Its entries.
    pub(super) entries: Vec<Entry>,
}

/// One entry of a stream.
#[derive(Debug)]
pub(super) struct Entry {
    /// Unix nanoseconds.
    pub(super) nanos: i128,
    /// The log line.
    pub(super) line: String,
    /// Structured metadata, in the order sent.
    pub(super) metadata: Vec<(String, String)>,
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PushEncoding {
    SnappyProtobuf,
    Json,
}

impl PushEncoding {
    /// From `Content-Type`: protobuf when absent (Loki's default), JSON, else 415.
    pub(super) fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        let text = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match text.split(';').next().unwrap_or_default().trim() {
            "application/x-protobuf" | "application/protobuf" | "" => {
                Ok(PushEncoding::SnappyProtobuf)
            }
            "application/json" => Ok(PushEncoding::Json),
            _ => Err(ApiError::UnsupportedFormat(format!(
                "unsupported content type {text:?}: Loki push sends application/x-protobuf (snappy) or application/json"
            ))),
        }
    }

    /// Decodes the streams; `limit` bounds the uncompressed size of a snappy body.
    pub(super) fn decode(self, bytes: &[u8], limit: usize) -> Result<Vec<Stream>, ApiError> {
        match self {
            PushEncoding::SnappyProtobuf => decode_protobuf(bytes, limit),
            PushEncoding::Json => decode_json(bytes),
        }
    }
}

fn decode_protobuf(bytes: &[u8], limit: usize) -> Result<Vec<Stream>, ApiError> {
    let invalid = |what: String| ApiError::BadRequest(format!("invalid Loki push body: {what}"));
    let len = snap::raw::decompress_len(bytes)
        .map_err(|err| invalid(format!("not snappy-compressed: {err}")))?;
    if len > limit {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(|err| invalid(format!("bad snappy data: {err}")))?;
    let request = PushRequest::decode(&raw[..]).map_err(|err| invalid(err.to_string()))?;
    request
        .streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let labels = parse_labels(&stream.labels)
                .map_err(|err| invalid(format!("stream {i}: labels {:?}: {err}", stream.labels)))?;
            let entries = stream
                .entries
                .into_iter()
                .map(|e| Entry {
                    nanos: e.timestamp.map_or(0, |t| {
                        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
                    }),
                    line: e.line,
                    metadata: e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect(),
                })
                .collect();
            Ok(Stream { labels, entries })
        })
        .collect()
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    values: Vec<JsonEntry>,
}

/// `["<unix ns>", "<line>"]` or `["<unix ns>", "<line>", {"name": "value", …}]`.
#[derive(Deserialize)]
struct JsonEntry(
    String,
    String,
    #[serde(default)] Option<BTreeMap<String, String>>,
);

fn decode_json(bytes: &[u8]) -> Result<Vec<Stream>, ApiError> {
    let push: JsonPush = serde_json::from_slice(bytes)
        .map_err(|err| ApiError::BadRequest(format!("invalid Loki push JSON: {err}")))?;
    push.streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let entries = stream
                .values
                .into_iter()
                .enumerate()
                .map(|(j, JsonEntry(ts, line, metadata))| {
                    let nanos = ts.parse::<i128>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "invalid Loki push JSON: stream {i} value {j}: timestamp {ts:?} is not unix nanoseconds"
                        ))
                    })?;
                    Ok(Entry {
                        nanos,
                        line,
                        metadata: metadata.unwrap_or_default().into_iter().collect(),
                    })
                })
                .collect::<Result<_, ApiError>>()?;
            Ok(Stream {
                labels: stream.stream,
                entries,
            })
        })
        .collect()
}

/// Parses a Prometheus label set, `{name="value", …}` with Go string escapes in values.
pub(super) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.trim();
    rest = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or("a label set is written {name=\"value\", …}")?
        .trim_start();
    while !rest.is_empty() {
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("invalid label name at {rest:?}"));
        }
        rest = rest[name_len..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("expected = after {name}"))?
            .trim_start();
        let (value, after) = quoted(rest).ok_or_else(|| format!("bad value for {name}"))?;
        labels.insert(name.to_owned(), value);
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(after_comma) => rest = after_comma.trim_start(),
            None if rest.is_empty() => {}
            None => return Err(format!("expected , or }} at {rest:?}")),
        }
    }
    Ok(labels)
}

/// A double-quoted Go string at the start of `text`: its value and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 2..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                let simple = match escaped {
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\'' => Some('\''),
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    'r' => Some('\r'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'v' => Some('\u{b}'),
                    _ => None,
                };
                let c = match (simple, escaped) {
                    (Some(c), _) => c,
                    (None, 'x') => hex_char(&mut chars, 2)?,
                    (None, 'u') => hex_char(&mut chars, 4)?,
                    (None, 'U') => hex_char(&mut chars, 8)?,
                    _ => return None,
                };
                value.push(c);
            }
            c => value.push(c),
        }
    }
    None
}

fn hex_char(chars: &mut std::str::CharIndices<'_>, digits: usize) -> Option<char> {
    let mut code = 0u32;
    for _ in 0..digits {
        code = code * 16 + chars.next()?.1.to_digit(16)?;
    }
    char::from_u32(code)
}
