//! What the protocol adapters ([`super::otlp`], [`super::loki_push`], [`super::bulk`]) share:
//! writing one stored line (a JSON object) per entry, once, and grouping the lines per
//! service for [`super::ingest::store`] — so an entry that came over OTLP, Loki push or
//! `_bulk` is an ordinary line with `timestamp`, `service`, `level` and `message`.

use std::fmt::Write as _;

use time::OffsetDateTime;

use crate::body::{LineFacts, ServiceLines};
use crate::filter::EntryFacts;
use crate::service::ServiceName;

/// Per-service lines, checked against the entry size limit.
#[derive(Debug)]
pub(crate) struct Batches {
    /// Largest single line, as for `POST /logs`.
    max_entry_bytes: usize,
    /// One group per service, in order of first appearance.
    per_service: Vec<ServiceLines>,
}

impl Batches {
    pub(crate) fn new(max_entry_bytes: usize) -> Self {
        Batches {
            max_entry_bytes,
            per_service: Vec::new(),
        }
    }

    /// Adds one complete JSON object (without its newline) to `service`'s lines.
    ///
    /// # Errors
    ///
    /// The reason, for the caller to report, when the line is over the entry limit.
    pub(crate) fn push(&mut self, service: &ServiceName, line: &[u8]) -> Result<(), String> {
        // What the count index records of the line, read the way the filters read it.
        self.push_with_facts(service, line, EntryFacts::of_line(line))
    }

    /// [`Batches::push`] for an adapter that wrote the line's `level` and `timestamp` itself
    /// and so knows their facts without reading the line back (parsing each line again
    /// would cost about as much as writing it).
    ///
    /// # Errors
    ///
    /// As [`Batches::push`].
    pub(crate) fn push_with_facts(
        &mut self,
        service: &ServiceName,
        line: &[u8],
        facts: EntryFacts,
    ) -> Result<(), String> {
        if line.len() > self.max_entry_bytes {
            return Err(format!(
                "the entry is {} bytes; the limit is {}",
                line.len(),
                self.max_entry_bytes
            ));
        }
        let batch = match self.per_service.iter().position(|b| &b.service == service) {
            Some(i) => &mut self.per_service[i],
            None => {
                self.per_service
                    .push(ServiceLines::from_lines(service.clone(), Vec::new()));
                self.per_service.last_mut().expect("just pushed")
            }
        };
        batch.lines.extend_from_slice(line);
        batch.lines.push(b'\n');
        batch.entries += 1;
        batch.facts.push(LineFacts {
            bytes: line.len() as u32 + 1,
            facts,
        });
        Ok(())
    }

    pub(crate) fn into_inner(self) -> Vec<ServiceLines> {
        self.per_service
    }

    /// Every line written so far, parsed (for the adapters' tests).
    #[cfg(test)]
    pub(crate) fn values(self) -> Vec<serde_json::Value> {
        self.per_service
            .iter()
            .flat_map(|b| b.lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()))
            .map(|l| serde_json::from_slice(l).expect("a stored line is JSON"))
            .collect()
    }
}

/// Writes `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    // Most keys and messages need no escaping: copy them in one go.
    if !needs_escaping(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Whether a JSON string of `bytes` needs escapes (a quote, a backslash or a control byte).
/// Every byte is looked at, without an early exit, so the loop runs on vector registers:
/// several times faster than stopping at the first hit for the usual case of none.
fn needs_escaping(bytes: &[u8]) -> bool {
    let mut found = 0u8;
    for &b in bytes {
        found |= u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\');
    }
    found != 0
}

/// Writes `,"key":` (or `"key":` right after an opening brace).
pub(crate) fn write_key(out: &mut Vec<u8>, key: &str) {
    if !matches!(out.last(), Some(b'{') | None) {
        out.push(b',');
    }
    write_str(out, key);
    out.push(b':');
}

/// Unix nanoseconds as the collector's stored form, RFC 3339 UTC with nine fraction
/// digits (`2026-11-25T16:01:43.123456789Z`), so lines sort as text across services.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, nanos: i128) {
    thread_local! {
        /// The last second formatted (`"YYYY-MM-DDTHH:MM:SS`): entries of one batch mostly
        /// share their second, and calendar arithmetic per entry would cost more than the
        /// rest of the line.
        static LAST_SECOND: std::cell::Cell<(i128, [u8; 20])> = const { std::cell::Cell::new((i128::MIN, [0; 20])) };
    }
    let seconds = nanos.div_euclid(1_000_000_000);
    let fraction = nanos.rem_euclid(1_000_000_000) as u32;
    let (cached, mut prefix) = LAST_SECOND.with(std::cell::Cell::get);
    if cached != seconds {
        let at = OffsetDateTime::from_unix_timestamp(seconds as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut text = String::with_capacity(20);
        let _ = write!(
            text,
            "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            at.year().clamp(0, 9999),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        prefix.copy_from_slice(&text.as_bytes()[..20]);
        LAST_SECOND.with(|cell| cell.set((seconds, prefix)));
    }
    out.extend_from_slice(&prefix);
    let mut digits = *b".000000000Z\"";
    let mut rest = fraction;
    for i in (1..=9).rev() {
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
}

/// Lower-case hex of `bytes`, as OTLP JSON and W3C trace context spell trace and span ids.
pub(crate) fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0xf)]);
    }
    out.push(b'"');
}

