//! ClickHouse settings: the defaults; the settings type itself is
//! [`crate::clickhouse::ClickHouseConfig`], shared with the query backend.

/// The database by default.
pub const DEFAULT_DATABASE: &str = "default";
/// The table by default.
pub const DEFAULT_TABLE: &str = "estuary_logs";
