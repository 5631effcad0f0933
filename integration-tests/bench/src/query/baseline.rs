//! Baselines measured in the same run on the same files: what `grep` and a plain read do.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

/// Bytes per read in [`read_files`].
const READ_CHUNK: usize = 1024 * 1024;

/// One timed `grep -c`.
pub struct GrepRun {
    /// The count it printed.
    pub count: u64,
    /// Wall-clock time, process start included.
    pub took: Duration,
}

/// Times `LC_ALL=C grep -c <token> <path>` (the C locale, as a byte-oriented tool would be
/// run on logs; it is also grep's fastest mode).
///
/// # Errors
///
/// When grep cannot run, fails, or prints something other than a count.
pub fn grep_count(token: &str, path: &Path) -> anyhow::Result<GrepRun> {
    let began = Instant::now();
    let output = Command::new("grep")
        .arg("-c")
        .arg(token)
        .arg(path)
        .env("LC_ALL", "C")
        .stderr(Stdio::inherit())
        .output()
        .context("running grep")?;
    let took = began.elapsed();
    ensure!(output.status.success(), "grep failed: {}", output.status);
    let count = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .context("reading grep's count")?;
    Ok(GrepRun { count, took })
}

/// Times reading `paths` whole, as a lower bound for anything that must look at them.
///
/// # Errors
///
/// Any I/O error.
pub fn read_files(paths: &[PathBuf]) -> io::Result<Duration> {
    let mut buf = vec![0u8; READ_CHUNK];
    let began = Instant::now();
    for path in paths {
        let mut file = File::open(path)?;
        while file.read(&mut buf)? > 0 {}
    }
    Ok(began.elapsed())
}
