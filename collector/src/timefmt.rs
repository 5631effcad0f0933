//! Time values as the collector uses them: entry timestamps (RFC 3339), unix nanoseconds,
//! the compact UTC form in segment names, and relative spans like `15m` in queries.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// Unix time in nanoseconds.
pub type Nanos = i128;

/// The compact, sortable UTC form used in segment names: `20261125T160143.123456789Z`.
const COMPACT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:9]Z");

/// Now, in unix nanoseconds.
pub fn now() -> Nanos {
    OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// Parses an RFC 3339 timestamp into unix nanoseconds.
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::parse_rfc3339;
///
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
/// assert_eq!(parse_rfc3339("yesterday"), None);
/// ```
pub fn parse_rfc3339(text: &str) -> Option<Nanos> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// The form the collector stamps entries with: RFC 3339 UTC with always 9 fraction
/// digits, so stamps have one width and sort as text within a service.
const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// Formats unix nanoseconds as the collector's stamp: RFC 3339 UTC, 9 fraction digits.
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::format_stamp;
///
/// assert_eq!(format_stamp(1_500_000_000), "1970-01-01T00:00:01.500000000Z");
/// assert_eq!(format_stamp(0), "1970-01-01T00:00:00.000000000Z");
/// ```
pub fn format_stamp(nanos: Nanos) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(STAMP).ok())
        .unwrap_or_else(|| String::from("1970-01-01T00:00:00.000000000Z"))
}

/// Parses an entry's timestamp text: RFC 3339 (any offset, compared as an instant), or
/// unix epoch time written as digits ([`parse_epoch`]).
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::parse_instant;
///
/// assert_eq!(parse_instant("1970-01-01T01:00:00+01:00"), Some(0));
/// assert_eq!(parse_instant("1700000000"), Some(1_700_000_000_000_000_000));
/// assert_eq!(parse_instant("yesterday"), None);
/// ```
pub fn parse_instant(text: &str) -> Option<Nanos> {
    parse_rfc3339(text).or_else(|| parse_epoch(text))
}

/// Parses unix epoch time (a JSON number's text or a digit string), its unit told by its
/// size: below 10^11 seconds (until the year 5138), below 10^14 milliseconds, below 10^17
/// microseconds, else nanoseconds. Fractions are kept; negative numbers are not times.
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::parse_epoch;
///
/// let second = 1_700_000_000_000_000_000;
/// assert_eq!(parse_epoch("1700000000"), Some(second));
/// assert_eq!(parse_epoch("1700000000.5"), Some(second + 500_000_000));
/// assert_eq!(parse_epoch("1700000000000"), Some(second)); // milliseconds
/// assert_eq!(parse_epoch("1700000000000000"), Some(second)); // microseconds
/// assert_eq!(parse_epoch("1700000000000000000"), Some(second)); // nanoseconds
/// assert_eq!(parse_epoch("-5"), None);
/// ```
pub fn parse_epoch(text: &str) -> Option<Nanos> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 30 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let per_unit: i128 = match whole {
        w if w < 100_000_000_000 => 1_000_000_000,
        w if w < 100_000_000_000_000 => 1_000_000,
        w if w < 100_000_000_000_000_000 => 1_000,
        _ => 1,
    };
    let mut nanos = whole.checked_mul(per_unit)?;
    let mut scale = per_unit;
    for digit in fraction.bytes().take(9) {
        scale /= 10;
        nanos += i128::from(digit - b'0') * scale;
    }
    Some(nanos)
}

/// Formats unix nanoseconds in the compact segment-name form.
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::{format_compact, parse_compact};
///
/// let text = format_compact(1_500_000_000);
/// assert_eq!(text, "19700101T000001.500000000Z");
/// assert_eq!(parse_compact(&text), Some(1_500_000_000));
/// ```
pub fn format_compact(nanos: Nanos) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(COMPACT).ok())
        .unwrap_or_else(|| String::from("00000000T000000.000000000Z"))
}

/// Parses the compact segment-name form.
pub fn parse_compact(text: &str) -> Option<Nanos> {
    PrimitiveDateTime::parse(text, COMPACT)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp_nanos())
}

/// Parses a query time: RFC 3339, or a span back from now such as `30s`, `15m`, `2h`, `7d`.
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::{now, parse_query_time};
///
/// let an_hour_ago = parse_query_time("1h").unwrap();
/// assert!((now() - an_hour_ago - 3_600_000_000_000).abs() < 5_000_000_000);
/// assert!(parse_query_time("soon").is_none());
/// ```
pub fn parse_query_time(text: &str) -> Option<Nanos> {
    parse_rfc3339(text).or_else(|| parse_span(text).map(|span| now() - span.whole_nanoseconds()))
}

/// Parses a span such as `30s`, `15m`, `2h`, `7d` (a whole number and a unit).
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::parse_span;
///
/// assert_eq!(parse_span("2h"), Some(time::Duration::hours(2)));
/// assert_eq!(parse_span("99999999999999999d"), None); // overflows
/// assert_eq!(parse_span("5\u{80}"), None);
/// ```
pub fn parse_span(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number = &text[..text.len() - unit.len_utf8()];
    let n: i64 = number.parse().ok().filter(|n| *n >= 0)?;
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(seconds_per_unit).map(Duration::seconds)
}

/// Formats unix nanoseconds as RFC 3339 UTC with nine fraction digits.
///
/// # Examples
///
/// ```
/// use estuary_collector::timefmt::format_rfc3339;
///
/// assert_eq!(format_rfc3339(1_500_000_000), "1970-01-01T00:00:01.500000000Z");
/// ```
pub fn format_rfc3339(nanos: Nanos) -> String {
    const RFC3339_NANOS: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(RFC3339_NANOS).ok())
        .unwrap_or_default()
}
