//! Delivery counters, shared by the layer, the worker and every [`Handle`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::error::FlushError;
use crate::queue::Queue;

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
}

/// What the layer and its worker share.
pub(crate) struct Shared {
    pub(crate) queue: Queue,
    pub(crate) counters: Counters,
    /// How long `flush` waits by default.
    pub(crate) flush_timeout: Duration,
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

/// A cheap, cloneable view of a layer's delivery: counters and flushing.
///
/// Get one from [`WorkerGuard::handle`](crate::WorkerGuard::handle) or
/// [`EstuaryLayer::handle`](crate::EstuaryLayer::handle); it stays valid after shutdown.
///
/// # Examples
///
/// ```no_run
/// let (layer, guard) = tracing_estuary::layer("checkout")?;
/// let handle = layer.handle();
/// // … log …
/// handle.flush()?;
/// assert_eq!(handle.stats().dropped(), 0);
/// # drop(guard);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    /// The current counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let (queued, queued_bytes) = self.shared.queue.depth();
        Stats {
            accepted: c.accepted.load(Relaxed),
            sent: c.sent.load(Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Relaxed),
            dropped_oversize: c.dropped_oversize.load(Relaxed),
            dropped_rejected: c.dropped_rejected.load(Relaxed),
            dropped_shutdown: c.dropped_shutdown.load(Relaxed),
            requests: c.requests.load(Relaxed),
            retries: c.retries.load(Relaxed),
            drops_reported: c.drops_reported.load(Relaxed),
            queued: queued as u64,
            queued_bytes: queued_bytes as u64,
        }
    }

    /// Sends everything logged so far and waits, up to the configured flush timeout, until
    /// the collector acknowledged it (or it was dropped and counted).
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] when entries were still pending at the timeout (for example
    /// while the collector is down), [`FlushError::WorkerGone`] after shutdown.
    pub fn flush(&self) -> Result<(), FlushError> {
        self.flush_within(self.shared.flush_timeout)
    }

    /// [`flush`](Self::flush) with an explicit timeout.
    ///
    /// # Errors
    ///
    /// As for [`flush`](Self::flush).
    pub fn flush_within(&self, timeout: Duration) -> Result<(), FlushError> {
        self.shared.queue.flush(timeout).map_err(|pending| {
            if self.shared.queue.shutdown_deadline().is_some() {
                FlushError::WorkerGone { pending }
            } else {
                FlushError::Timeout { pending }
            }
        })
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("stats", &self.stats())
            .finish()
    }
}
