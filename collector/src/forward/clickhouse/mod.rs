//! ClickHouse: `INSERT INTO <db>.<table> FORMAT JSONEachRow` over the HTTP interface, one
//! gzip body per batch; the table is created when missing and checked before the first
//! insert (see [`crate::clickhouse::schema`]).

mod config;
mod sink;

pub use config::{DEFAULT_DATABASE, DEFAULT_TABLE};
pub use sink::ClickHouseSink;
