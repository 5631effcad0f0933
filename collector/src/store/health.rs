//! Whether storage works: a write probe at start-up, and which services' writes are
//! failing now (for `/health` and a metric).

use std::io;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::service::ServiceName;

/// Services whose last write failed, and why: what `/health` reports as `degraded` until
/// a write of that service succeeds again.
#[derive(Debug, Default)]
pub(super) struct WriteHealth {
    /// A std mutex: taken briefly by writers after a commit, never across an await.
    failing: Mutex<std::collections::BTreeMap<ServiceName, String>>,
    /// When the process last ran out of file descriptors, and doing what.
    descriptors_short: Mutex<Option<(Instant, String)>>,
}

/// How long `/health` reports a shortage of descriptors after the last one was seen.
const SHORTAGE_REPORTED_FOR: Duration = Duration::from_secs(10);

/// Whether `err` says the process (or the system) has no file descriptor left.
pub(super) fn out_of_descriptors(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == libc::EMFILE || code == libc::ENFILE)
}

impl WriteHealth {
    pub(super) fn record(&self, service: &ServiceName, outcome: Result<(), &io::Error>) {
        if let Err(err) = outcome {
            if out_of_descriptors(err) {
                self.short_of_descriptors(&format!("writing {service}"));
            }
        }
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = match outcome {
            Ok(()) => failing.remove(service).is_some(),
            Err(err) => failing.insert(service.clone(), err.to_string()).is_none(),
        };
        if changed {
            crate::metrics::set_storage_failing(failing.len());
        }
    }

    /// Notes that `doing` failed for want of a file descriptor.
    pub(super) fn short_of_descriptors(&self, doing: &str) {
        let mut short = self
            .descriptors_short
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *short = Some((Instant::now(), doing.to_owned()));
    }

    /// Says when and where descriptors last ran out, if that was recent.
    pub(super) fn descriptor_shortage(&self) -> Option<String> {
        let short = self
            .descriptors_short
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (when, doing) = short.as_ref()?;
        let ago = when.elapsed();
        (ago < SHORTAGE_REPORTED_FOR).then(|| {
            format!(
                "out of file descriptors {}s ago ({doing}); idle writers are closing to give files back",
                ago.as_secs()
            )
        })
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
