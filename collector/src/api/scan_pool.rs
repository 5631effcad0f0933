//! Queries' own threads. Page scans, histograms and facets run here, never on the blocking
//! pool that storage commits use: on at most `size` threads at once, each at a lowered CPU
//! priority ([`SCAN_NICENESS`]), so that under query load ingestion keeps its CPU and its
//! latency. Linux gives a thread at niceness 0 about ten times the share of one at 10 when
//! both want the CPU; when ingestion is idle, queries have the machine to themselves.
//!
//! A query waits its turn for a thread without holding one; its time budget runs while it
//! waits, and a client that hangs up leaves the queue.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tokio::sync::{oneshot, Semaphore};

use super::ApiError;

/// Niceness of the query threads (ingestion runs at 0; higher is lower priority).
pub const SCAN_NICENESS: i32 = 10;

/// The query threads and their turns.
pub struct ScanPool {
    threads: rayon_core::ThreadPool,
    /// One permit per thread: a query holds one while it runs.
    turns: Arc<Semaphore>,
    size: usize,
}

impl std::fmt::Debug for ScanPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanPool")
            .field("size", &self.size)
            .field("running", &self.running())
            .finish()
    }
}

impl ScanPool {
    /// `size` query threads (0 counts as 1), started now.
    ///
    /// # Errors
    ///
    /// When the operating system refuses a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::api::scan_pool::ScanPool;
    ///
    /// let pool = ScanPool::new(2).unwrap();
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let answer = runtime.block_on(pool.run("adding", || Ok(40 + 2)));
    /// assert_eq!(answer.unwrap(), 42);
    /// assert_eq!(pool.running(), 0);
    /// ```
    pub fn new(size: usize) -> io::Result<Self> {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        let threads = rayon_core::ThreadPoolBuilder::new()
            .num_threads(size)
            .thread_name(|i| format!("estuary-query-{i}"))
            .start_handler(|_| {
                // On Linux a thread's niceness is its own.
                if let Err(err) = rustix::process::setpriority_process(None, SCAN_NICENESS) {
                    tracing::debug!(%err, "cannot lower a query thread's priority");
                }
            })
            .build()
            .map_err(io::Error::other)?;
        Ok(ScanPool {
            threads,
            turns: Arc::new(Semaphore::new(size)),
            size,
        })
    }

    /// Runs `work` on a query thread once one is free and turns its failure into a 503,
    /// logging the cause with `what` (never sent to the client). Dropping the future before
    /// `work` starts gives up its turn; once started, `work` stops by its own budget.
    ///
    /// # Errors
    ///
    /// [`ApiError::StorageUnavailable`] when `work` fails or panics.
    pub async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let turn = self
            .turns
            .clone()
            .acquire_owned()
            .await
            .expect("the query turns are never closed");
        let (answer, answered) = oneshot::channel();
        self.threads.spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(work));
            // The turn is given back before the answer is read: `running` never counts a
            // finished query.
            drop(turn);
            let _ = answer.send(outcome);
        });
        let outcome = answered.await.map_err(|_| {
            tracing::error!("{what} was dropped by the query pool");
            ApiError::StorageUnavailable
        })?;
        super::error::storage_outcome(
            what,
            outcome.map_err(|panic| super::error::panic_text(&*panic).to_owned()),
        )
    }

    /// Queries running now.
    pub fn running(&self) -> usize {
        self.size.saturating_sub(self.turns.available_permits())
    }

    /// How many queries may run at once.
    pub fn size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_threads_run_at_a_lower_priority() {
        let pool = ScanPool::new(1).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let niceness = runtime
            .block_on(pool.run("reading the niceness", || {
                rustix::process::getpriority_process(None).map_err(io::Error::from)
            }))
            .unwrap();
        assert_eq!(niceness, SCAN_NICENESS);
        // The caller's own thread is untouched.
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), 0);
    }

    #[test]
    fn a_panicking_query_answers_503_and_frees_its_turn() {
        let pool = ScanPool::new(1).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let failed = runtime.block_on(pool.run("panicking", || -> io::Result<()> {
            panic!("boom");
        }));
        assert!(matches!(failed, Err(ApiError::StorageUnavailable)));
        assert_eq!(pool.running(), 0);
        let after = runtime.block_on(pool.run("after", || Ok(1)));
        assert_eq!(after.unwrap(), 1);
    }

    #[test]
    fn at_most_size_queries_run_at_once() {
        let pool = Arc::new(ScanPool::new(2).unwrap());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let queries: Vec<_> = (0..5)
            .map(|_| {
                let (pool, released) = (pool.clone(), released.clone());
                let (running, most) = (running.clone(), most.clone());
                runtime.spawn(async move {
                    pool.run("waiting", move || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        let _ = released.lock().unwrap().recv();
                        running.fetch_sub(1, SeqCst);
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        let both_running =
            || pool.running() == 2 && running.load(std::sync::atomic::Ordering::SeqCst) == 2;
        let waited = std::time::Instant::now();
        while !both_running() {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(10),
                "two queries never ran together"
            );
            std::thread::yield_now();
        }
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        for query in queries {
            runtime.block_on(query).unwrap().unwrap();
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(pool.running(), 0);
    }
}
