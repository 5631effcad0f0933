//! Delivery counters: the live atomics the layer and the worker bump, and [`Stats`], the
//! copy of them that users read. Counters only: what the queue counts itself (entries
//! accepted, entries and bytes held) is filled in by [`Handle`](crate::Handle), so this
//! module depends on nothing else in the crate.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The live counters. Relaxed atomics: they are statistics, not synchronization.
///
/// `accepted` is not here: the queue already counts it under its lock (a flush waits for
/// that number), and a single count cannot drift from a copy or be forgotten.
#[derive(Default)]
pub(crate) struct Counters {
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

    /// A copy of the counters; the fields the queue counts (`accepted`, `queued`,
    /// `queued_bytes`, `spilled`, `spilled_bytes`) are left at 0 for the caller to fill in.
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            sent: self.sent.load(Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            dropped_oversize: self.dropped_oversize.load(Relaxed),
            dropped_rejected: self.dropped_rejected.load(Relaxed),
            dropped_shutdown: self.dropped_shutdown.load(Relaxed),
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
            drops_reported: self.drops_reported.load(Relaxed),
            ..Stats::default()
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
    /// Entries queued or being sent right now, in memory or in the spill file.
    pub queued: u64,
    /// Bytes of serialized entries held in memory right now (queued or being sent): the
    /// figure `queue_max_bytes` bounds.
    pub queued_bytes: u64,
    /// Entries ever moved to the spill file because the memory bound was reached (each is
    /// also counted, later, as sent or dropped).
    pub spilled: u64,
    /// Bytes of serialized entries waiting in the spill file right now.
    pub spilled_bytes: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_copies_each_counter_to_its_own_field() {
        let c = Counters::default();
        // Distinct powers of two: a field read from the wrong counter shows.
        for (i, counter) in [
            &c.sent,
            &c.dropped_queue_full,
            &c.dropped_oversize,
            &c.dropped_rejected,
            &c.dropped_shutdown,
            &c.requests,
            &c.retries,
            &c.drops_reported,
        ]
        .into_iter()
        .enumerate()
        {
            Counters::add(counter, 1 << i);
        }
        let s = c.snapshot();
        let fields = [
            s.sent,
            s.dropped_queue_full,
            s.dropped_oversize,
            s.dropped_rejected,
            s.dropped_shutdown,
            s.requests,
            s.retries,
            s.drops_reported,
        ];
        assert_eq!(fields, [1, 2, 4, 8, 16, 32, 64, 128]);
        assert_eq!((s.accepted, s.queued, s.queued_bytes), (0, 0, 0));
        assert_eq!((s.spilled, s.spilled_bytes), (0, 0));
        assert_eq!(c.dropped(), 2 + 4 + 8 + 16);
    }

    #[test]
    fn dropped_adds_every_reason_and_nothing_else() {
        let stats = Stats {
            accepted: 1000,
            sent: 100,
            dropped_queue_full: 1,
            dropped_oversize: 2,
            dropped_rejected: 4,
            dropped_shutdown: 8,
            requests: 10,
            retries: 20,
            drops_reported: 40,
            queued: 50,
            queued_bytes: 60,
            spilled: 70,
            spilled_bytes: 80,
        };
        assert_eq!(stats.dropped(), 15);
    }
}
