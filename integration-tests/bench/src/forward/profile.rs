//! `perf record` attached to the collector for one phase (`--perf DIR`), to see where a
//! forwarder spends its time. The figures of a profiled run are not the ones to report.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long `perf` gets to attach before the phase goes on.
const ATTACH: Duration = Duration::from_millis(200);

/// A running `perf record -p <pid>`.
pub struct Profiler {
    child: Child,
    output: PathBuf,
}

impl Profiler {
    /// Starts sampling process `pid` (all its threads, with DWARF call graphs, since the
    /// release build has no frame pointers) into `output`.
    ///
    /// # Errors
    ///
    /// When `perf` cannot be started.
    pub fn attach(pid: u32, output: &Path) -> io::Result<Self> {
        let child = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(output)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::sleep(ATTACH);
        Ok(Profiler {
            child,
            output: output.to_path_buf(),
        })
    }

    /// Stops sampling (SIGINT, so `perf` writes its file) and returns the file.
    ///
    /// # Errors
    ///
    /// When `kill` cannot be run or `perf` cannot be waited for.
    pub fn stop(mut self) -> io::Result<PathBuf> {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(self.output)
    }
}
