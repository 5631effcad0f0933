//! The token file of `--token-file`: the operator's own configuration, read once.

use std::path::Path;

use super::CliError;

/// The first non-empty line of `path`, trimmed.
pub(super) fn read_file(path: &Path) -> Result<String, CliError> {
    let err = |reason: String| CliError::TokenFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| err("the file is empty".into()))
}
