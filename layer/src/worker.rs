//! The worker thread: takes sealed batches from the queue, sends them, retries, splits,
//! drops and counts, and reports drops once delivery works again.
//!
//! It is a dedicated std thread owning a current-thread tokio runtime, so the layer works
//! the same in a plain `fn main()`, under any tokio runtime flavor, and from any thread,
//! and never calls `block_on` inside the application's runtime.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::diag::Diag;
use crate::error::Error;
use crate::format::Format;
use crate::handle::Shared;
use crate::no_feedback::quiet_thread;
use crate::queue::Payload;
use crate::record::{write_drop_report, DropCounts};
use crate::stats::Counters;
use crate::transport::{Body, Outcome, Transport};

/// Drops are reported to the collector at most this often (and once more at shutdown).
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The worker's share of the builder's settings, validated.
pub(crate) struct WorkerConfig {
    /// The collector's `…/logs` URL.
    pub(crate) url: reqwest::Url,
    /// Gzip request bodies.
    pub(crate) compression: bool,
    /// Sent as `Authorization: Bearer <token>`.
    pub(crate) auth_token: Option<String>,
    /// One request's limit (shortened to what is left of the deadline at shutdown).
    pub(crate) request_timeout: Duration,
    /// First and longest retry delay.
    pub(crate) backoff: (Duration, Duration),
}

/// Starts the worker; returns once its runtime and HTTP client are ready.
pub(crate) fn spawn(
    config: WorkerConfig,
    shared: Arc<Shared>,
    format: Arc<Format>,
) -> Result<JoinHandle<()>, Error> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("tracing-estuary".into())
        .spawn(move || {
            quiet_thread();
            // Whatever happens below (even a panic), the queue learns the worker is gone,
            // so blocked or flushing threads stop waiting.
            let _exit = ExitGuard(Arc::clone(&shared));
            match Worker::new(config, shared, format) {
                Ok(mut worker) => {
                    let _ = ready_tx.send(Ok(()));
                    worker.run();
                    worker.runtime.shutdown_timeout(Duration::from_millis(100));
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| Error::Worker(e.to_string()))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(thread),
        Ok(Err(e)) => Err(Error::Worker(e)),
        Err(_) => Err(Error::Worker(
            "the worker thread exited during start-up".into(),
        )),
    }
}

/// Tells the queue the worker has exited, counting whatever it leaves behind.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let left = self.0.queue.worker_exited();
        Counters::add(&self.0.counters.dropped_shutdown, left);
    }
}

/// The worker thread's state: everything here is touched by that thread only, except
/// `shared`, which the application's threads fill.
struct Worker {
    /// The request timeout (the rest was used to build `transport` and `backoff`).
    config: WorkerConfig,
    /// The queue it drains and the counters it keeps.
    shared: Arc<Shared>,
    /// Service, host and static fields, for the drop report it writes itself.
    format: Arc<Format>,
    /// Its own current-thread runtime: the application may have none, or one `block_on`
    /// must not be called in.
    runtime: tokio::runtime::Runtime,
    /// The HTTP client and the fixed headers.
    transport: Transport,
    /// Delay before the next retry of the payload being sent.
    backoff: Backoff,
    /// The layer's own problems, to stderr, rate-limited.
    diag: Diag,
    /// When drops were last reported to the collector.
    last_report: Option<Instant>,
    /// Whether the last request got an answer that lets delivery go on (reports of
    /// drops wait for that).
    healthy: bool,
}

/// What `deliver` does after an answer: one value per step, as `tracing-appender`'s worker
/// does it, rather than returns scattered through one long match.
enum Step {
    /// The payload is finished (delivered, dropped or split): on to the next.
    Done,
    /// Send the same body again, after the backoff pause.
    Retry,
    /// The payload lost a line: encode what is left and send that.
    Resend,
}

impl Worker {
    /// Builds the runtime and the HTTP client on the worker's own thread.
    fn new(config: WorkerConfig, shared: Arc<Shared>, format: Arc<Format>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // DNS lookups run on the runtime's blocking threads: quiet those too.
            .on_thread_start(quiet_thread)
            .build()
            .map_err(|e| e.to_string())?;
        let transport = Transport::new(
            config.url.clone(),
            config.auth_token.as_deref(),
            config.compression,
        )?;
        Ok(Worker {
            backoff: Backoff::new(config.backoff.0, config.backoff.1),
            config,
            shared,
            format,
            runtime,
            transport,
            diag: Diag::default(),
            last_report: None,
            healthy: true,
        })
    }

    fn run(&mut self) {
        let mut seen_full = 0;
        while let Some(mut payload) = self.shared.queue.next_payload() {
            self.deliver(&mut payload);
            self.shared.queue.finish(payload);
            self.spill_trouble();
            let full = self.shared.counters.dropped_queue_full.load(Relaxed);
            if full > seen_full {
                seen_full = full;
                let msg = format!("queue full: {full} events dropped so far (see Overflow)");
                self.diag.warn("queue_full", msg);
            }
            self.report_drops(false);
        }
        self.spill_trouble();
        self.report_drops(true);
    }

    /// Counts entries the spill file lost (as dropped for a full queue: they overflowed
    /// memory and the file failed them) and reports what went wrong with it.
    fn spill_trouble(&mut self) {
        let (lost, problem) = self.shared.queue.take_spill_trouble();
        Counters::add(&self.shared.counters.dropped_queue_full, lost);
        if let Some(problem) = problem {
            let msg = format!("{problem}; spilling is off, a full queue now drops");
            self.diag.warn("spill", msg);
        }
    }

