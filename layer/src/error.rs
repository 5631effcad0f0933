//! Errors returned to the application (never raised inside its logging calls).

/// Why the layer could not be built. Each variant says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service name would be rejected by the collector.
    #[error(
        "invalid service name {0:?}: use 1 to 128 characters from A-Z a-z 0-9 . _ -, \
         not starting with '.'"
    )]
    InvalidService(String),
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("invalid endpoint {url:?}: {reason} (expected e.g. http://127.0.0.1:8005)")]
    InvalidEndpoint {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting is out of range.
    #[error("invalid setting {name}: {reason}")]
    InvalidSetting {
        /// The builder method.
        name: &'static str,
        /// The allowed range.
        reason: String,
    },
    /// A static field cannot be added.
    #[error("invalid static field {0:?}: it must not be empty nor one of the record's own keys")]
    InvalidStaticField(String),
    /// The auth token cannot be sent as an HTTP header.
    #[error("invalid auth token: it must be visible ASCII (no spaces or control characters)")]
    InvalidAuthToken,
    /// The worker thread, its runtime or its HTTP client could not be started.
    #[error("could not start the tracing-estuary worker: {0}")]
    Worker(String),
}

/// Why a flush did not complete.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// Entries were still waiting when the timeout ran out (the collector may be down;
    /// they stay queued and are retried).
    #[error("flush timed out with {pending} entries not yet delivered (is the collector up?)")]
    Timeout {
        /// Entries not yet delivered or dropped.
        pending: u64,
    },
    /// The worker has shut down; these entries were not delivered.
    #[error("the worker has shut down; {pending} entries were not delivered")]
    WorkerGone {
        /// Entries not delivered.
        pending: u64,
    },
}
