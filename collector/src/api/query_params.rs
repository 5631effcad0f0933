//! Query parameters of `GET /logs/{service}` and `GET /logs`, parsed into a page request.
//! Every bad value is a 400 naming the parameter.

use crate::filter::{LineFilter, Severity};
use crate::query::{Direction, Order, PageRequest, Position};
use crate::timefmt::parse_query_time;

use super::ApiError;

/// Entries returned when `limit` is not given (the seed's default).
pub const DEFAULT_LIMIT: usize = 100;
/// The most entries one page returns.
pub const MAX_LIMIT: usize = 10_000;

/// A parsed query.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// Filters, limit and direction (the cursor is set per service).
    pub request: PageRequest,
    /// Presentation order.
    pub order: Order,
    /// The raw `cursor` parameter.
    pub cursor: Option<String>,
    /// The `service` parameter of `GET /logs` (comma-separated), when given.
    pub services: Option<String>,
}

fn bad(name: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::Parameter {
        name,
        reason: reason.into(),
    }
}

/// Parses the query string pairs.
///
/// # Errors
///
/// [`ApiError::Parameter`] naming the first invalid parameter.
pub fn parse(pairs: &[(String, String)]) -> Result<QuerySpec, ApiError> {
    let mut filter = LineFilter::default();
    let (mut limit, mut order, mut cursor, mut services) =
        (DEFAULT_LIMIT, Order::default(), None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "limit" => limit = parse_limit(value)?,
            "order" => order = parse_order(value)?,
            "cursor" => cursor = Some(value.clone()),
            "service" => services = Some(value.clone()),
            other => {
                if !add_filter(&mut filter, other, value)? {
                    return Err(ApiError::BadRequest(format!("unknown parameter {other:?}")));
                }
            }
        }
    }
    let request = PageRequest {
        filter,
        limit,
        direction: order.direction(),
        cursor: None,
        budget: crate::query::ScanBudget::default(),
    };
    Ok(QuerySpec {
        request,
        order,
        cursor,
        services,
    })
}

/// Adds one filter parameter to `filter`: `level`, `since`, `until`, `q`, `target`,
/// `field.<path>`, and the exclusions `q!`, `target!`, `field.<path>!` (written
/// `q!=text` in a query string; each repeatable). Returns whether `key` is a filter
/// parameter at all.
///
/// # Errors
///
/// [`ApiError::Parameter`] naming the parameter when its value is invalid.
///
/// # Examples
///
/// ```
/// use estuary_collector::api::query_params::add_filter;
/// use estuary_collector::filter::LineFilter;
///
/// let mut filter = LineFilter::default();
/// assert!(add_filter(&mut filter, "field.user.id!", "42").unwrap());
/// assert!(add_filter(&mut filter, "q!", "healthcheck").unwrap());
/// assert!(!add_filter(&mut filter, "limit", "5").unwrap());
/// assert!(filter.matches(br#"{"message":"login","user":{"id":7}}"#));
/// assert!(!filter.matches(br#"{"message":"login","user":{"id":42}}"#));
/// assert!(!filter.matches(br#"{"message":"healthcheck ok"}"#));
/// ```
pub fn add_filter(filter: &mut LineFilter, key: &str, value: &str) -> Result<bool, ApiError> {
    match key {
        "level" => {
            let level = Severity::parse(value).ok_or_else(|| {
                bad(
                    "level",
                    "must be one of trace, debug, info, warn, error, fatal",
                )
            })?;
            filter.min_level = Some(level);
        }
        "since" => filter.since = Some(parse_time("since", value)?),
        "until" => filter.until = Some(parse_time("until", value)?),
        "q" => filter.text = Some(value.to_owned()).filter(|q| !q.is_empty()),
        "q!" => {
            if !value.is_empty() {
                filter.exclude_text.push(value.to_owned());
            }
        }
        "target" => filter.target = Some(value.to_owned()),
        "target!" => filter.exclude_targets.push(value.to_owned()),
        other => {
            let Some(field) = other.strip_prefix("field.") else {
                return Ok(false);
            };
            let (path, excluded) = match field.strip_suffix('!') {
                Some(path) => (path, true),
                None => (field, false),
            };
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Ok(false);
            }
            let path = path.split('.').map(str::to_owned).collect();
            if excluded {
                filter.exclude_fields.push((path, value.to_owned()));
            } else {
                filter.fields.push((path, value.to_owned()));
            }
        }
    }
    Ok(true)
}

fn parse_limit(value: &str) -> Result<usize, ApiError> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad(
            "limit",
            format!("must be an integer from 1 to {MAX_LIMIT}"),
        )),
    }
}

fn parse_time(name: &'static str, value: &str) -> Result<i128, ApiError> {
    parse_query_time(value).ok_or_else(|| {
        bad(
            name,
            "must be RFC 3339 (2026-11-25T10:00:00Z) or a span back from now (30s, 15m, 2h, 7d)",
        )
    })
}

fn parse_order(value: &str) -> Result<Order, ApiError> {
    match value {
        "asc" => Ok(Order::Asc),
        "desc" => Ok(Order::Desc),
        _ => Err(bad("order", "must be asc or desc")),
    }
}

/// Decodes a cursor position written by [`Position::encode`] for the same direction.
///
/// # Errors
///
/// [`ApiError::Parameter`] for `cursor` when it is malformed or from the other order.
pub fn decode_position(direction: Direction, text: &str) -> Result<Position, ApiError> {
    Position::decode(direction, text).ok_or_else(|| {
        bad(
            "cursor",
            "is not a cursor from a previous page of this query",
        )
    })
}
