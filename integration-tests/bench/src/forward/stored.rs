//! The pre-loaded `LOG_DIR` seen from outside the collector: waiting until its rotated
//! segments are compressed, describing its layout, and reading it all back as the floor of
//! forwarding (a forwarder must at least read and split every stored line).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The collector's folder of rotated segments under `LOG_DIR`.
const SEGMENTS_DIR: &str = "segments";
/// Bytes read at a time by [`read_back`].
const READ_CHUNK: usize = 256 * 1024;

/// How a service's stored entries lie on disk.
#[derive(Debug, Default, Clone, Copy)]
pub struct Layout {
    /// Rotated segments.
    pub segments: usize,
    /// Of which gzip-compressed.
    pub compressed: usize,
    /// Bytes of the segments on disk.
    pub segment_bytes: u64,
    /// Bytes of the active file.
    pub active_bytes: u64,
}

/// A service's files.
struct Files {
    /// Its segments (`.log`, `.log.gz`), oldest first.
    segments: Vec<PathBuf>,
    /// Compressions being written (`.gz.tmp`).
    writing: Vec<PathBuf>,
    /// Its active file.
    active: PathBuf,
}

fn files(log_dir: &Path, service: &str) -> io::Result<Files> {
    let dir = log_dir.join(SEGMENTS_DIR).join(service);
    let all = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|entry| entry.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err),
    };
    let name = |path: &PathBuf| path.to_string_lossy().into_owned();
    let (mut segments, mut writing) = (Vec::new(), Vec::new());
    for path in all {
        // Beside the segments lies `base`, where the active file starts.
        if name(&path).ends_with(".log") || is_gzip(&path) {
            segments.push(path);
        } else if name(&path).ends_with(".gz.tmp") {
            writing.push(path);
        }
    }
    segments.sort();
    Ok(Files {
        segments,
        writing,
        active: log_dir.join(format!("{service}.log")),
    })
}

/// `service`'s layout now.
///
/// # Errors
///
/// An I/O error listing or inspecting the files.
pub fn layout(log_dir: &Path, service: &str) -> io::Result<Layout> {
    let Files {
        segments, active, ..
    } = files(log_dir, service)?;
    let mut layout = Layout {
        active_bytes: fs::metadata(active).map_or(0, |m| m.len()),
        ..Layout::default()
    };
    for segment in &segments {
        layout.segments += 1;
        layout.compressed += usize::from(is_gzip(segment));
        layout.segment_bytes += fs::metadata(segment)?.len();
    }
    Ok(layout)
}

/// Waits until every rotated segment of `service` is compressed (the collector gzips them
/// in the background; a restart would otherwise finish that work inside the timed phase).
/// Returns whether it happened within `timeout`.
///
/// # Errors
///
/// An I/O error listing the files.
pub fn wait_compressed(log_dir: &Path, service: &str, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let files = files(log_dir, service)?;
        if files.writing.is_empty() && files.segments.iter().all(|s| is_gzip(s)) {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_gzip(path: &Path) -> bool {
    path.to_string_lossy().ends_with(".log.gz")
}

/// What reading every stored line back took.
#[derive(Debug, Clone, Copy)]
pub struct ReadBack {
    /// Lines read.
    pub entries: u64,
    /// Bytes once decompressed.
    pub bytes: u64,
    /// Wall-clock time, on one thread.
    pub took: Duration,
}

impl ReadBack {
    /// Lines per second.
    pub fn per_sec(&self) -> f64 {
        self.entries as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

/// Reads every segment (gunzipping) and the active file of `service`, counting lines: what
/// the forwarder's reader must do at the least, and a count of what is stored.
///
/// # Errors
///
/// An I/O error or a corrupt gzip segment.
pub fn read_back(log_dir: &Path, service: &str) -> io::Result<ReadBack> {
    let began = Instant::now();
    let Files {
        segments, active, ..
    } = files(log_dir, service)?;
    let mut buf = vec![0u8; READ_CHUNK];
    let (mut entries, mut bytes) = (0u64, 0u64);
    for path in segments.iter().chain([&active]) {
        let file = File::open(path)?;
        let mut reader: Box<dyn Read> = if is_gzip(path) {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
        } else {
            Box::new(file)
        };
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            entries += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        }
    }
    Ok(ReadBack {
        entries,
        bytes,
        took: began.elapsed(),
    })
}
