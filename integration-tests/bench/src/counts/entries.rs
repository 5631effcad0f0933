//! The entries `bench_counts` posts: ~200-byte JSON lines whose timestamps are spread evenly
//! over the 24 hours before the run began, mostly `INFO`, with some `WARN` and `ERROR`, and
//! one line in a thousand an `ERROR` carrying [`RARE_TOKEN`] (no other line has it).

use std::fmt::Write as _;

pub use crate::query::dataset::{is_rare, RARE_TOKEN};

/// Nanoseconds in the day the entries span.
pub const DAY_NS: i64 = 24 * 3_600 * 1_000_000_000;
/// Other `ERROR` lines (about 1%), so that `level=error` matches ten times more than the
/// rare token.
const ERROR_EVERY: u64 = 97;
/// `WARN` lines (about 3%).
const WARN_EVERY: u64 = 31;
/// Size of one line as sent, `\n` included.
pub const LINE_BYTES: usize = 200;
/// Text messages are padded with to reach [`LINE_BYTES`].
const FILLER: &str = "checkout completed for basket with three items after payment \
    authorisation and stock reservation; confirmation mail queued, invoice rendered, \
    shipment label requested from the carrier, loyalty points credited to the account";

/// `entries` entries, in order, from just after `end - 24 h` to `end`.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// How many entries.
    pub entries: u64,
    /// The last entry's time, unix nanoseconds (when the run began, to the millisecond).
    pub end: i64,
}

impl Spread {
    /// `entries` entries ending now.
    pub fn ending_now(entries: u64) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970");
        let ms = i64::try_from(now.as_millis()).expect("a sane clock");
        Spread {
            entries,
            end: ms * 1_000_000,
        }
    }

    /// Nanoseconds between two entries.
    fn step(&self) -> i64 {
        DAY_NS / self.entries.max(1) as i64
    }

    /// Entry `seq`'s time: the last one is [`Spread::end`], the first one step after
    /// `end - 24 h`.
    pub fn time_of(&self, seq: u64) -> i64 {
        self.end - (self.entries - 1 - seq) as i64 * self.step()
    }

    /// `end - 24 h` in RFC 3339: the `since` that `since=24h` meant when the data ended,
    /// fixed so that every query of the run covers the same entries.
    pub fn day_before(&self) -> String {
        rfc3339(self.end - DAY_NS)
    }

    /// How many entries fall at or after `since` (unix nanoseconds).
    pub fn entries_since(&self, since: i64) -> u64 {
        (0..self.entries)
            .rev()
            .take_while(|seq| self.time_of(*seq) >= since)
            .count() as u64
    }

    /// Entries of level `ERROR` or above.
    pub fn errors(&self) -> u64 {
        (0..self.entries).filter(|s| level(*s) == "ERROR").count() as u64
    }

    /// Entries carrying [`RARE_TOKEN`].
    pub fn rare(&self) -> u64 {
        (0..self.entries).filter(|s| is_rare(*s)).count() as u64
    }

    /// The expected histogram for `since` (unix nanoseconds) and buckets of `width`
    /// nanoseconds aligned as the collector aligns them (on multiples of the width): entries
    /// per bucket, all of them or only `ERROR`s.
    pub fn per_bucket(&self, since: i64, width: i64, errors_only: bool) -> Vec<u64> {
        let origin = since.div_euclid(width) * width;
        let mut buckets = vec![0u64; ((self.end - origin) / width + 1) as usize];
        for seq in 0..self.entries {
            let time = self.time_of(seq);
            if time >= since && (!errors_only || level(seq) == "ERROR") {
                buckets[((time - origin) / width) as usize] += 1;
            }
        }
        buckets
    }

    /// Appends entries `[first, end)` as NDJSON to `out`.
    pub fn push_ndjson(&self, service: &str, first: u64, end: u64, out: &mut String) {
        for seq in first..end.min(self.entries) {
            push_line(out, service, seq, self.time_of(seq));
        }
    }
}

fn level(seq: u64) -> &'static str {
    if is_rare(seq) || seq.is_multiple_of(ERROR_EVERY) {
        "ERROR"
    } else if seq.is_multiple_of(WARN_EVERY) {
        "WARN"
    } else {
        "INFO"
    }
}

/// Appends line `seq` of `service` at `time`, `\n` included, padded to [`LINE_BYTES`].
fn push_line(out: &mut String, service: &str, seq: u64, time: i64) {
    let start = out.len();
    let message = if is_rare(seq) {
        RARE_TOKEN
    } else {
        match level(seq) {
            "ERROR" => "payment provider timed out",
            "WARN" => "stock running low",
            _ => "order placed",
        }
    };
    write!(
        out,
        "{{\"timestamp\":\"{}\",\"level\":\"{}\",\"service\":\"{service}\",\
         \"target\":\"shop::orders\",\"seq\":{seq},\"fields\":{{\"order_id\":\"o-{seq:08}\",\
         \"items\":3}},\"message\":\"{message}: ",
        rfc3339(time),
        level(seq)
    )
    .expect("writing to a String cannot fail");
    let closing = "\"}\n";
    let pad = LINE_BYTES.saturating_sub(out.len() - start + closing.len());
    out.push_str(&FILLER[..pad.min(FILLER.len())]);
    out.push_str(closing);
}

/// Unix nanoseconds as RFC 3339 UTC with microseconds.
pub fn rfc3339(ns: i64) -> String {
    let (secs, nanos) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60,
        nanos / 1_000
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_of_the_same_size_spread_over_a_day() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        // 2025-11-25T01:02:03.004005Z
        let t = 1_764_032_523_004_005_000;
        assert_eq!(rfc3339(t), "2025-11-25T01:02:03.004005Z");
        let spread = Spread {
            entries: 1_000,
            end: t,
        };
        assert_eq!(spread.time_of(999), t);
        assert_eq!(t - spread.time_of(0), DAY_NS - DAY_NS / 1_000);
        assert_eq!(spread.entries_since(t - DAY_NS), 1_000);
        assert_eq!(spread.rare(), 1);
        let buckets = spread.per_bucket(t - DAY_NS, 900_000_000_000, false);
        assert_eq!((buckets.len(), buckets.iter().sum::<u64>()), (97, 1_000));
        let mut out = String::new();
        spread.push_ndjson("svc", 0, 1_000, &mut out);
        assert_eq!(out.len(), 1_000 * LINE_BYTES);
        let errors = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("valid JSON"))
            .filter(|v| v["level"] == "ERROR")
            .count();
        assert_eq!(errors as u64, spread.errors());
    }
}
