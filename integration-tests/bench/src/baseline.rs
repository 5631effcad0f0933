//! Baselines measured in the same run, on the same disk: what the hardware and the OS
//! allow without the collector in the way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::report::Latencies;

/// Bytes a plain tail read takes from the end of the file.
pub const TAIL_READ_BYTES: u64 = 64 * 1024;

/// The storage limit: the same bodies appended straight to a file.
pub struct RawWrite {
    /// Entries per second of `write` alone (into the page cache, like `--fsync never`).
    pub entries_per_sec: f64,
    /// Entries per second when the final `fdatasync` is counted too (the disk itself).
    pub synced_entries_per_sec: f64,
    /// Bytes written.
    pub bytes: u64,
}

/// Appends `body` (holding `entries` entries) to a scratch file in `dir` for `duration` or
/// until `max_bytes`, whichever comes first, then syncs it and removes it.
///
/// # Errors
///
/// Any I/O error.
pub fn raw_write(
    dir: &Path,
    body: &[u8],
    entries: usize,
    duration: Duration,
    max_bytes: u64,
) -> io::Result<RawWrite> {
    let path = dir.join("baseline-raw-write.ndjson");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let began = Instant::now();
    let mut bodies = 0u64;
    while began.elapsed() < duration && bodies * (body.len() as u64) < max_bytes {
        file.write_all(body)?;
        bodies += 1;
    }
    let written = began.elapsed();
    file.sync_data()?;
    let synced = began.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    let total = (bodies * entries as u64) as f64;
    Ok(RawWrite {
        entries_per_sec: total / written.as_secs_f64(),
        synced_entries_per_sec: total / synced.as_secs_f64(),
        bytes: bodies * body.len() as u64,
    })
}

/// Times `tail -n lines path` (process start included) `runs` times.
///
/// # Errors
///
/// When `tail` cannot run or fails.
pub fn tail_command(path: &Path, lines: usize, runs: usize) -> io::Result<Latencies> {
    let mut latencies = Latencies::default();
    for _ in 0..runs {
        let began = Instant::now();
        let status = Command::new("tail")
            .arg("-n")
            .arg(lines.to_string())
            .arg(path)
            .stdout(Stdio::null())
            .status()?;
        latencies.record(began.elapsed());
        if !status.success() {
            return Err(io::Error::other(format!("tail failed: {status}")));
        }
    }
    Ok(latencies)
}

/// Times opening `path` and reading its last [`TAIL_READ_BYTES`] `runs` times.
///
/// # Errors
///
/// Any I/O error.
pub fn tail_read(path: &Path, runs: usize) -> io::Result<Latencies> {
    let mut latencies = Latencies::default();
    let mut buf = vec![0u8; TAIL_READ_BYTES as usize];
    for _ in 0..runs {
        let began = Instant::now();
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(TAIL_READ_BYTES);
        file.read_exact_at(&mut buf[..(len - start) as usize], start)?;
        latencies.record(began.elapsed());
    }
    Ok(latencies)
}

/// Flushes a file the collector wrote, so its write-back does not weigh on the next phase.
///
/// # Errors
///
/// Any I/O error other than the file not existing.
pub fn settle(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(file) => file.sync_data(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}
