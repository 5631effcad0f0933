//! Retention: delete the oldest segments by age, by bytes per service and by bytes
//! overall. The active file is never deleted (it counts towards the byte totals), nor any
//! segment a reader (a forwarder) still needs. Every deletion is logged.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use super::index;
use super::segments::{self, Segment};
use crate::service::ServiceName;
use crate::timefmt;

/// What to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionPolicy {
    /// Delete segments closed longer ago than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many bytes per service (active file included).
    pub max_service_bytes: Option<u64>,
    /// Keep at most this many bytes across all services (active files included).
    pub max_total_bytes: Option<u64>,
}

impl RetentionPolicy {
    /// Whether the policy deletes anything at all.
    pub fn is_off(&self) -> bool {
        self.max_age.is_none() && self.max_service_bytes.is_none() && self.max_total_bytes.is_none()
    }
}

/// Tells retention the lowest virtual offset a reader still needs in a service; segments
/// ending after it are kept.
pub type NeededFrom = dyn Fn(&ServiceName) -> Option<u64> + Send + Sync;

/// A segment with its size on disk.
struct Candidate {
    service: ServiceName,
    segment: Segment,
    bytes: u64,
}

/// Applies `policy` once; returns the deleted files. Each deletion takes the store's file
/// lock, so a reader never lists a segment that is gone before it opens it.
pub fn enforce(
    log_dir: &Path,
    files: &RwLock<()>,
    policy: &RetentionPolicy,
    needed: &NeededFrom,
) -> io::Result<Vec<PathBuf>> {
    let mut deleted = Deleted {
        files,
        paths: Vec::new(),
    };
    let mut all = Vec::new();
    let mut total_active = 0u64;
    for service in services(log_dir)? {
        let active =
            std::fs::metadata(segments::active_path(log_dir, &service)).map_or(0, |m| m.len());
        total_active += active;
        let mut kept = Vec::new();
        for candidate in candidates(log_dir, &service, needed)? {
            if is_too_old(policy, &candidate.segment) {
                delete(&candidate, &mut deleted)?;
            } else {
                kept.push(candidate);
            }
        }
        if let Some(max) = policy.max_service_bytes {
            kept = trim_to(kept, max.saturating_sub(active), &mut deleted)?;
        }
        all.extend(kept);
    }
    if let Some(max) = policy.max_total_bytes {
        all.sort_by_key(|c| c.segment.rotated);
        trim_to(all, max.saturating_sub(total_active), &mut deleted)?;
    }
    Ok(deleted.paths)
}

/// What a pass deleted, and the lock each deletion takes.
struct Deleted<'a> {
    files: &'a RwLock<()>,
    paths: Vec<PathBuf>,
}

fn services(log_dir: &Path) -> io::Result<Vec<ServiceName>> {
    let mut services = segments::services_with_segments(log_dir)?;
    services.sort();
    Ok(services)
}

/// The service's segments that retention may delete, oldest first.
fn candidates(
    log_dir: &Path,
    service: &ServiceName,
    needed: &NeededFrom,
) -> io::Result<Vec<Candidate>> {
    let keep_from = needed(service);
    Ok(segments::list(log_dir, service)?
        .into_iter()
        .filter(|s| keep_from.is_none_or(|offset| s.end <= offset))
        .map(|segment| Candidate {
            bytes: std::fs::metadata(&segment.path).map_or(0, |m| m.len()),
            service: service.clone(),
            segment,
        })
        .collect())
}

fn is_too_old(policy: &RetentionPolicy, segment: &Segment) -> bool {
    policy
        .max_age
        .is_some_and(|age| segment.rotated < timefmt::now() - age.as_nanos() as i128)
}

/// Deletes the oldest candidates until the rest fit in `budget` bytes.
fn trim_to(
    candidates: Vec<Candidate>,
    budget: u64,
    deleted: &mut Deleted<'_>,
) -> io::Result<Vec<Candidate>> {
    let mut total: u64 = candidates.iter().map(|c| c.bytes).sum();
    let mut kept = Vec::new();
    for candidate in candidates {
        if total > budget {
            total -= candidate.bytes;
            delete(&candidate, deleted)?;
        } else {
            kept.push(candidate);
        }
    }
    Ok(kept)
}

fn delete(candidate: &Candidate, deleted: &mut Deleted<'_>) -> io::Result<()> {
    let removed = {
        let _exclusive = deleted
            .files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let removed = std::fs::remove_file(&candidate.segment.path);
        if removed.is_ok() {
            let dir = candidate.segment.path.parent().unwrap_or(Path::new("."));
            // The segment's count index goes with it.
            let _ = std::fs::remove_file(index::sidecar(dir, candidate.segment.start));
        }
        removed
    };
    match removed {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    }
    tracing::info!(
        service = %candidate.service,
        segment = %candidate.segment.path.display(),
        bytes = candidate.bytes,
        "retention deleted a segment"
    );
    deleted.paths.push(candidate.segment.path.clone());
    Ok(())
}

#[cfg(test)]
mod tests;
