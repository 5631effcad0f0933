//! The tokens file: one token per line, `TOKEN SCOPES [SERVICE...]`, `#` comments; and how
//! tokens configured more than once are merged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Rule, Secret};
use crate::service::ServiceName;

/// Why the access configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AccessConfigError {
    /// The tokens file could not be read.
    #[error(
        "cannot read the tokens file {path}: {source}; check --tokens-file and its permissions"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the tokens file is not `TOKEN SCOPES [SERVICE...]`.
    #[error("{path}:{line}: {reason}; expected `TOKEN ingest|query|ingest,query [SERVICE...]`")]
    Line {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Folds repeated tokens into one rule holding the union of their grants; drops empty ones.
pub(super) fn merge(rules: Vec<Rule>) -> Vec<Rule> {
    let mut merged: Vec<Rule> = Vec::with_capacity(rules.len());
    for rule in rules.into_iter().filter(|r| !r.secret.0.is_empty()) {
        match merged.iter_mut().find(|m| m.secret == rule.secret) {
            Some(same) => {
                let writes = union(writes_of(same), writes_of(&rule));
                same.ingest = writes.is_some();
                same.services = writes.flatten();
                same.query |= rule.query;
            }
            None => merged.push(rule),
        }
    }
    merged
}

/// What a rule may write: `None` nothing, `Some(None)` any service, `Some(Some(list))` those.
type Writes = Option<Option<Arc<[ServiceName]>>>;

fn writes_of(rule: &Rule) -> Writes {
    rule.ingest.then(|| rule.services.clone())
}

fn union(a: Writes, b: Writes) -> Writes {
    match (a, b) {
        (None, other) | (other, None) => other,
        (Some(Some(a)), Some(Some(b))) => Some(Some(a.iter().chain(b.iter()).cloned().collect())),
        _ => Some(None),
    }
}

pub(super) fn read_tokens_file(path: &Path) -> Result<Vec<Rule>, AccessConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccessConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    warn_if_readable_by_others(path);
    let mut rules = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        rules.push(parse_rule(line).map_err(|reason| AccessConfigError::Line {
            path: path.to_owned(),
            line: number + 1,
            reason,
        })?);
    }
    Ok(rules)
}

pub(super) fn parse_rule(line: &str) -> Result<Rule, String> {
    let mut words = line.split_ascii_whitespace();
    let secret = Secret(words.next().unwrap_or_default().to_owned());
    let scopes = words.next().ok_or("no scope")?;
    let (mut ingest, mut query) = (false, false);
    for scope in scopes.split(',') {
        match scope {
            "ingest" => ingest = true,
            "query" => query = true,
            // Not echoed: a line with its words swapped would put the token in the log.
            _ => return Err("unknown scope".into()),
        }
    }
    let services = words
        .map(|name| ServiceName::parse(name).map_err(|e| format!("{name:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if !services.is_empty() && !ingest {
        return Err("services are listed but the token cannot send logs".into());
    }
    Ok(Rule {
        secret,
        ingest,
        query,
        services: (!services.is_empty()).then(|| services.into()),
    })
}

/// A tokens file every user can read leaks every token; say so (but still start). Group
/// access is left alone: sharing the file with the service's group is a normal setup.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o007 != 0 {
            tracing::warn!(path = %path.display(), "the tokens file is readable by every user; chmod o-rwx it");
        }
    }
}
