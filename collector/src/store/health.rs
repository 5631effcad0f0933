//! Whether storage works: a write probe at start-up, and which services' writes are
//! failing now (for `/health` and a metric).

use std::io;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::service::ServiceName;

/// Services whose last write failed, and why: what `/health` reports as `degraded` until
/// a write of that service succeeds again.
#[derive(Debug, Default)]
pub(super) struct WriteHealth {
    /// A std mutex: taken briefly by writers after a commit, never across an await.
    failing: Mutex<std::collections::BTreeMap<ServiceName, String>>,
}

impl WriteHealth {
    pub(super) fn record(&self, service: &ServiceName, outcome: Result<(), &io::Error>) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = match outcome {
            Ok(()) => failing.remove(service).is_some(),
            Err(err) => failing.insert(service.clone(), err.to_string()).is_none(),
        };
        if changed {
            crate::metrics::set_storage_failing(failing.len());
        }
    }

    /// The failing services and their errors, sorted by service.
    pub(super) fn failures(&self) -> Vec<(String, String)> {
        let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        failing
            .iter()
            .map(|(service, err)| (service.as_str().to_owned(), err.clone()))
            .collect()
    }
}

/// A file created and removed at start-up, so an unwritable directory is found then rather
/// than at the first append.
const WRITE_PROBE: &str = ".estuary-write-probe";

pub(super) fn probe_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(WRITE_PROBE);
    let _ = std::fs::remove_file(&probe);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}
