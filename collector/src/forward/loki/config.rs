//! Loki settings.

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
    /// The base URL, as given.
    pub url: String,
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
    /// Pushes to `url` (a base URL: `http://loki:3100`) with `labels` as stream labels.
    ///
    /// # Errors
    ///
    /// [`ForwardError::HighCardinalityLabel`] when a label names a per-entry field.
    pub fn new(
        url: &str,
        labels: &[String],
        tenant: Option<String>,
        auth: Auth,
    ) -> Result<Self, ForwardError> {
        let labels: Vec<String> = labels
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
            url: url.to_owned(),
            push_url: format!("{}{PUSH_PATH}", url.trim_end_matches('/')),
            labels,
            tenant: tenant.filter(|t| !t.is_empty()),
            auth,
        })
    }
}
