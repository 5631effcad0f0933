//! What every benchmark binary does before its first phase.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

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
