//! One forwarder's loop: read from the checkpoint ▸ batch ▸ send ▸ retry with capped
//! backoff ▸ advance the checkpoint only after the destination accepted the batch.
//!
//! Reading and encoding overlap sending: while one batch is in flight, the next one is read
//! and encoded on a blocking thread, so a forwarder that is catching up keeps both the
//! destination and its own thread busy. Batches are still delivered, and checkpoints moved,
//! one at a time and in order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{ForwarderStatus, SendError, Shipment, Sink};
use crate::service::ServiceName;
use crate::store::{Checkpoint, CheckpointError, Store, StreamReader};

/// Even without commits (another process wrote, a wake-up was missed), look again this often.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// A pass gives a service with more full batches another turn only this long after it
/// started; then it ends, so that the lag is measured again and services that appeared
/// meanwhile get their turn.
const PASS_LENGTH: Duration = Duration::from_secs(1);
/// Mean entry size assumed before any batch was read.
const DEFAULT_MEAN_ENTRY: u64 = 200;

/// How a forwarder batches and retries.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Most entries per request.
    pub max_entries: usize,
    /// Most bytes (of stored lines) per request, roughly: a batch stops after the line
    /// that crosses it.
    pub max_bytes: usize,
    /// How long to let entries gather after a wake-up before sending a partial batch.
    pub wait: Duration,
    /// The first retry delay.
    pub retry_min: Duration,
    /// The longest retry delay (the backoff doubles up to it).
    pub retry_max: Duration,
}

/// A forwarder task's state.
pub struct Task<S: Sink> {
    /// Where batches go (shared with the blocking thread that encodes the next batch).
    sink: Arc<S>,
    /// Shared with `/health`, metrics and retention.
    status: Arc<ForwarderStatus>,
    /// Where the entries are read from.
    store: Store,
    /// Batching and retry settings.
    settings: BatchSettings,
    /// Persisted positions; moved only after a delivery.
    checkpoint: Checkpoint,
    /// One open reader per service, so gzip segments are decompressed once.
    readers: HashMap<ServiceName, StreamReader>,
    /// Notified on every commit.
    wake: Arc<Notify>,
    /// Bytes per entry seen so far, to estimate the lag in entries cheaply.
    mean_entry: u64,
    /// When the lag was last measured: while catching up it is measured at most once per
    /// [`IDLE_POLL`], so measuring never slows forwarding.
    measured: Option<std::time::Instant>,
}

/// A batch being read and encoded on a blocking thread; gives back the service's reader.
type Preparing<B> = tokio::task::JoinHandle<(StreamReader, std::io::Result<Prepared<B>>)>;

/// A batch read and encoded, waiting for its turn to be sent.
struct Prepared<B> {
    /// Where it was read from.
    from: u64,
    /// Its entries.
    shipment: Shipment,
    /// Their encoded body; `None` when nothing was read.
    body: Option<B>,
    /// Whether the read stopped at a batch limit (so more is probably waiting).
    full: bool,
}

/// What shipping a prepared batch came to.
enum Shipped {
    /// Entries were delivered and checkpointed.
    Sent,
    /// Nothing new (at most the checkpoint moved over a gap).
    Nothing,
    /// Told to stop before the destination accepted it.
    Stopped,
}

impl<S: Sink> Task<S> {
    /// A task for `sink`, starting from its checkpoint in `store`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError`] when the checkpoint exists but cannot be read.
    pub fn new(
        sink: S,
        status: Arc<ForwarderStatus>,
        store: Store,
        settings: BatchSettings,
        wake: Arc<Notify>,
    ) -> Result<Self, CheckpointError> {
        let checkpoint = store.checkpoint(&status.name)?;
        if let Ok(services) = store.services() {
            for service in services {
                status.set_position(&service, checkpoint.get(&service).unwrap_or(0));
            }
        }
        Ok(Task {
            sink: Arc::new(sink),
            status,
            store,
            settings,
            checkpoint,
            readers: HashMap::new(),
            wake,
            mean_entry: DEFAULT_MEAN_ENTRY,
            measured: None,
        })
    }

    /// Forwards until `stop` is cancelled; it stops between shipments (after a checkpoint)
    /// or while waiting, never persisting a position it did not deliver.
    pub async fn run(mut self, stop: CancellationToken) {
        tracing::info!(forwarder = %self.status.name, url = %self.status.url, "forwarding");
        while !stop.is_cancelled() {
            match self.pass(&stop).await {
                Ok(true) => {
                    self.refresh_lag_now_and_then().await;
                    continue;
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(forwarder = %self.status.name, %err, "forwarder cannot read the files");
                    self.status.failed(err.to_string());
                }
            }
            self.refresh_lag().await;
            if !self.idle(&stop).await {
                break;
            }
        }
    }

