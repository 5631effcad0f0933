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

/// Bytes of serialized entries held in memory at most; bounds memory whatever the entry
/// size. Past it whole batches go to the spill file (see [`SPILL_MAX_BYTES`]), so this bound
/// decides how much of a burst is absorbed in memory before the logging threads start writing
/// batches to it, not how much is kept. Peak RSS is about this plus ~10 MiB: 8 MiB keeps two
/// threads logging flat out near 18.5 MiB (12 MiB: ~23 MiB, 64 MiB: ~57 MiB), and holds
/// ~16,000 entries of ~500 bytes, 16 s of collector outage at 1,000 events/s before the first
/// batch is spilled (see `docs/benchmarks/layer.md` for the trade-off).
pub const QUEUE_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The spill file's size at most: when the queue's memory bound is reached, whole batches
/// go to an unlinked file in the temporary directory instead of being dropped. 256 MiB holds
/// ~500,000 entries of ~500 bytes: a burst the worker cannot keep up with on busy cores, or
/// ~8 minutes of collector outage at 1,000 events/s. It costs the app thread that overflows
/// one `write(2)` of a batch into the page cache; the file is truncated once drained.
pub const SPILL_MAX_BYTES: u64 = 256 * 1024 * 1024;

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
