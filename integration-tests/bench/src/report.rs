//! Latency percentiles, number formatting, and the markdown table of results.

use std::fmt::Write as _;
use std::time::Duration;

/// A set of latencies, in nanoseconds.
#[derive(Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    /// Adds one latency.
    pub fn record(&mut self, latency: Duration) {
        self.0
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// How many were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0–100), nearest rank; zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.0.len()) - 1;
        let mut copy = self.0.clone();
        let (_, nth, _) = copy.select_nth_unstable(index);
        Duration::from_nanos(*nth)
    }

    /// `p50 / p99` as text.
    pub fn p50_p99(&self) -> String {
        let (p50, p99) = (self.percentile(50.0), self.percentile(99.0));
        format!("{} / {}", millis(p50), millis(p99))
    }
}

/// `12345678.9` → `"12,345,679"`.
pub fn count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A duration in milliseconds with a precision that suits its size.
pub fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Bytes as MiB or GiB.
pub fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// One line of the results table.
pub struct Row {
    /// What was measured.
    pub metric: String,
    /// Estuary's figure.
    pub estuary: String,
    /// The baseline measured in the same run.
    pub baseline: String,
    /// The target.
    pub target: &'static str,
    /// Whether the target was met; `None` for rows without a target.
    pub met: Option<bool>,
    /// The competitors' figures from `PEERS.md`.
    pub peers: &'static str,
}

/// The rows as a markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| metric | estuary | baseline (same run) | target | met | peers (PEERS.md, same kind of machine) |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let line = format!(
            "| {} | {} | {} | {} | {} | {} |",
            row.metric, row.estuary, row.baseline, row.target, met, row.peers
        );
        writeln!(out, "{line}").expect("writing to a String cannot fail");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_ranks() {
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        let mut latencies = Latencies::default();
        for ms in 1..=100 {
            latencies.record(Duration::from_millis(ms));
        }
        assert_eq!(latencies.percentile(50.0), Duration::from_millis(50));
        assert_eq!(latencies.percentile(99.0), Duration::from_millis(99));
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
