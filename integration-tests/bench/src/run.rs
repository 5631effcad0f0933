//! What every benchmark binary does around its phases: the checks before a run (the
//! collector binary, a release build of the benchmark), the single-threaded tokio runtime
//! its load runs on, a scratch directory for the logs, and the note on the machine printed
//! under the results.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use tokio::runtime::Runtime;

/// A benchmark run under way.
pub struct Run {
    /// The load generator's runtime: one thread, so that on a small machine most of the CPU
    /// goes to the collector.
    pub runtime: Runtime,
    /// Where the logs go, removed when dropped (`TempDir::keep` leaves it).
    pub scratch: tempfile::TempDir,
    /// The 1-minute load average before the run.
    load_before: String,
    began: Instant,
}

impl Run {
    /// Checks the collector binary ([`estuary_binary`]), warns when this benchmark is a
    /// debug build, and makes the runtime and the scratch directory
    /// (`estuary-<name>-…` under `dir`, by default the system's temp dir; it decides which
    /// disk is measured).
    ///
    /// # Errors
    ///
    /// When the binary is missing, or the runtime or the directory cannot be made.
    pub fn start(name: &str, dir: Option<&Path>) -> anyhow::Result<Self> {
        let began = Instant::now();
        estuary_binary()?;
        if cfg!(debug_assertions) {
            eprintln!("warning: the load generator is a debug build; run it with --release");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        let mut builder = tempfile::Builder::new();
        let prefix = format!("estuary-{}-", name.replace('_', "-"));
        builder.prefix(&prefix);
        let scratch = match dir {
            Some(dir) => builder.tempdir_in(dir),
            None => builder.tempdir(),
        }
        .context("creating the scratch directory")?;
        Ok(Run {
            runtime,
            scratch,
            load_before: load_average(),
            began,
        })
    }

    /// Creates the collector's log directory, `logs` in the scratch directory, and returns
    /// its path.
    ///
    /// # Errors
    ///
    /// When it cannot be created.
    pub fn log_dir(&self) -> anyhow::Result<PathBuf> {
        let log_dir = self.scratch.path().join("logs");
        std::fs::create_dir(&log_dir).context("creating the log directory")?;
        Ok(log_dir)
    }

    /// The machine and its load so far, for the note under the results.
    pub fn machine(&self) -> Machine {
        Machine {
            scratch: self.scratch.path().to_path_buf(),
            load_before: self.load_before.clone(),
            load_after: load_average(),
            took: self.began.elapsed(),
        }
    }
}

/// How busy the shared machine was around a run, for the reader to judge the figures.
pub struct Machine {
    /// Where the logs were written.
    pub scratch: PathBuf,
    /// 1-minute load average before the run.
    pub load_before: String,
    /// 1-minute load average after the run.
    pub load_after: String,
    /// The whole run's length.
    pub took: Duration,
}

impl Machine {
    /// The note printed under the results: cores, CPU, kernel, where the logs were, the
    /// load average around the run and its length, then `sharing` (who shares the cores).
    pub fn note(&self, sharing: &str) -> String {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        format!(
            "\nMachine: {cores} × {}, Linux {}; logs in {}; 1-min load average {} before, {} \
             after; the run took {:.0} s. {sharing}",
            cpu_model(),
            kernel.trim(),
            self.scratch.display(),
            self.load_before,
            self.load_after,
            self.took.as_secs_f64(),
        )
    }
}

/// The 1-minute load average, a hint of how busy the shared machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The CPU's model name, from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The `estuary` binary the benchmark will start (see
/// [`estuary_test_support::try_estuary_bin`]), after warning when a collector source file
/// is newer than it.
///
/// # Errors
///
/// When it is missing, with the command that builds it.
pub fn estuary_binary() -> anyhow::Result<PathBuf> {
    let bin = estuary_test_support::try_estuary_bin().context("locating the collector")?;
    if let Some(newer) = newer_source(&bin) {
        eprintln!(
            "warning: {} is older than {}; rebuild with `cargo build --release -p estuary-collector`",
            bin.display(),
            newer.display()
        );
    }
    Ok(bin)
}

/// A collector source file modified after `bin` was built, if any.
fn newer_source(bin: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../collector/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let modified = entry.metadata().and_then(|m| m.modified());
            if path.is_dir() {
                stack.push(path);
            } else if modified.is_ok_and(|t: SystemTime| t > built) {
                return Some(path);
            }
        }
    }
    None
}
