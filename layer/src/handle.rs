//! [`Handle`]: the application's view of a running layer (counters and flush), and
//! [`Shared`], the state behind it that the layer, the worker and the guard hold too.

use std::sync::Arc;
use std::time::Duration;

use crate::error::FlushError;
use crate::queue::Queue;
use crate::stats::{Counters, Stats};

/// What the layer, the worker, the guard and every [`Handle`] hold behind one `Arc`, so a
/// handle keeps working after the layer and the guard are gone.
pub(crate) struct Shared {
    /// The entries on their way; flush and shutdown wait on it too.
    pub(crate) queue: Queue,
    /// What became of the entries.
    pub(crate) counters: Counters,
    /// How long `flush` waits by default (the builder's `flush_timeout`).
    pub(crate) flush_timeout: Duration,
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
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Handle { shared }
    }

    /// The current counters.
    pub fn stats(&self) -> Stats {
        // What the queue itself counts comes from the queue, the rest from the counters.
        let depth = self.shared.queue.depth();
        Stats {
            accepted: depth.accepted,
            queued: (depth.entries + depth.spilled_entries) as u64,
            queued_bytes: depth.bytes as u64,
            spilled: depth.spilled_total,
            spilled_bytes: depth.spilled_bytes,
            ..self.shared.counters.snapshot()
        }
    }

    /// Sends everything logged so far and waits, up to the configured flush timeout, until
    /// the collector acknowledged it (or it was dropped and counted).
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] when entries were still pending at the timeout (for example
    /// while the collector is down), [`FlushError::WorkerGone`] once shutdown began or the
    /// worker is gone.
    pub fn flush(&self) -> Result<(), FlushError> {
        self.flush_within(self.shared.flush_timeout)
    }

    /// [`flush`](Self::flush) with an explicit timeout.
    ///
    /// # Errors
    ///
    /// As for [`flush`](Self::flush).
    pub fn flush_within(&self, timeout: Duration) -> Result<(), FlushError> {
        self.shared.queue.flush(timeout)
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("stats", &self.stats())
            .finish()
    }
}
