//! What is fixed per layer in every record, serialized once at build time.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::Targets;

use crate::error::Error;
use crate::json::write_str;

/// Keys the record writes itself; a static field may not reuse them.
pub(crate) const RESERVED_KEYS: [&str; 15] = [
    "timestamp",
    "level",
    "service",
    "target",
    "message",
    "fields",
    "span",
    "spans",
    "file",
    "line",
    "module_path",
    "thread_name",
    "thread_id",
    "host",
    "pid",
];

/// The per-layer parts of a record and the layer's own settings.
pub(crate) struct Format {
    /// `,"service":"<name>"`, written after the level.
    pub(crate) service: Vec<u8>,
    /// `,"host":"…","pid":…` plus the static fields, written last.
    pub(crate) suffix: Vec<u8>,
    /// Whether to emit a record when a span closes.
    pub(crate) span_close: bool,
    /// The layer's own filter, applied to events and span-close records.
    filter: Option<Targets>,
    /// Entries larger than this are dropped before queueing.
    pub(crate) max_entry_bytes: usize,
}

impl Format {
    pub(crate) fn new(
        service: &str,
        static_fields: &[(String, serde_json::Value)],
        span_close: bool,
        filter: Option<Targets>,
        max_entry_bytes: usize,
    ) -> Result<Self, Error> {
        let mut prefix = b",\"service\":".to_vec();
        write_str(&mut prefix, service);
        let mut suffix = b",\"host\":".to_vec();
        write_str(&mut suffix, &gethostname::gethostname().to_string_lossy());
        suffix.extend_from_slice(b",\"pid\":");
        crate::json::write_int(&mut suffix, std::process::id());
        for (key, value) in static_fields {
            if key.is_empty() || RESERVED_KEYS.contains(&key.as_str()) {
                return Err(Error::InvalidStaticField(key.clone()));
            }
            suffix.push(b',');
            write_str(&mut suffix, key);
            suffix.push(b':');
            // A `Value` always serializes.
            let _ = serde_json::to_writer(&mut suffix, value);
        }
        Ok(Format {
            service: prefix,
            suffix,
            span_close,
            filter,
            max_entry_bytes,
        })
    }

    /// Whether the layer's filter lets `meta` through.
    #[inline]
    pub(crate) fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.would_enable(meta.target(), meta.level()))
    }
}

/// `"INFO"` etc. as JSON strings, without formatting.
pub(crate) fn level_json(level: &Level) -> &'static [u8] {
    match *level {
        Level::TRACE => b"\"TRACE\"",
        Level::DEBUG => b"\"DEBUG\"",
        Level::INFO => b"\"INFO\"",
        Level::WARN => b"\"WARN\"",
        Level::ERROR => b"\"ERROR\"",
    }
}
