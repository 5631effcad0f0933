//! The entries the forwarding bench stores: the shared ~200-byte entries of
//! `bench::workload`, one in ten at `WARN` (so a Loki push carries two streams, as real logs
//! do), and a random hex token (different per entry and per body) as the order id and at
//! the start of the message, so that gzip meets some per-entry entropy, as ids bring to real
//! logs, instead of the same thousand entries over and over.

use crate::workload;

/// Distinct bodies to cycle through: 64 × ~200 KB is far beyond gzip's 32 KiB window, so
/// repeating them compresses no better than fresh entries would.
pub const VARIANTS: u64 = 64;

/// Body `variant` of `entries` entries of `service`.
pub fn batch_body(service: &str, entries: usize, variant: u64) -> Vec<u8> {
    let mut body = workload::ndjson_batch(service, entries);
    let ends: Vec<usize> = memchr::memchr_iter(b'\n', &body).collect();
    let mut start = 0;
    for (i, end) in ends.into_iter().enumerate() {
        let line = &mut body[start..end];
        if i % 10 == 9 {
            replace(line, br#""level":"INFO""#, br#""level":"WARN""#);
        }
        let token = format!("{:016x}", mix(variant << 32 | i as u64));
        overwrite_after(line, br#""order_id":"o-"#, &token.as_bytes()[..8]);
        overwrite_after(line, br#""message":""#, &token.as_bytes()[8..]);
        start = end + 1;
    }
    body
}

/// Overwrites the first occurrence of `from` in `line` with `to`, of the same length.
fn replace(line: &mut [u8], from: &[u8], to: &[u8]) {
    if let Some(at) = memchr::memmem::find(line, from) {
        line[at..at + to.len()].copy_from_slice(to);
    }
}

/// Overwrites the bytes after `marker` with `text`, as far as the string value there
/// goes (the entry keeps its length and stays valid JSON, `text` being hex).
fn overwrite_after(line: &mut [u8], marker: &[u8], text: &[u8]) {
    let Some(at) = memchr::memmem::find(line, marker) else {
        return;
    };
    let value = &mut line[at + marker.len()..];
    let room = memchr::memchr(b'"', value).unwrap_or(0).min(text.len());
    value[..room].copy_from_slice(&text[..room]);
}

/// A 64-bit finalizer (splitmix64): well-spread tokens from sequential inputs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_differ_and_stay_valid() {
        let (a, b) = (batch_body("svc", 20, 0), batch_body("svc", 20, 1));
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        let lines: Vec<serde_json::Value> = a
            .split(|c| *c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("valid JSON"))
            .collect();
        assert_eq!(lines[9]["level"], "WARN");
        assert_eq!(lines[0]["level"], "INFO");
        let order_id = lines[0]["fields"]["order_id"].as_str().expect("a string");
        assert_eq!(order_id.len(), 10);
        assert_ne!(order_id, "o-00000000");
    }
}
