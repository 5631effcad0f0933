//! One `_bulk` document → one stored line (the mapping table in the README, "Elasticsearch
//! `_bulk`"). The document's members are kept in the order and form sent; only `timestamp`,
//! `service` and `level` are put in the collector's form, first.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::Value;

use super::decode::members;
use crate::api::line::{write_key, write_str, write_timestamp};
use crate::filter::Severity;
use crate::service::ServiceName;

/// Why one document was refused: Elasticsearch's error type and reason.
#[derive(Debug)]
pub(super) struct ItemError {
    pub(super) kind: &'static str,
    pub(super) reason: String,
}

impl ItemError {
    fn mapping(reason: String) -> Self {
        ItemError {
            kind: "mapper_parsing_exception",
            reason,
        }
    }
}

/// Where an original `service` object (ECS) is kept when `service` becomes the name.
const ECS_SERVICE_KEY: &str = "ecs_service";

/// Maps a document into `line` and returns its service.
pub(super) fn map_document(
    line: &mut Vec<u8>,
    source: &str,
    index: Option<&str>,
    arrival_nanos: i128,
) -> Result<ServiceName, ItemError> {
    let members = members(source).map_err(ItemError::mapping)?;
    let get = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let service = service_of(&members, index)?;
    let nanos = match get("timestamp").or_else(|| get("@timestamp")) {
        None => arrival_nanos,
        Some(raw) => parse_time(raw).ok_or_else(|| {
            ItemError::mapping(format!(
                "failed to parse the date {} as RFC 3339 or epoch milliseconds",
                raw.get()
            ))
        })?,
    };
    let level = level_of(&members);
    line.clear();
    line.extend_from_slice(b"{\"timestamp\":");
    write_timestamp(line, nanos);
    line.extend_from_slice(b",\"service\":");
    write_str(line, service.as_str());
    if let Some(level) = &level {
        line.extend_from_slice(b",\"level\":");
        write_str(line, level);
    }
    let has_message = get("message").is_some();
    for (key, value) in &members {
        let key: &str = key;
        let is_string = value.get().starts_with('"');
        match key {
            "service" if !is_string => write_key(line, ECS_SERVICE_KEY),
            "service" | "timestamp" => continue,
            "level" if level.is_some() => continue,
            // Fluent Bit and Docker put the line in `log`; it is the message when none is sent.
            "log" if !has_message && is_string => write_key(line, "message"),
            k => write_key(line, k),
        }
        line.extend_from_slice(value.get().as_bytes());
    }
    line.push(b'}');
    Ok(service)
}

/// `service` (a string), else ECS `service.name`, else the index name.
fn service_of(
    members: &[(Cow<'_, str>, &RawValue)],
    index: Option<&str>,
) -> Result<ServiceName, ItemError> {
    let named = members.iter().find_map(|(k, v)| match k.as_ref() {
        "service" => match serde_json::from_str::<Value>(v.get()).ok()? {
            Value::String(name) => Some(("service", name)),
            Value::Object(map) => match map.get("name") {
                Some(Value::String(name)) => Some(("service.name", name.clone())),
                _ => None,
            },
            _ => None,
        },
        "service.name" => serde_json::from_str::<String>(v.get())
            .ok()
            .map(|name| ("service.name", name)),
        _ => None,
    });
    let (source, name) = match (named, index) {
        (Some((field, name)), _) => (format!("field {field}"), name),
        (None, Some(index)) => ("index name".to_owned(), index.to_owned()),
        (None, None) => return Ok(ServiceName::unknown()),
    };
    ServiceName::parse(&name).map_err(|err| ItemError {
        kind: "illegal_argument_exception",
        reason: format!("{source} {name:?} is not a valid service name: {err}"),
    })
}

/// `level` in the collector's form: a name its filters know (upper-cased) or a pino/bunyan
/// number (10 trace … 60 fatal); ECS `log.level` when there is no `level`. `None` leaves
/// the document's own `level` as it was.
fn level_of(members: &[(Cow<'_, str>, &RawValue)]) -> Option<String> {
    if let Some((_, raw)) = members.iter().find(|(k, _)| k == "level") {
        return match serde_json::from_str::<Value>(raw.get()).ok()? {
            Value::String(name) => Some(canonical(&name).map_or(name, str::to_owned)),
            Value::Number(n) => {
                let index = (n.as_u64()? / 10).checked_sub(1)?;
                LEVELS
                    .get(usize::try_from(index).ok()?)
                    .map(|l| (*l).to_owned())
            }
            _ => None,
        };
    }
    let named = members.iter().find_map(|(k, v)| match k.as_ref() {
        "log.level" => serde_json::from_str::<String>(v.get()).ok(),
        "log" => match serde_json::from_str::<Value>(v.get()).ok()? {
            Value::Object(map) => map.get("level")?.as_str().map(str::to_owned),
            _ => None,
        },
        _ => None,
    })?;
    Some(canonical(&named).map_or(named, str::to_owned))
}

const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// A level name as the collector writes it (`TRACE` … `FATAL`), when it names one.
fn canonical(name: &str) -> Option<&'static str> {
    Severity::parse(name).map(Severity::name)
}

/// An RFC 3339 string, or epoch milliseconds (Elasticsearch's default date formats).
fn parse_time(raw: &RawValue) -> Option<i128> {
    match serde_json::from_str::<Value>(raw.get()).ok()? {
        Value::String(text) => crate::timefmt::parse_rfc3339(&text).or_else(|| {
            text.parse::<i64>()
                .ok()
                .map(|ms| i128::from(ms) * 1_000_000)
        }),
        Value::Number(n) => n.as_i64().map(|ms| i128::from(ms) * 1_000_000),
        _ => None,
    }
}
