//! Loki settings, derived from the `--loki-*` flags.

use crate::config::ForwardConfig;
use crate::forward::http::Auth;
use crate::forward::ForwardError;

/// The push endpoint, appended to `--loki-url`.
pub const PUSH_PATH: &str = "/loki/api/v1/push";
/// Labels by default: the service (from the file) and the entry's `level`.
pub const DEFAULT_LABELS: &str = "service,level";
/// Fields with a value per entry: as labels they would create a stream per entry, which
/// Loki's index cannot bear.
const HIGH_CARDINALITY: &[&str] = &[
    "timestamp",
    "time",
    "ts",
    "message",
    "msg",
    "trace_id",
    "span_id",
    "request_id",
    "id",
    "user_id",
];

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct LokiConfig {
    /// The full push URL.
    pub push_url: String,
    /// The entry fields that become labels (`service` comes from the file name).
    pub labels: Vec<String>,
    /// Sent as `X-Scope-OrgID` for multi-tenant Loki.
    pub tenant: Option<String>,
    /// Basic or bearer authentication.
    pub auth: Auth,
}

impl LokiConfig {
    /// Reads the `--loki-*` flags.
    ///
    /// # Errors
    ///
    /// [`ForwardError::HighCardinalityLabel`] when a label names a per-entry field.
    pub fn from_flags(url: &str, flags: &ForwardConfig) -> Result<Self, ForwardError> {
        let labels: Vec<String> = flags
            .loki_labels
            .iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        if let Some(bad) = labels
            .iter()
            .find(|l| HIGH_CARDINALITY.contains(&l.as_str()))
        {
            return Err(ForwardError::HighCardinalityLabel(bad.clone()));
        }
        Ok(LokiConfig {
            push_url: format!("{}{PUSH_PATH}", url.trim_end_matches('/')),
            labels,
            tenant: flags.loki_tenant.clone().filter(|t| !t.is_empty()),
            auth: Auth::from_options(
                flags.loki_username.as_deref(),
                flags.loki_password.as_deref(),
                flags.loki_token.as_deref(),
            ),
        })
    }
}
