//! Elasticsearch and OpenSearch: `POST {url}/_bulk` with NDJSON `create` actions, one
//! index per service and day by default; only the failed items that are retryable are
//! sent again.

mod config;
mod sink;

pub use config::{ElasticsearchConfig, IndexTemplate, DEFAULT_INDEX};
pub use sink::ElasticsearchSink;
