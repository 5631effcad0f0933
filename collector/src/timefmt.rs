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
