//! [`WorkerGuard`]: keeps the worker alive and delivers what is queued when dropped.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::FlushError;
use crate::handle::{Handle, Shared};
use crate::stats::Stats;

/// Time the guard gives the worker past the flush deadline to record its last drops and
/// exit (its requests are already cut at the deadline).
const EXIT_GRACE: Duration = Duration::from_millis(250);

/// Owns the worker thread. Dropping it (or calling [`shutdown`](Self::shutdown)) sends
/// everything queued and waits for the collector's acknowledgement, at most the configured
/// flush timeout (5 s by default); events logged afterwards are dropped and counted.
///
/// Keep it alive for as long as the program logs — typically a `_guard` binding at the top
/// of `main` — so that returning from `main` delivers everything.
///
/// # Examples
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// fn main() -> Result<(), tracing_estuary::Error> {
///     let (layer, _guard) = tracing_estuary::layer("checkout")?;
///     tracing_subscriber::registry().with(layer).init();
///     for i in 0..10_000 {
///         tracing::info!(i, "working");
///     }
///     Ok(()) // `_guard` is dropped here: all 10,000 events are delivered first
/// }
/// ```
#[must_use = "dropping the guard shuts the worker down: bind it (`let _guard = …`) until the end of main"]
pub struct WorkerGuard {
    shared: Arc<Shared>,
    /// `None` once shut down (or if the worker did not exit in time and was left behind).
    thread: Option<JoinHandle<()>>,
}

impl WorkerGuard {
    pub(crate) fn new(shared: Arc<Shared>, thread: JoinHandle<()>) -> Self {
        WorkerGuard {
            shared,
            thread: Some(thread),
        }
    }

    /// A cloneable handle to the counters and `flush`, usable after the guard is gone.
    pub fn handle(&self) -> Handle {
        Handle::new(Arc::clone(&self.shared))
    }

    /// The current delivery counters.
    pub fn stats(&self) -> Stats {
        self.handle().stats()
    }

    /// Sends everything logged so far and waits until it is acknowledged (or dropped and
    /// counted), at most the flush timeout. The worker keeps running.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] with the number of entries still pending.
    pub fn flush(&self) -> Result<(), FlushError> {
        self.handle().flush()
    }

    /// Stops the worker after delivering what is queued, within the flush timeout, and
    /// returns the final counters. Dropping the guard does the same, ignoring the result.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] with the number of entries that were not delivered (they are
    /// counted in [`Stats::dropped_shutdown`]).
    pub fn shutdown(mut self) -> Result<Stats, FlushError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<Stats, FlushError> {
        let Some(thread) = self.thread.take() else {
            return Ok(self.stats());
        };
        let counters = &self.shared.counters;
        let lost_before = counters.dropped_shutdown.load(Relaxed);
        let deadline = Instant::now() + self.shared.flush_timeout;
        let waited = self.shared.queue.shutdown(deadline, deadline + EXIT_GRACE);
        let pending = match waited {
            Ok(()) => {
                // The worker has signalled its exit; joining only waits for its last drops.
                let _ = thread.join();
                0
            }
            // Leave a stuck worker behind rather than hang the application's exit.
            Err(pending) => pending,
        };
        let lost = counters.dropped_shutdown.load(Relaxed) - lost_before + pending;
        if lost == 0 {
            Ok(self.stats())
        } else {
            Err(FlushError::Timeout { pending: lost })
        }
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl std::fmt::Debug for WorkerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerGuard")
            .field("stats", &self.stats())
            .finish()
    }
}
