//! Keeps the layer from feeding itself. The worker's HTTP stack (reqwest, hyper, h2, tokio)
//! logs through `tracing` like any library, so without this an entry about sending entries
//! would queue another entry, forever.
//!
//! The worker marks its threads and the layer checks the mark; the mark lives here, in
//! neither of them, so neither module has to import the other for it.

use std::cell::Cell;

use tracing::Dispatch;

thread_local! {
    /// Set on the worker's threads: anything logged there is ignored even if it reaches
    /// the layer (e.g. through a scoped dispatcher the application set on that thread).
    static ON_WORKER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as the worker's: `tracing` calls on it go to a no-op default
/// dispatcher, and [`on_worker_thread`] tells the layer to ignore whatever still arrives.
pub(crate) fn quiet_thread() {
    let guard = tracing::dispatcher::set_default(&Dispatch::none());
    // Keep the no-op default for the thread's whole life.
    std::mem::forget(guard);
    ON_WORKER_THREAD.set(true);
}

/// Whether the current thread was marked by [`quiet_thread`]. Read on every event, so it
/// is a plain `Cell` (const-initialized, no destructor: safe to read during thread exit).
#[inline]
pub(crate) fn on_worker_thread() -> bool {
    ON_WORKER_THREAD.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_marked_thread_is_quiet() {
        let marked = std::thread::spawn(|| {
            let before = on_worker_thread();
            quiet_thread();
            let silenced =
                tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>());
            (before, on_worker_thread(), silenced)
        })
        .join()
        .unwrap();
        assert_eq!(marked, (false, true, true));
        let other = std::thread::spawn(on_worker_thread).join().unwrap();
        assert!(!other, "the mark is per thread");
    }
}