/// Collects refusal reasons for one answer: counts all of them, keeps the first few.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    /// How many entries were refused.
    pub(crate) count: usize,
    /// The first [`Refusals::KEPT`] reasons.
    reasons: Vec<String>,
}

impl Refusals {
    /// Reasons quoted in the answer; the rest are counted only.
    const KEPT: usize = 5;

    /// Records that `entries` entries were refused for `reason`.
    pub(crate) fn add(&mut self, entries: usize, reason: impl FnOnce() -> String) {
        if entries == 0 {
            return;
        }
        self.count += entries;
        if self.reasons.len() < Self::KEPT {
            self.reasons.push(reason());
        }
    }

    /// One message naming what was refused and why: `"3 entries refused: …; …"`.
    pub(crate) fn message(&self, noun: &str) -> String {
        let mut text = format!("{} {noun} refused: {}", self.count, self.reasons.join("; "));
        if self.reasons.len() == Self::KEPT {
            text.push_str("; …");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_exactly_when_needed_wherever_the_byte_is() {
        let long = "a".repeat(70);
        for special in ['"', '\\', '\n', '\u{1f}', '\u{0}'] {
            for at in [0, 1, 15, 16, 31, 32, 69, 70] {
                let mut text = long.clone();
                text.insert(at, special);
                assert!(needs_escaping(text.as_bytes()), "{special:?} at {at}");
                let mut out = Vec::new();
                write_str(&mut out, &text);
                assert_eq!(
                    out,
                    serde_json::to_vec(&text).unwrap(),
                    "{special:?} at {at}"
                );
            }
        }
        for clean in ["", "plain", "é and ünïcode ✓", &long, "space: , [ ] { }"] {
            assert!(!needs_escaping(clean.as_bytes()), "{clean:?}");
            let mut out = Vec::new();
            write_str(&mut out, clean);
            assert_eq!(out, format!("\"{clean}\"").into_bytes());
        }
    }

    #[test]
    fn timestamps_have_nine_fraction_digits() {
        let mut out = Vec::new();
        write_timestamp(&mut out, 1_500_000_000);
        assert_eq!(out, br#""1970-01-01T00:00:01.500000000Z""#);
        out.clear();
        write_timestamp(&mut out, 1_500_000_007);
        write_timestamp(&mut out, 1_795_622_503_000_000_001);
        assert_eq!(
            out,
            br#""1970-01-01T00:00:01.500000007Z""2026-11-25T16:01:43.000000001Z""#
        );
    }

    #[test]
    fn batches_group_per_service_and_refuse_oversized_lines() {
        let mut batches = Batches::new(16);
        let api = ServiceName::parse("api").unwrap();
        batches.push(&api, b"{}").unwrap();
        batches.push(&ServiceName::unknown(), b"{}").unwrap();
        batches.push(&api, b"{}").unwrap();
        assert!(batches.push(&api, &[b' '; 17]).is_err());
        let inner = batches.into_inner();
        assert_eq!(inner[0].lines, b"{}\n{}\n");
    }

    #[test]
    fn strings_are_escaped_only_when_needed() {
        let mut out = Vec::new();
        write_str(&mut out, "plain é");
        write_str(&mut out, "q\"\\\n\u{1}");
        assert_eq!(out, "\"plain é\"\"q\\\"\\\\\\n\\u0001\"".as_bytes());
    }

    #[test]
    fn keys_get_commas_after_the_first() {
        let mut out = b"{".to_vec();
        write_key(&mut out, "a");
        out.push(b'1');
        write_key(&mut out, "b");
        out.push(b'2');
        out.push(b'}');
        assert_eq!(out, br#"{"a":1,"b":2}"#);
    }
}