    /// Waits for a commit (or the poll timer), then lets entries gather for `wait`.
    /// Returns false when told to stop.
    async fn idle(&self, stop: &CancellationToken) -> bool {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
            () = stop.cancelled() => return false,
        }
        tokio::select! {
            _ = tokio::time::sleep(self.settings.wait) => true,
            () = stop.cancelled() => false,
        }
    }

    /// Sends every service's entries, a batch of each in turn, until none has a full batch
    /// left or [`PASS_LENGTH`] has passed; returns whether any was sent. The next batch is
    /// read and encoded while the current one is in flight.
    async fn pass(&mut self, stop: &CancellationToken) -> std::io::Result<bool> {
        let store = self.store.clone();
        let services = tokio::task::spawn_blocking(move || store.services())
            .await
            .map_err(std::io::Error::other)??;
        // Services whose turn is next, and where each one's next batch starts when that
        // is past its checkpoint (a batch read ahead, not yet delivered).
        let started = std::time::Instant::now();
        let mut turns: VecDeque<ServiceName> = services.into();
        let mut read_to: HashMap<ServiceName, u64> = HashMap::new();
        let mut ahead = self.prepare_next(&mut turns, &read_to);
        let mut sent = false;
        while let Some(preparing) = ahead.take() {
            let (reader, prepared) = preparing.await.map_err(std::io::Error::other)?;
            let prepared = prepared?;
            self.readers
                .insert(prepared.shipment.service.clone(), reader);
            if stop.is_cancelled() {
                break;
            }
            let service = prepared.shipment.service.clone();
            read_to.insert(service.clone(), prepared.shipment.read.next);
            if prepared.full && started.elapsed() < PASS_LENGTH {
                turns.push_back(service);
            }
            ahead = self.prepare_next(&mut turns, &read_to);
            match self.ship(prepared, stop).await {
                Shipped::Sent => sent = true,
                Shipped::Nothing => {}
                Shipped::Stopped => break,
            }
        }
        Ok(sent)
    }

    /// Starts reading and encoding the next batch of the service whose turn it is, on a
    /// blocking thread.
    fn prepare_next(
        &mut self,
        turns: &mut VecDeque<ServiceName>,
        read_to: &HashMap<ServiceName, u64>,
    ) -> Option<Preparing<S::Body>> {
        let service = turns.pop_front()?;
        let from = read_to
            .get(&service)
            .copied()
            .or_else(|| self.checkpoint.get(&service))
            .unwrap_or(0);
        let mut reader = self
            .readers
            .remove(&service)
            .unwrap_or_else(|| self.store.reader(service.clone()));
        let (max_entries, max_bytes) = (self.settings.max_entries, self.settings.max_bytes);
        let sink = self.sink.clone();
        Some(tokio::task::spawn_blocking(move || {
            let prepared = reader.read(from, max_entries, max_bytes).map(|read| {
                let count = read.lines.len();
                let full = count >= max_entries || read.buf.len() >= max_bytes;
                let shipment = Shipment {
                    service,
                    pending: (0..count).collect(),
                    read,
                };
                let body = (count > 0).then(|| sink.encode(&shipment));
                Prepared {
                    from,
                    shipment,
                    body,
                    full,
                }
            });
            (reader, prepared)
        }))
    }

    /// Delivers and checkpoints one prepared batch.
    async fn ship(&mut self, prepared: Prepared<S::Body>, stop: &CancellationToken) -> Shipped {
        let Prepared {
            from,
            shipment,
            body,
            ..
        } = prepared;
        let service = shipment.service.clone();
        let known = self.checkpoint.get(&service);
        let read = &shipment.read;
        if let (Some(lost), Some(_)) = (&read.lost, known) {
            self.status
                .lost_bytes
                .fetch_add(lost.end - lost.start, Relaxed);
            tracing::error!(forwarder = %self.status.name, %service, from = lost.start, to = lost.end,
                "entries were deleted by retention before this forwarder sent them; they are lost to it");
        }
        if read.next == from && known.is_some() {
            return Shipped::Nothing;
        }
        let (next, count) = (read.next, read.lines.len());
        if let Some(body) = body {
            self.mean_entry = (read.buf.len() as u64 + count as u64) / count as u64;
            if !self.deliver(shipment, body, stop).await {
                return Shipped::Stopped;
            }
        }
        self.advance(&service, next).await;
        if count > 0 {
            Shipped::Sent
        } else {
            Shipped::Nothing
        }
    }

    /// Sends `batch` until it is accepted (retrying what the destination says is
    /// retryable, with capped exponential backoff; halving what it finds too large, in
    /// order). Returns false when told to stop first.
    async fn deliver(
        &mut self,
        mut batch: Shipment,
        body: S::Body,
        stop: &CancellationToken,
    ) -> bool {
        let mut backoff = self.settings.retry_min;
        // The later parts of a batch split for size, the next to send last.
        let mut later: Vec<Vec<usize>> = Vec::new();
        // The body of `batch.pending`; `None` once what is pending changed.
        let mut body = Some(body);
        loop {
            let encoded = body.get_or_insert_with(|| self.sink.encode(&batch));
            match self.sink.send(&batch, encoded).await {
                Ok(delivery) => {
                    let accepted =
                        batch.len() as u64 - delivery.rejected - delivery.retry.len() as u64;
                    self.status.sent.fetch_add(accepted, Relaxed);
                    self.count_rejected(&batch, delivery.rejected, "destination refused entries");
                    self.status.succeeded();
                    if !delivery.retry.is_empty() {
                        batch.pending = delivery.retry.iter().map(|&i| batch.pending[i]).collect();
                        body = None;
                        self.status
                            .failed(format!("{} entries to retry", batch.len()));
                    } else if let Some(next) = later.pop() {
                        batch.pending = next;
                        body = None;
                        backoff = self.settings.retry_min;
                        continue;
                    } else {
                        return true;
                    }
                }
                Err(SendError::TooLarge(_)) if batch.len() > 1 => {
                    let second_half = batch.pending.split_off(batch.len() / 2);
                    body = None;
                    later.push(second_half);
                    continue;
                }
                Err(SendError::Reject(reason) | SendError::TooLarge(reason)) => {
                    self.count_rejected(&batch, batch.len() as u64, &reason);
                    match later.pop() {
                        Some(next) => {
                            batch.pending = next;
                            body = None;
                            continue;
                        }
                        None => return true,
                    }
                }
                Err(err @ SendError::Retry(_)) => {
                    tracing::warn!(forwarder = %self.status.name, service = %batch.service, entries = batch.len(), retry_in = ?backoff, %err, "send failed");
                    self.status.failed(err.to_string());
                }
            }
            // An outage is when the lag matters most.
            self.refresh_lag_now_and_then().await;
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return false,
            }
            backoff = (backoff * 2).min(self.settings.retry_max);
        }
    }

    fn count_rejected(&self, batch: &Shipment, rejected: u64, reason: &str) {
        if rejected == 0 {
            return;
        }
        self.status.rejected.fetch_add(rejected, Relaxed);
        tracing::warn!(forwarder = %self.status.name, service = %batch.service, rejected, reason, "entries skipped");
    }

    /// Moves and persists `service`'s checkpoint. A failed save is logged and retried with
    /// the next batch: the worst outcome is sending entries again.
    async fn advance(&mut self, service: &ServiceName, next: u64) {
        self.checkpoint.set(service, next);
        self.status.set_position(service, next);
        let checkpoint = self.checkpoint.clone();
        match tokio::task::spawn_blocking(move || checkpoint.save()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::error!(forwarder = %self.status.name, %err, "cannot save the checkpoint")
            }
            Err(err) => {
                tracing::error!(forwarder = %self.status.name, %err, "checkpoint task failed")
            }
        }
    }

    /// Measures the lag unless it was measured less than [`IDLE_POLL`] ago.
    async fn refresh_lag_now_and_then(&mut self) {
        if self.measured.is_none_or(|at| at.elapsed() >= IDLE_POLL) {
            self.refresh_lag().await;
        }
    }

    /// Measures the lag of every service, for `/health` and metrics.
    async fn refresh_lag(&mut self) {
        self.measured = Some(std::time::Instant::now());
        let (store, status, mean) = (self.store.clone(), self.status.clone(), self.mean_entry);
        let measured = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, u64)> {
            let mut total = (0, 0);
            for service in store.services()? {
                let behind = store.backlog(&service, status.position(&service), mean)?;
                total = (total.0 + behind.bytes, total.1 + behind.entries);
            }
            Ok(total)
        })
        .await;
        if let Ok(Ok((bytes, entries))) = measured {
            self.status.set_lag(bytes, entries);
        }
    }
}