    /// Sends a payload until it is accepted, dropped, or shutdown's deadline passes.
    fn deliver(&mut self, payload: &mut Payload) {
        // With full batches waiting behind this one the worker is falling behind the app's
        // threads: gzip costs it (and the collector) several times what sending the lines
        // as they are does, so such batches go uncompressed until the backlog is gone.
        let compress = !self.shared.queue.backlogged();
        let mut gzipped = self.gzip_if(compress, payload);
        while payload.entries > 0 {
            let Some(timeout) = self.request_timeout() else {
                let n = payload.entries;
                Counters::add(&self.shared.counters.dropped_shutdown, n as u64);
                let msg = format!("shutdown deadline passed: {n} entries not sent");
                return self.diag.warn("shutdown", msg);
            };
            Counters::add(&self.shared.counters.requests, 1);
            let outcome = match &gzipped {
                Some(body) => self
                    .runtime
                    .block_on(self.transport.send(body.clone(), timeout)),
                None => {
                    let body = Body::lend(&mut payload.buf);
                    let sent = self
                        .runtime
                        .block_on(self.transport.send(body.clone(), timeout));
                    body.reclaim(&mut payload.buf);
                    sent
                }
            };
            self.healthy = !matches!(outcome, Outcome::Retry { .. });
            match self.settle(payload, outcome) {
                Step::Done => return,
                Step::Retry => {}
                Step::Resend => gzipped = self.gzip_if(compress, payload),
            }
        }
    }

    /// The payload gzipped when `compress` and compression is on; `None`: send it as it is.
    fn gzip_if(&mut self, compress: bool, payload: &Payload) -> Option<Body> {
        compress
            .then(|| self.transport.gzip(&payload.buf))
            .flatten()
    }

    /// Counts and acts on the collector's answer to `payload`.
    fn settle(&mut self, payload: &mut Payload, outcome: Outcome) -> Step {
        let counters = &self.shared.counters;
        match outcome {
            Outcome::Accepted => {
                Counters::add(&counters.sent, payload.entries as u64);
                self.backoff.reset();
                Step::Done
            }
            Outcome::Retry { after, why } => {
                Counters::add(&counters.retries, 1);
                let delay = self.backoff.next_delay().max(after.unwrap_or_default());
                let queued = self.shared.queue.depth().entries;
                let msg = format!(
                    "POST {} failed ({why}); retrying in {delay:.1?} ({queued} entries queued)",
                    self.transport.url()
                );
                self.diag.warn("retry", msg);
                self.shared.queue.pause(Instant::now() + delay);
                Step::Retry
            }
            Outcome::TooLarge => {
                self.split(payload);
                Step::Done
            }
            Outcome::BadEntry { index, why } if index < payload.entries => {
                payload.remove_line(index);
                Counters::add(&counters.dropped_rejected, 1);
                let msg = format!("collector rejected an entry ({why}); dropped it");
                self.diag.warn("rejected", msg);
                Step::Resend
            }
            Outcome::BadEntry { why, .. } | Outcome::Rejected { why, .. } => {
                let n = payload.entries;
                Counters::add(&counters.dropped_rejected, n as u64);
                let msg = format!("collector rejected {n} entries ({why}); dropped them");
                self.diag.warn("rejected", msg);
                Step::Done
            }
        }
    }

    /// `413`: send each half on its own; a single entry that is still too large is dropped.
    fn split(&mut self, payload: &mut Payload) {
        if payload.entries <= 1 {
            Counters::add(
                &self.shared.counters.dropped_oversize,
                payload.entries as u64,
            );
            let msg = "collector answered 413 to a single entry; dropped it (see max_entry_bytes)";
            return self.diag.warn("oversize", msg);
        }
        let (mut first, mut second) = payload.halves();
        self.deliver(&mut first);
        self.deliver(&mut second);
    }

    /// The time limit for the next request, or `None` once shutdown's deadline passed.
    fn request_timeout(&self) -> Option<Duration> {
        match self.shared.queue.shutdown_deadline() {
            None => Some(self.config.request_timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| left.min(self.config.request_timeout))
            }
        }
    }

    /// Once delivery works, tells the collector how many events were dropped since the
    /// last report (one attempt; a failed report is retried after the next success).
    fn report_drops(&mut self, last_chance: bool) {
        let c = &self.shared.counters;
        let dropped = c.dropped();
        let reported = c.drops_reported.load(Relaxed);
        let due = last_chance
            || self
                .last_report
                .is_none_or(|t| t.elapsed() >= REPORT_INTERVAL);
        if dropped <= reported || !self.healthy || !due {
            return;
        }
        let Some(timeout) = self.request_timeout() else {
            return;
        };
        self.last_report = Some(Instant::now());
        let totals = DropCounts {
            queue_full: c.dropped_queue_full.load(Relaxed),
            oversize: c.dropped_oversize.load(Relaxed),
            rejected: c.dropped_rejected.load(Relaxed),
            shutdown: c.dropped_shutdown.load(Relaxed),
        };
        let mut line = Vec::new();
        write_drop_report(&mut line, &self.format, dropped - reported, &totals);
        Counters::add(&c.requests, 1);
        let body = self.transport.encode(&line);
        if self.runtime.block_on(self.transport.send(body, timeout)) == Outcome::Accepted {
            c.drops_reported.fetch_max(dropped, Relaxed);
        }
    }
}
