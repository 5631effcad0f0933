//! One forwarder's loop: read from the checkpoint ▸ batch ▸ send ▸ retry with capped
//! backoff ▸ advance the checkpoint only after the destination accepted the batch.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{ForwarderStatus, SendError, Shipment, Sink};
use crate::service::ServiceName;
use crate::store::{Checkpoint, CheckpointError, Store, StreamChunk, StreamReader};

/// Even without commits (another process wrote, a wake-up was missed), look again this often.
const IDLE_POLL: Duration = Duration::from_secs(1);
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
pub struct Task<S> {
    /// Where batches go.
    sink: S,
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
            sink,
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

    /// Sends one batch of every service that has entries; returns whether any was sent.
    async fn pass(&mut self, stop: &CancellationToken) -> std::io::Result<bool> {
        let store = self.store.clone();
        let services = tokio::task::spawn_blocking(move || store.services())
            .await
            .map_err(std::io::Error::other)??;
        let mut sent = false;
        for service in services {
            if stop.is_cancelled() {
                break;
            }
            sent |= self.forward(service, stop).await?;
        }
        Ok(sent)
    }

    /// Reads, delivers and checkpoints one batch of `service`.
    async fn forward(
        &mut self,
        service: ServiceName,
        stop: &CancellationToken,
    ) -> std::io::Result<bool> {
        let known = self.checkpoint.get(&service);
        let read = self.read(&service, known.unwrap_or(0)).await?;
        if let (Some(lost), Some(_)) = (&read.lost, known) {
            self.status
                .lost_bytes
                .fetch_add(lost.end - lost.start, Relaxed);
            tracing::error!(forwarder = %self.status.name, %service, from = lost.start, to = lost.end,
                "entries were deleted by retention before this forwarder sent them; they are lost to it");
        }
        if read.next == known.unwrap_or(0) && known.is_some() {
            return Ok(false);
        }
        let (next, count) = (read.next, read.lines.len());
        if count > 0 {
            self.mean_entry = (read.buf.len() as u64 + count as u64) / count as u64;
            let shipment = Shipment {
                service: service.clone(),
                pending: (0..count).collect(),
                read,
            };
            if !self.deliver(shipment, stop).await {
                return Ok(false);
            }
        }
        self.advance(&service, next).await;
        Ok(count > 0)
    }

    async fn read(&mut self, service: &ServiceName, from: u64) -> std::io::Result<StreamChunk> {
        let mut reader = self
            .readers
            .remove(service)
            .unwrap_or_else(|| self.store.reader(service.clone()));
        let (max_entries, max_bytes) = (self.settings.max_entries, self.settings.max_bytes);
        let (reader, read) = tokio::task::spawn_blocking(move || {
            let read = reader.read(from, max_entries, max_bytes);
            (reader, read)
        })
        .await
        .map_err(std::io::Error::other)?;
        self.readers.insert(service.clone(), reader);
        read
    }

    /// Sends `batch` until it is accepted (retrying what the destination says is
    /// retryable, with capped exponential backoff; halving what it finds too large, in
    /// order). Returns false when told to stop first.
    async fn deliver(&mut self, mut batch: Shipment, stop: &CancellationToken) -> bool {
        let mut backoff = self.settings.retry_min;
        // The later parts of a batch split for size, the next to send last.
        let mut later: Vec<Vec<usize>> = Vec::new();
        loop {
            match self.sink.send(&batch).await {
                Ok(delivery) => {
                    let accepted =
                        batch.len() as u64 - delivery.rejected - delivery.retry.len() as u64;
                    self.status.sent.fetch_add(accepted, Relaxed);
                    self.count_rejected(&batch, delivery.rejected, "destination refused entries");
                    self.status.succeeded();
                    if !delivery.retry.is_empty() {
                        batch.pending = delivery.retry.iter().map(|&i| batch.pending[i]).collect();
                        self.status
                            .failed(format!("{} entries to retry", batch.len()));
                    } else if let Some(next) = later.pop() {
                        batch.pending = next;
                        backoff = self.settings.retry_min;
                        continue;
                    } else {
                        return true;
                    }
                }
                Err(SendError::TooLarge(_)) if batch.len() > 1 => {
                    let second_half = batch.pending.split_off(batch.len() / 2);
                    later.push(second_half);
                    continue;
                }
                Err(SendError::Reject(reason) | SendError::TooLarge(reason)) => {
                    self.count_rejected(&batch, batch.len() as u64, &reason);
                    match later.pop() {
                        Some(next) => {
                            batch.pending = next;
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
