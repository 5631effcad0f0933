//! The data the query benchmark reads: ~200-byte JSON entries one millisecond apart from
//! midnight UTC, mostly `INFO`, with some `WARN` and `ERROR`, and one line in a thousand an
//! `ERROR` carrying [`RARE_TOKEN`] (no other line has it). Written as a service's active
//! file, or as rotated segments named as the collector names them (virtual byte range and
//! time range of their entries) followed by an active file.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The text only the rare lines contain.
pub const RARE_TOKEN: &str = "CARD-DECLINED-7Q2X";
/// One line in this many is a rare one: 0.1%.
pub const RARE_EVERY: u64 = 1_000;
/// Where in each thousand the rare line sits.
const RARE_AT: u64 = 500;
/// Other `ERROR` lines (about 1%), so that `level=error` alone matches ten times more.
const ERROR_EVERY: u64 = 97;
/// `WARN` lines (about 3%).
const WARN_EVERY: u64 = 31;
/// The day every entry falls on; entries are one millisecond apart from its midnight.
const DAY: &str = "2026-11-25";
/// [`DAY`] in the compact form of segment names.
const COMPACT_DAY: &str = "20261125";
const MS_PER_DAY: u64 = 24 * 3_600_000;
/// Size of one line as written, `\n` included.
pub const LINE_BYTES: usize = 200;
/// Text messages are padded with to reach [`LINE_BYTES`].
const FILLER: &str = "checkout completed for basket with three items after payment \
    authorisation and stock reservation; confirmation mail queued, invoice rendered, \
    shipment label requested from the carrier, loyalty points credited to the account";
/// Bytes per write while generating.
const CHUNK: usize = 4 * 1024 * 1024;

/// Whether line `seq` is a rare one.
pub fn is_rare(seq: u64) -> bool {
    seq % RARE_EVERY == RARE_AT
}

/// Line `seq`'s timestamp in RFC 3339 (millisecond precision).
///
/// # Panics
///
/// When `seq` falls past the end of [`DAY`] (a log of over 16 GiB).
pub fn rfc3339(seq: u64) -> String {
    let (h, m, s, ms) = time_of_day(seq);
    format!("{DAY}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Line `seq`'s timestamp in the compact form of segment names.
fn compact(seq: u64) -> String {
    let (h, m, s, ms) = time_of_day(seq);
    format!("{COMPACT_DAY}T{h:02}{m:02}{s:02}.{ms:03}000000Z")
}

fn time_of_day(seq: u64) -> (u64, u64, u64, u64) {
    assert!(seq < MS_PER_DAY, "the generated log must fit in one day");
    (
        seq / 3_600_000,
        seq / 60_000 % 60,
        seq / 1_000 % 60,
        seq % 1_000,
    )
}

/// Appends line `seq` of `service`, `\n` included, padded to [`LINE_BYTES`].
fn push_line(out: &mut String, service: &str, seq: u64) {
    let start = out.len();
    let (level, message) = if is_rare(seq) {
        ("ERROR", RARE_TOKEN)
    } else if seq.is_multiple_of(ERROR_EVERY) {
        ("ERROR", "payment provider timed out")
    } else if seq.is_multiple_of(WARN_EVERY) {
        ("WARN", "stock running low")
    } else {
        ("INFO", "order placed")
    };
    write!(
        out,
        "{{\"timestamp\":\"{}\",\"level\":\"{level}\",\"service\":\"{service}\",\
         \"target\":\"shop::orders\",\"seq\":{seq},\"fields\":{{\"order_id\":\"o-{seq:08}\",\
         \"items\":3}},\"message\":\"{message}: ",
        rfc3339(seq)
    )
    .expect("writing to a String cannot fail");
    let closing = "\"}\n";
    let pad = LINE_BYTES.saturating_sub(out.len() - start + closing.len());
    out.push_str(&FILLER[..pad.min(FILLER.len())]);
    out.push_str(closing);
}

/// A file of consecutive lines.
#[derive(Debug, Clone)]
pub struct Part {
    /// Its path.
    pub path: PathBuf,
    /// The first line's `seq`.
    pub first: u64,
    /// One past the last line's `seq`.
    pub end: u64,
    /// Its size.
    pub bytes: u64,
}

impl Part {
    /// Whether it holds any line in `[first, end)`.
    pub fn overlaps(&self, first: u64, end: u64) -> bool {
        self.first < end && first < self.end
    }

    /// Rare lines in it.
    pub fn rare_lines(&self) -> u64 {
        (self.first..self.end).filter(|seq| is_rare(*seq)).count() as u64
    }
}

/// Writes lines from `first` to `path` until it holds at least `size` bytes, and syncs it so
/// its write-back does not weigh on what follows.
fn write_part(path: &Path, service: &str, first: u64, size: u64) -> io::Result<Part> {
    let mut file = File::create(path)?;
    let mut chunk = String::with_capacity(CHUNK + LINE_BYTES);
    let (mut bytes, mut seq) = (0u64, first);
    while bytes < size {
        chunk.clear();
        while chunk.len() < CHUNK && bytes + (chunk.len() as u64) < size {
            push_line(&mut chunk, service, seq);
            seq += 1;
        }
        file.write_all(chunk.as_bytes())?;
        bytes += chunk.len() as u64;
    }
    file.sync_data()?;
    Ok(Part {
        path: path.to_path_buf(),
        first,
        end: seq,
        bytes,
    })
}

/// Writes `service`'s active file in `log_dir`, of at least `size` bytes.
///
/// # Errors
///
/// Any I/O error.
pub fn write_active(log_dir: &Path, service: &str, size: u64) -> io::Result<Part> {
    write_part(&log_dir.join(format!("{service}.log")), service, 0, size)
}

/// Writes `size` bytes for `service` as `segments` rotated segments and an active file, all
/// about the same size. Returns the segments, oldest first, then the active file.
///
/// # Errors
///
/// Any I/O error.
pub fn write_segmented(
    log_dir: &Path,
    service: &str,
    size: u64,
    segments: usize,
) -> io::Result<Vec<Part>> {
    let dir = log_dir.join("segments").join(service);
    std::fs::create_dir_all(&dir)?;
    let part_size = size / (segments as u64 + 1);
    let (mut parts, mut next, mut offset) = (Vec::new(), 0, 0);
    for _ in 0..segments {
        let pending = dir.join("pending.tmp");
        let mut part = write_part(&pending, service, next, part_size)?;
        let end = offset + part.bytes;
        // Closed a millisecond after its last entry; named like the collector's segments.
        let name = format!(
            "{}_{offset}_{end}_{}_{}.log",
            compact(part.end),
            compact(part.first),
            compact(part.end - 1)
        );
        part.path = dir.join(name);
        std::fs::rename(&pending, &part.path)?;
        (next, offset) = (part.end, end);
        parts.push(part);
    }
    let active = log_dir.join(format!("{service}.log"));
    parts.push(write_part(&active, service, next, part_size)?);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_of_the_same_size_with_rare_errors() {
        let mut out = String::new();
        for seq in [0, 1, 31, 97, 500, 86_399_999] {
            out.clear();
            push_line(&mut out, "svc", seq);
            assert_eq!(out.len(), LINE_BYTES, "{out}");
            let value: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
            assert_eq!(value["seq"], seq);
            assert_eq!(out.contains(RARE_TOKEN), is_rare(seq));
            if is_rare(seq) {
                assert_eq!(value["level"], "ERROR");
            }
        }
        assert_eq!(rfc3339(3_723_004), "2026-11-25T01:02:03.004Z");
        assert_eq!(compact(3_723_004), "20261125T010203.004000000Z");
    }
}
