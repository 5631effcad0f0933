//! Grafana Loki: `POST {url}/loki/api/v1/push`, a gzip JSON body of streams, one stream per
//! label set, entries of a stream in timestamp order, timestamps as nanosecond strings.

mod config;
mod sink;

pub use config::{LokiConfig, DEFAULT_LABELS, PUSH_PATH};
pub use sink::LokiSink;
