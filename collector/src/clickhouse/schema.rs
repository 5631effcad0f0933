//! The table Estuary writes and reads, and what each server version gets.
//!
//! | column | type | what |
//! |---|---|---|
//! | `ts` | `DateTime` | the entry's `timestamp`, to the second (0 when it names no time) |
//! | `ns` | `UInt32` | the nanoseconds within that second |
//! | `service` | `String` | the service (its file's name) |
//! | `severity` | `UInt8` | the level slot: 0 trace … 5 fatal, 6 none (filters count it as info) |
//! | `level`, `target`, `message`, `trace_id`, `span_id` | `String` | top-level string fields, `''` when absent (`message` falls back to `msg`) |
//! | `attr_keys`, `attr_values` | `Array(String)` | every scalar at a dotted path of objects (`fields.user_id`), for `field.*` filters and facets; a value is `s<text>` for a string and `j<json>` for a number, bool or null |
//! | `line` | `String` | the whole stored line, served as is |
//! | `collector`, `stream_offset` | `String`, `UInt64` | the stream position: which collector stored it, where in the service's stream |
//!
//! Engine: `ReplacingMergeTree`, `PARTITION BY toYYYYMMDD(ts)`, `ORDER BY (service, ts,
//! ns, collector, stream_offset)`. A crash between an insert and its checkpoint sends a
//! batch again; the copies share their sorting key, so merges keep one, and every query
//! reads with `FINAL`, so no answer ever counts a copy.
//!
//! | server | gets |
//! |---|---|
//! | 18.16 (Debian) — tested | the table above |
//! | 20.1 and later — untested here | `LowCardinality(String)` for `service`, `level`, `collector`; `CODEC(ZSTD(1))` for `line` and `message` |
//!
//! Retention stays with ClickHouse: `ALTER TABLE … DROP PARTITION <yyyymmdd>` on any
//! version, or `ALTER TABLE … MODIFY TTL ts + INTERVAL 30 DAY` from 19.6.

use super::sql;

/// The columns and the types the query backend needs; a newer server's `LowCardinality`
/// or codec variant of the same type is accepted.
pub const COLUMNS: [(&str, &str); 15] = [
    ("ts", "DateTime"),
    ("ns", "UInt32"),
    ("service", "String"),
    ("severity", "UInt8"),
    ("level", "String"),
    ("target", "String"),
    ("message", "String"),
    ("trace_id", "String"),
    ("span_id", "String"),
    ("attr_keys", "Array(String)"),
    ("attr_values", "Array(String)"),
    ("line", "String"),
    ("collector", "String"),
    ("stream_offset", "UInt64"),
    ("inserted", "DateTime"),
];

/// What the server offers beyond 18.16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `LowCardinality(String)` without an experimental setting, and column codecs.
    pub compact_columns: bool,
}

impl Features {
    /// The features of a server of `version` (`[major, minor, …]`).
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::clickhouse::schema::Features;
    ///
    /// assert!(!Features::of(&[18, 16, 1]).compact_columns);
    /// assert!(Features::of(&[24, 3]).compact_columns);
    /// ```
    pub fn of(version: &[u32]) -> Self {
        let major = version.first().copied().unwrap_or(0);
        Features {
            compact_columns: major >= 20,
        }
    }
}

/// `18.16.1\n` → `[18, 16, 1]`.
pub fn parse_version(text: &str) -> Vec<u32> {
    text.trim()
        .split('.')
        .map_while(|part| part.parse().ok())
        .collect()
}

/// The `CREATE TABLE IF NOT EXISTS` statement for `table` (already qualified and quoted).
///
/// # Examples
///
/// ```
/// use estuary_collector::clickhouse::schema::{create_table, Features};
///
/// let ddl = create_table("`logs`.`entries`", Features::of(&[18, 16]));
/// assert!(ddl.contains("ENGINE = ReplacingMergeTree"));
/// assert!(!ddl.contains("LowCardinality"));
/// ```
pub fn create_table(table: &str, features: Features) -> String {
    let (small, big) = if features.compact_columns {
        ("LowCardinality(String)", "String CODEC(ZSTD(1))")
    } else {
        ("String", "String")
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         ts DateTime, ns UInt32, service {small}, severity UInt8, level {small}, \
         target String, message {big}, trace_id String, span_id String, \
         attr_keys Array(String), attr_values Array(String), line {big}, \
         collector {small}, stream_offset UInt64, inserted DateTime DEFAULT now()\
         ) ENGINE = ReplacingMergeTree \
         PARTITION BY toYYYYMMDD(ts) \
         ORDER BY (service, ts, ns, collector, stream_offset)"
    )
}

/// The query listing `database.table`'s columns as `name\ttype` lines.
pub fn columns_query(database: &str, table: &str) -> String {
    format!(
        "SELECT name, type FROM system.columns WHERE database = {} AND table = {}",
        sql::string(database),
        sql::string(table)
    )
}

/// Checks the answer of [`columns_query`]: `None` when every column Estuary needs is there
/// with a usable type, else what is wrong. An empty answer means no table.
///
/// # Examples
///
/// ```
/// use estuary_collector::clickhouse::schema::check_columns;
///
/// assert!(check_columns("ts\tString\n").unwrap().contains("ts"));
/// ```
pub fn check_columns(answer: &str) -> Option<String> {
    let found: Vec<(&str, &str)> = answer
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    for (name, wanted) in COLUMNS {
        match found.iter().find(|(n, _)| *n == name) {
            None => return Some(format!("column {name} ({wanted}) is missing")),
            Some((_, actual)) if !same_type(actual, wanted) => {
                return Some(format!("column {name} is {actual}, expected {wanted}"))
            }
            Some(_) => {}
        }
    }
    None
}

fn same_type(actual: &str, wanted: &str) -> bool {
    actual == wanted || actual == format!("LowCardinality({wanted})")
}
