//! Delivery counters: the live atomics the layer and the worker bump, and [`Stats`], the
//! copy of them that users read. Counters only: the queue's fill level is passed in when a
//! copy is taken, so this module depends on nothing else in the crate.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The live counters. Relaxed atomics: they are statistics, not synchronization.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_oversize: AtomicU64,
    pub(crate) dropped_rejected: AtomicU64,
    pub(crate) dropped_shutdown: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) drops_reported: AtomicU64,
}

impl Counters {
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Every drop, whatever the reason.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped_queue_full.load(Relaxed)
            + self.dropped_oversize.load(Relaxed)
            + self.dropped_rejected.load(Relaxed)
            + self.dropped_shutdown.load(Relaxed)
    }

    /// A copy of the counters, with the queue's current fill level (entries and bytes).
    pub(crate) fn snapshot(&self, queued: usize, queued_bytes: usize) -> Stats {
        Stats {
            accepted: self.accepted.load(Relaxed),
            sent: self.sent.load(Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            dropped_oversize: self.dropped_oversize.load(Relaxed),
            dropped_rejected: self.dropped_rejected.load(Relaxed),
            dropped_shutdown: self.dropped_shutdown.load(Relaxed),
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
            drops_reported: self.drops_reported.load(Relaxed),
            queued: queued as u64,
            queued_bytes: queued_bytes as u64,
        }
    }
}

/// A point-in-time copy of the delivery counters.
///
/// Every event the layer saw ends up in exactly one of `sent`, one of the `dropped_*`
/// counters, or `queued` (still on its way).
///
/// # Examples
///
/// ```no_run
/// let (_layer, guard) = tracing_estuary::layer("checkout")?;
/// let stats = guard.handle().stats();
/// println!("sent {} dropped {}", stats.sent, stats.dropped());
/// # Ok::<(), tracing_estuary::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Entries taken into the queue.
    pub accepted: u64,
    /// Entries the collector acknowledged (`201`).
    pub sent: u64,
    /// Entries refused because the queue was at its entry or byte bound.
    pub dropped_queue_full: u64,
    /// Entries larger than the per-entry limit (refused before queueing, or answered `413`
    /// on their own).
    pub dropped_oversize: u64,
    /// Entries the collector rejected with a non-retryable `4xx` (poison batches).
    pub dropped_rejected: u64,
    /// Entries still queued when the flush timeout ran out at shutdown, or logged after it.
    pub dropped_shutdown: u64,
    /// HTTP requests made (including retries and drop reports).
    pub requests: u64,
    /// Requests that failed and were retried (connection errors, `5xx`, `429`).
    pub retries: u64,
    /// Drops already reported to the collector in a `tracing-estuary dropped N events` entry.
    pub drops_reported: u64,
    /// Entries queued or being sent right now.
    pub queued: u64,
    /// Bytes of serialized entries queued or being sent right now.
    pub queued_bytes: u64,
}

impl Stats {
    /// All drops, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_oversize
            + self.dropped_rejected
            + self.dropped_shutdown
    }
}
