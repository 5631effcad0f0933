//! What each forwarder has done and how far behind it is, shared between its task,
//! `/health`, metrics and retention.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::service::ServiceName;

/// One forwarder's counters and positions. Cheap to share.
#[derive(Debug)]
pub struct ForwarderStatus {
    /// Its name, also its checkpoint file's name.
    pub name: String,
    /// The destination kind (`loki`, `elasticsearch`, `clickhouse`).
    pub kind: &'static str,
    /// The destination's base URL (without credentials).
    pub url: String,
    /// Entries the destination accepted.
    pub sent: AtomicU64,
    /// Entries the destination refused for good (a Loki 400 batch, a bulk item 400):
    /// skipped so they never block the rest, and counted here.
    pub rejected: AtomicU64,
    /// Attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Bytes lost to retention before they could be sent (the retention cap).
    pub lost_bytes: AtomicU64,
    /// Bytes stored but not yet delivered, all services together.
    pub lag_bytes: AtomicU64,
    /// Entries stored but not yet delivered (estimated from the mean entry size beyond
    /// what is cheap to count).
    pub lag_entries: AtomicU64,
    /// When the destination last accepted a batch, and the last error since.
    state: Mutex<Progress>,
    /// Per service, the first undelivered offset: what retention must keep.
    positions: Mutex<HashMap<ServiceName, u64>>,
}

#[derive(Debug, Default)]
struct Progress {
    last_success: Option<SystemTime>,
    last_error: Option<String>,
}

impl ForwarderStatus {
    /// A fresh status.
    pub fn new(name: &str, kind: &'static str, url: &str) -> Self {
        ForwarderStatus {
            name: name.to_owned(),
            kind,
            url: url.to_owned(),
            sent: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            lost_bytes: AtomicU64::new(0),
            lag_bytes: AtomicU64::new(0),
            lag_entries: AtomicU64::new(0),
            state: Mutex::default(),
            positions: Mutex::default(),
        }
    }

    /// Records a successful delivery.
    pub fn succeeded(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_success = Some(SystemTime::now());
        state.last_error = None;
    }

    /// Records a failed attempt.
    pub fn failed(&self, error: String) {
        self.retries.fetch_add(1, Relaxed);
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error = Some(error);
    }

    /// The error of the last failed attempt, while no attempt has succeeded since.
    pub fn last_error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error
            .clone()
    }

    /// Records `service`'s first undelivered offset.
    pub fn set_position(&self, service: &ServiceName, offset: u64) {
        self.positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.clone(), offset);
    }

    /// The first undelivered offset of `service`; 0 (everything) for a service this
    /// forwarder has not reached yet.
    pub fn position(&self, service: &ServiceName) -> u64 {
        self.positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .copied()
            .unwrap_or(0)
    }

    /// Sets the lag, in `/health` and metrics.
    pub fn set_lag(&self, bytes: u64, entries: u64) {
        self.lag_bytes.store(bytes, Relaxed);
        self.lag_entries.store(entries, Relaxed);
        crate::metrics::set_forwarder_lag(&self.name, bytes, entries);
    }

    /// The JSON shown in `/health`.
    pub fn snapshot(&self) -> Value {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let last_success = state.last_success.map(|t| {
            let nanos = t
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128);
            time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
        });
        json!({
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "sent_entries": self.sent.load(Relaxed),
            "rejected_entries": self.rejected.load(Relaxed),
            "retries": self.retries.load(Relaxed),
            "lost_bytes": self.lost_bytes.load(Relaxed),
            "lag_bytes": self.lag_bytes.load(Relaxed),
            "lag_entries": self.lag_entries.load(Relaxed),
            "last_success": last_success.flatten(),
            "last_error": state.last_error,
        })
    }
}

/// Every forwarder's status, for `/health`. Empty when forwarding is off.
#[derive(Debug, Clone, Default)]
pub struct ForwardStatus(pub Arc<[Arc<ForwarderStatus>]>);

impl ForwardStatus {
    /// The JSON list shown in `/health`.
    pub fn snapshot(&self) -> Value {
        Value::Array(self.0.iter().map(|f| f.snapshot()).collect())
    }

    /// The first forwarder whose last attempt failed, and why (`/health` is `degraded`
    /// until it delivers again).
    pub fn failing(&self) -> Option<(String, String)> {
        self.0
            .iter()
            .find_map(|f| f.last_error().map(|err| (f.name.clone(), err)))
    }
}
