//! Rotated segments of a service's log, and where the active file sits among them.
//!
//! Each service's entries form one virtual stream of bytes; every line has a stable
//! *virtual offset* in it, which cursors use, so they survive rotation. Segments live in
//! `LOG_DIR/segments/<service>/` and are named
//! `<rotated>_<start>_<end>[_<first>_<last>].log[.gz]`: the UTC time the segment was closed
//! (so names sort by time), its virtual byte range, and, once known, the time range of
//! its entries (so time-bounded queries skip it without opening it). The active file
//! `LOG_DIR/<service>.log` starts where the newest segment ended (also kept in `base`, so
//! retention can delete every segment).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::service::ServiceName;
use crate::timefmt::{format_compact, parse_compact, Nanos};

/// The folder of all segments.
pub const SEGMENTS_DIR: &str = "segments";
/// The ending of an active file's name: `<service>.log`.
const ACTIVE_SUFFIX: &str = ".log";
/// The file recording where the active file starts in the virtual stream.
const BASE_FILE: &str = "base";

/// A closed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its file.
    pub path: PathBuf,
    /// When it was closed (unix nanoseconds).
    pub rotated: Nanos,
    /// Its first byte's virtual offset.
    pub start: u64,
    /// One past its last byte's virtual offset.
    pub end: u64,
    /// The earliest and latest entry timestamps, when known.
    pub range: Option<(Nanos, Nanos)>,
    /// Whether the file is gzip-compressed.
    pub compressed: bool,
}

impl Segment {
    /// Whether entries inside `[since, until]` could be in this segment.
    pub fn may_overlap(&self, since: Option<Nanos>, until: Option<Nanos>) -> bool {
        match self.range {
            None => true,
            Some((first, last)) => {
                since.is_none_or(|s| last >= s) && until.is_none_or(|u| first <= u)
            }
        }
    }

    /// The file name for a segment with these properties.
    pub fn file_name(
        rotated: Nanos,
        start: u64,
        end: u64,
        range: Option<(Nanos, Nanos)>,
        compressed: bool,
    ) -> String {
        let mut name = format!("{}_{start}_{end}", format_compact(rotated));
        if let Some((first, last)) = range {
            name.push_str(&format!(
                "_{}_{}",
                format_compact(first),
                format_compact(last)
            ));
        }
        name.push_str(if compressed { ".log.gz" } else { ".log" });
        name
    }

    fn parse(path: PathBuf) -> Option<Segment> {
        let name = path.file_name()?.to_str()?;
        let (stem, compressed) = match name.strip_suffix(".log.gz") {
            Some(stem) => (stem, true),
            None => (name.strip_suffix(".log")?, false),
        };
        let parts: Vec<&str> = stem.split('_').collect();
        let range = match parts.len() {
            3 => None,
            5 => Some((parse_compact(parts[3])?, parse_compact(parts[4])?)),
            _ => return None,
        };
        Some(Segment {
            rotated: parse_compact(parts[0])?,
            start: parts[1].parse().ok()?,
            end: parts[2].parse().ok()?,
            range,
            compressed,
            path,
        })
    }
}

/// Parses one segment file's name.
pub fn list_one(path: &Path) -> Option<Segment> {
    Segment::parse(path.to_path_buf())
}

/// The active file of `service`: `LOG_DIR/<service>.log`.
pub fn active_path(log_dir: &Path, service: &ServiceName) -> PathBuf {
    log_dir.join(format!("{service}{ACTIVE_SUFFIX}"))
}

/// The folder of one service's segments.
pub fn service_dir(log_dir: &Path, service: &ServiceName) -> PathBuf {
    log_dir.join(SEGMENTS_DIR).join(service.as_str())
}

/// The service's segments, oldest first. While a segment is being compressed both forms
/// exist for a moment; the uncompressed one is listed.
///
/// # Errors
///
/// An I/O error reading the folder (a missing folder means no segments).
pub fn list(log_dir: &Path, service: &ServiceName) -> io::Result<Vec<Segment>> {
    let dir = service_dir(log_dir, service);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut segments: Vec<Segment> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Segment::parse(e.path()))
        .collect();
    segments.sort_by_key(|s| (s.start, s.compressed, s.range.is_none()));
    segments.dedup_by_key(|s| s.start);
    Ok(segments)
}

/// Where the active file starts in the virtual stream.
///
/// # Errors
///
/// An I/O error reading the segments folder.
pub fn active_base(log_dir: &Path, service: &ServiceName) -> io::Result<u64> {
    let from_segments = list(log_dir, service)?.last().map_or(0, |s| s.end);
    let recorded = fs::read_to_string(service_dir(log_dir, service).join(BASE_FILE))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    Ok(from_segments.max(recorded))
}

/// Records the active file's base (atomically: write then rename).
///
/// # Errors
///
/// An I/O error writing the file.
pub fn record_base(log_dir: &Path, service: &ServiceName, base: u64) -> io::Result<()> {
    let dir = service_dir(log_dir, service);
    fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!("{BASE_FILE}.tmp"));
    fs::write(&tmp, base.to_string())?;
    fs::rename(tmp, dir.join(BASE_FILE))
}

/// Every service with an active file (`LOG_DIR/<service>.log`) or segments, sorted.
///
/// # Errors
///
/// An I/O error reading `LOG_DIR`.
///
pub fn services(log_dir: &Path) -> io::Result<Vec<ServiceName>> {
    let mut services = services_with_segments(log_dir)?;
    for entry in fs::read_dir(log_dir)?.filter_map(Result::ok) {
        let name = entry.file_name();
        let active = name.to_string_lossy();
        if let Some(service) = active
            .strip_suffix(ACTIVE_SUFFIX)
            .and_then(|s| ServiceName::parse(s).ok())
        {
            services.push(service);
        }
    }
    services.sort();
    services.dedup();
    Ok(services)
}

/// The services that have segments.
///
/// # Errors
///
/// An I/O error reading the folder.
pub fn services_with_segments(log_dir: &Path) -> io::Result<Vec<ServiceName>> {
    let dir = log_dir.join(SEGMENTS_DIR);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| ServiceName::parse(&e.file_name().to_string_lossy()).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_time() {
        let name = Segment::file_name(2_000_000_000, 10, 20, Some((5, 7)), true);
        let segment = Segment::parse(PathBuf::from(&name)).expect("parses");
        assert_eq!(
            (
                segment.start,
                segment.end,
                segment.range,
                segment.compressed
            ),
            (10, 20, Some((5, 7)), true)
        );
        let pending = Segment::parse(PathBuf::from(Segment::file_name(1, 0, 10, None, false)))
            .expect("pending");
        assert_eq!(pending.range, None);
        assert!(
            Segment::file_name(1, 0, 1, None, false) < Segment::file_name(2, 1, 2, None, false)
        );
        assert!(!segment.may_overlap(Some(8), None));
        assert!(segment.may_overlap(Some(6), Some(6)));
        assert!(!segment.may_overlap(None, Some(4)));
    }

    #[test]
    fn services_are_named_by_active_files_and_segment_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("api.log"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("segments/old")).unwrap();
        std::fs::create_dir_all(dir.path().join(".forward")).unwrap();
        let names: Vec<String> = services(dir.path())
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(names, ["api", "old"]);
    }
}
