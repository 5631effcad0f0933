//! RFC 3339 timestamps written digit by digit: formatting through a date library costs more
//! than the rest of a small event, and UTC with nanoseconds needs no time-zone data.

use std::time::{SystemTime, UNIX_EPOCH};

/// `"YYYY-MM-DDTHH:MM:SS` of the second last written on this thread: events come many per
/// second, so the calendar arithmetic runs once a second and an event renders only its nanos.
#[derive(Clone, Copy)]
struct SecondPrefix {
    /// Seconds since the epoch that `text` shows (`u64::MAX`: nothing cached yet).
    secs: u64,
    /// The quote and the 19 characters up to the seconds.
    text: [u8; 20],
}

thread_local! {
    static PREFIX: std::cell::Cell<SecondPrefix> = const {
        std::cell::Cell::new(SecondPrefix { secs: u64::MAX, text: [0; 20] })
    };
}

/// Appends `t` as `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"` (quoted, UTC, always 9 fraction digits).
///
/// Times before 1970 (a clock set far back) are written as the epoch rather than failing.
pub(crate) fn write_rfc3339(buf: &mut Vec<u8>, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let text = PREFIX
        .try_with(|cell| {
            let cached = cell.get();
            if cached.secs == secs {
                return cached.text;
            }
            let text = second_prefix(secs);
            cell.set(SecondPrefix { secs, text });
            text
        })
        // During thread teardown the cache is gone: compute it.
        .unwrap_or_else(|_| second_prefix(secs));
    let mut out = [0u8; 32];
    out[..20].copy_from_slice(&text);
    out[20] = b'.';
    put(&mut out[21..30], u64::from(since.subsec_nanos()));
    out[30] = b'Z';
    out[31] = b'"';
    buf.extend_from_slice(&out);
}

/// `"YYYY-MM-DDTHH:MM:SS` for `secs` since the epoch.
fn second_prefix(secs: u64) -> [u8; 20] {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let mut out = [0u8; 20];
    out[0] = b'"';
    put(&mut out[1..5], year as u64);
    out[5] = b'-';
    put(&mut out[6..8], u64::from(month));
    out[8] = b'-';
    put(&mut out[9..11], u64::from(day));
    out[11] = b'T';
    put(&mut out[12..14], sod / 3600);
    out[14] = b':';
    put(&mut out[15..17], sod / 60 % 60);
    out[17] = b':';
    put(&mut out[18..20], sod % 60);
    out
}

/// Writes `n` zero-padded into all of `dst` (the most significant digits are cut if `n`
/// does not fit, which only a year past 9999 could cause).
#[inline]
fn put(dst: &mut [u8], mut n: u64) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fmt(secs: u64, nanos: u32) -> String {
        let mut buf = Vec::new();
        write_rfc3339(&mut buf, UNIX_EPOCH + Duration::new(secs, nanos));
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(fmt(0, 0), r#""1970-01-01T00:00:00.000000000Z""#);
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.
        assert_eq!(fmt(951_827_696, 7), r#""2000-02-29T12:34:56.000000007Z""#);
        // 2026-11-24T23:59:59.999999999Z
        assert_eq!(
            fmt(1_795_564_799, 999_999_999),
            r#""2026-11-24T23:59:59.999999999Z""#
        );
        // 2100-03-01 (2100 is not a leap year).
        assert_eq!(fmt(4_107_542_400, 0), r#""2100-03-01T00:00:00.000000000Z""#);
    }

    #[test]
    fn the_cached_second_follows_the_clock() {
        // Same second twice (cache hit), the next second, then back (cache replaced each time).
        assert_eq!(fmt(59, 1), r#""1970-01-01T00:00:59.000000001Z""#);
        assert_eq!(fmt(59, 2), r#""1970-01-01T00:00:59.000000002Z""#);
        assert_eq!(fmt(60, 0), r#""1970-01-01T00:01:00.000000000Z""#);
        assert_eq!(fmt(59, 3), r#""1970-01-01T00:00:59.000000003Z""#);
    }
}
