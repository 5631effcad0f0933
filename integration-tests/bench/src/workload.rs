//! The entries the benchmark sends and the big log it queries: realistic ~200-byte JSON
//! objects, generated once up front so producing load costs nothing during a phase.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// Target size of one entry as sent, without its newline.
pub const ENTRY_BYTES: usize = 199;

/// The timestamp batched entries carry, as `tracing-estuary` always sends one.
const TIMESTAMP: &str = "2026-11-25T16:01:43.123456Z";

/// Text the message is padded with to reach [`ENTRY_BYTES`]; longer than any entry.
const FILLER: &str = "checkout completed for basket with three items after payment \
    authorisation and stock reservation; confirmation mail queued, invoice rendered, \
    shipment label requested from the carrier, loyalty points credited to the account";

/// Bytes per write while generating the big log.
const GENERATE_CHUNK: usize = 4 * 1024 * 1024;

/// Appends one entry (no newline) for `service`, padded to about [`ENTRY_BYTES`].
/// Without `timestamp` it is the seed's form, which the collector stamps itself.
fn push_entry(out: &mut String, service: &str, seq: u64, timestamp: Option<&str>) {
    let start = out.len();
    out.push('{');
    if let Some(timestamp) = timestamp {
        push_fmt(out, format_args!("\"timestamp\":\"{timestamp}\","));
    }
    push_fmt(
        out,
        format_args!(
            "\"level\":\"INFO\",\"service\":\"{service}\",\"target\":\"shop::orders\",\
             \"seq\":{seq},\"fields\":{{\"order_id\":\"o-{seq:08}\",\"items\":3,\
             \"total_cents\":12999}},\"message\":\""
        ),
    );
    let closing = "\"}";
    let pad = ENTRY_BYTES.saturating_sub(out.len() - start + closing.len());
    out.push_str(&FILLER[..pad.min(FILLER.len())]);
    out.push_str(closing);
}

fn push_fmt(out: &mut String, args: std::fmt::Arguments<'_>) {
    out.write_fmt(args)
        .expect("writing to a String cannot fail");
}

/// One single-entry body in the seed's form (no timestamp), distinct per `seq`.
pub fn single_entry(service: &str, seq: u64) -> Vec<u8> {
    let mut out = String::with_capacity(ENTRY_BYTES + 1);
    push_entry(&mut out, service, seq, None);
    out.into_bytes()
}

/// An NDJSON body of `entries` timestamped entries for `service`.
pub fn ndjson_batch(service: &str, entries: usize) -> Vec<u8> {
    let mut out = String::with_capacity(entries * (ENTRY_BYTES + 1));
    for seq in 0..entries as u64 {
        push_entry(&mut out, service, seq, Some(TIMESTAMP));
        out.push('\n');
    }
    out.into_bytes()
}

/// What generating the big log produced.
pub struct Generated {
    /// Bytes written.
    pub bytes: u64,
    /// Lines written.
    pub lines: u64,
    /// Time to write and `fdatasync` it.
    pub took: Duration,
}

/// Writes a log of at least `size` bytes of ~200-byte entries for `service` to `path`, as
/// the collector would have stored them, and syncs it so its write-back does not weigh on
/// the phases that follow.
pub fn generate_log(path: &Path, service: &str, size: u64) -> io::Result<Generated> {
    let began = Instant::now();
    let mut file = File::create(path)?;
    let mut chunk = String::with_capacity(GENERATE_CHUNK + ENTRY_BYTES + 1);
    let (mut bytes, mut lines) = (0u64, 0u64);
    while bytes < size {
        chunk.clear();
        while chunk.len() < GENERATE_CHUNK {
            push_entry(&mut chunk, service, lines, Some(TIMESTAMP));
            chunk.push('\n');
            lines += 1;
        }
        file.write_all(chunk.as_bytes())?;
        bytes += chunk.len() as u64;
    }
    file.sync_data()?;
    Ok(Generated {
        bytes,
        lines,
        took: began.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_json_objects_of_about_200_bytes() {
        let single = single_entry("svc", 7);
        assert_eq!(single.len(), ENTRY_BYTES);
        let value: serde_json::Value = serde_json::from_slice(&single).expect("valid JSON");
        assert!(value.get("timestamp").is_none());
        let batch = ndjson_batch("svc", 3);
        assert_eq!(batch.len(), 3 * (ENTRY_BYTES + 1));
        for line in batch.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let value: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
            assert_eq!(value["service"], "svc");
        }
    }
}
