//! The queue's bounds and what a full queue does with a new entry.

use std::time::Duration;

/// What happens to a new event when the queue is at its bound.
///
/// # Examples
///
/// ```no_run
/// use tracing_estuary::{Builder, Overflow};
/// // Lossless: the logging thread waits for the worker instead of dropping.
/// let (layer, guard) = Builder::new("billing").overflow(Overflow::Block).build()?;
/// # Ok::<(), tracing_estuary::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the new event and count it (the default: logging never waits).
    #[default]
    DropNewest,
    /// Block the logging thread until the worker frees room: nothing is dropped for lack of
    /// room, but a collector outage stalls every thread that logs.
    Block,
    /// Block at most this long, then drop and count.
    BlockFor(Duration),
}

/// The queue's and batches' bounds, as the builder validated them.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// A batch is sealed at this many entries (`batch_max_entries`)…
    pub(crate) batch_entries: usize,
    /// …or this many bytes of NDJSON (`batch_max_bytes`)…
    pub(crate) batch_bytes: usize,
    /// …or when its first entry is this old (`batch_interval`).
    pub(crate) batch_interval: Duration,
    /// Entries held at most, queued or being sent (`queue_max_entries`).
    pub(crate) queue_entries: usize,
    /// Bytes held at most, queued or being sent (`queue_max_bytes`).
    pub(crate) queue_bytes: usize,
    /// Where batches go when the memory bound is reached (`None`: nowhere, the policy
    /// decides at once).
    pub(crate) spill: Option<super::SpillLimits>,
    /// What `push` does at either bound (once the spill file, if any, is full).
    pub(crate) overflow: Overflow,
}
