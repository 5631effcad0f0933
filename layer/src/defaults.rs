//! The builder's defaults, one named constant each (the README's table lists them with the
//! reasons behind them).

use std::time::Duration;

/// Collector address used when neither [`Builder::endpoint`](crate::Builder::endpoint) nor
/// the `ESTUARY_URL` environment variable is set.
pub const ENDPOINT: &str = "http://127.0.0.1:8005";

/// Environment variable read by [`Builder::new`](crate::Builder::new) for the endpoint.
pub const ENDPOINT_ENV: &str = "ESTUARY_URL";

/// A batch is sent once it holds this many entries: large enough to amortize a request
/// (~200 µs of HTTP and gzip set-up), small enough for a quick ack.
pub const BATCH_MAX_ENTRIES: usize = 1_000;

/// …or this many bytes of uncompressed NDJSON: a tenth of the collector's 10 MiB body limit.
pub const BATCH_MAX_BYTES: usize = 1024 * 1024;

/// …or when its oldest entry is this old: logs show up within about a second.
pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Entries held at most (queued plus being sent) before new events are dropped or block.
pub const QUEUE_MAX_ENTRIES: usize = 128_000;

/// Bytes of serialized entries held at most; bounds memory whatever the entry size. Peak RSS
/// is about this plus ~10 MiB. 12 MiB keeps a flat-out burst from two threads near 24 MiB
/// (64 MiB let it reach ~57 MiB) and holds ~25,000 entries of ~500 bytes, which is 25 s of
/// collector outage at 1,000 events/s: raise it to ride out longer ones (see
/// `docs/benchmarks/layer.md` for the trade-off).
pub const QUEUE_MAX_BYTES: usize = 12 * 1024 * 1024;

/// Larger entries are dropped (and counted): the collector rejects them with `413` anyway.
pub const MAX_ENTRY_BYTES: usize = 2 * 1024 * 1024;

/// How long dropping the guard (or `flush`) waits for queued entries to be delivered.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP request's time limit (connect, send, wait for the answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// First retry delay; doubled on each failure (with jitter) up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Longest retry delay, so delivery resumes within seconds of the collector's return.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A `Retry-After` longer than this is shortened to it.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
