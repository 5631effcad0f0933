//! [`Builder`]: every setting, its default, and validation before anything starts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::filter::Targets;

use crate::defaults;
use crate::error::Error;
use crate::format::Format;
use crate::guard::WorkerGuard;
use crate::handle::Shared;
use crate::layer::EstuaryLayer;
use crate::queue::{Limits, Overflow, Queue, SpillLimits};
use crate::stats::Counters;
use crate::worker::{self, WorkerConfig};

/// Configures and starts a layer: `Builder::new("svc").endpoint(…)….build()`.
///
/// Every setting has a default (see [`defaults`] and the README's table).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use tracing_subscriber::prelude::*;
///
/// let (layer, guard) = tracing_estuary::Builder::new("checkout")
///     .endpoint("http://127.0.0.1:8005")
///     .batch_interval(Duration::from_millis(200))
///     .static_field("region", "eu-west-1")
///     .filter("info,sqlx=warn".parse()?)
///     .build()?;
/// tracing_subscriber::registry().with(layer).init();
/// tracing::info!(order = 42, "order placed");
/// drop(guard); // delivers what is queued (within the flush timeout)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "call .build() to start the layer"]
pub struct Builder {
    service: String,
    endpoint: String,
    limits: Limits,
    /// `None`: the system's temporary directory, looked up at `build`.
    spill_dir: Option<PathBuf>,
    spill_max_bytes: u64,
    max_entry_bytes: usize,
    compression: bool,
    static_fields: Vec<(String, serde_json::Value)>,
    auth_token: Option<String>,
    span_close: bool,
    filter: Option<Targets>,
    flush_timeout: Duration,
    request_timeout: Duration,
    backoff: (Duration, Duration),
}

impl Builder {
    /// Starts from the defaults for `service`; the endpoint comes from `ESTUARY_URL`, else
    /// `http://127.0.0.1:8005`.
    pub fn new(service: impl Into<String>) -> Self {
        let endpoint = std::env::var(defaults::ENDPOINT_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| defaults::ENDPOINT.to_owned());
        Builder {
            service: service.into(),
            endpoint,
            limits: Limits {
                batch_entries: defaults::BATCH_MAX_ENTRIES,
                batch_bytes: defaults::BATCH_MAX_BYTES,
                batch_interval: defaults::BATCH_INTERVAL,
                queue_entries: defaults::QUEUE_MAX_ENTRIES,
                queue_bytes: defaults::QUEUE_MAX_BYTES,
                spill: None,
                overflow: Overflow::DropNewest,
            },
            spill_dir: None,
            spill_max_bytes: defaults::SPILL_MAX_BYTES,
            max_entry_bytes: defaults::MAX_ENTRY_BYTES,
            compression: true,
            static_fields: Vec::new(),
            auth_token: None,
            span_close: false,
            filter: None,
            flush_timeout: defaults::FLUSH_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            backoff: (defaults::BACKOFF_MIN, defaults::BACKOFF_MAX),
        }
    }

    /// The collector's base URL (`/logs` is appended unless the path already ends with it).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The service name every entry carries (`[A-Za-z0-9._-]{1,128}`, not starting with `.`).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// Send a batch once it holds this many entries.
    pub fn batch_max_entries(mut self, n: usize) -> Self {
        self.limits.batch_entries = n;
        self
    }

    /// Send a batch once it holds this many bytes of NDJSON (at most 10 MiB, the
    /// collector's default body limit).
    pub fn batch_max_bytes(mut self, n: usize) -> Self {
        self.limits.batch_bytes = n;
        self
    }

    /// Send a batch once its oldest entry is this old.
    pub fn batch_interval(mut self, interval: Duration) -> Self {
        self.limits.batch_interval = interval;
        self
    }

    /// Hold at most this many entries (queued plus being sent).
    pub fn queue_max_entries(mut self, n: usize) -> Self {
        self.limits.queue_entries = n;
        self
    }

    /// Hold at most this many bytes of serialized entries (queued plus being sent).
    pub fn queue_max_bytes(mut self, n: usize) -> Self {
        self.limits.queue_bytes = n;
        self
    }

    /// Where batches go when the queue's memory bound (`queue_max_bytes`, `queue_max_entries`)
    /// is reached: an unlinked file created in this directory on the first overflow (default:
    /// the system's temporary directory, [`std::env::temp_dir`]). It should be on a disk, not
    /// a `tmpfs`, whose pages are memory.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let (layer, guard) = tracing_estuary::Builder::new("billing")
    ///     .spill_dir("/var/tmp")
    ///     .spill_max_bytes(1 << 30) // ride out a longer collector outage
    ///     .build()?;
    /// # Ok::<(), tracing_estuary::Error>(())
    /// ```
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// The spill file's size at most (default 256 MiB); past it the [`Overflow`] policy
    /// applies. `0` turns spilling off: the policy then applies at the memory bound.
    pub fn spill_max_bytes(mut self, n: u64) -> Self {
        self.spill_max_bytes = n;
        self
    }

    /// Drop (and count) entries larger than this.
    pub fn max_entry_bytes(mut self, n: usize) -> Self {
        self.max_entry_bytes = n;
        self
    }

    /// Gzip request bodies (on by default, fastest level).
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// Adds a top-level field to every entry, e.g. `("region", "eu-west-1")`.
    pub fn static_field(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.static_fields.push((key.into(), value.into()));
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Also emit one record per closed span, with its busy and idle time (off by default).
    pub fn span_close_records(mut self, on: bool) -> Self {
        self.span_close = on;
        self
    }

    /// Ship only what this filter enables (by default, everything the subscriber enables).
    /// Other layers are not affected.
    pub fn filter(mut self, filter: Targets) -> Self {
        self.filter = Some(filter);
        self
    }

    /// How long dropping the guard, `shutdown` and `flush` wait for delivery.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// One HTTP request's time limit.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// First and longest retry delay (the delay doubles, with jitter, in between).
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max);
        self
    }

    /// What to do with new events when the queue is full: its memory bound reached and the
    /// spill file (if any) full too.
    pub fn overflow(mut self, policy: Overflow) -> Self {
        self.limits.overflow = policy;
        self
    }

    /// Validates the settings and starts the worker thread.
    ///
    /// # Errors
    ///
    /// An [`Error`] naming the bad setting, or [`Error::Worker`] when the thread, runtime or
    /// HTTP client cannot start.
    pub fn build(mut self) -> Result<(EstuaryLayer, WorkerGuard), Error> {
        validate_service(&self.service)?;
        self.validate_limits()?;
        self.limits.spill = self.spill_limits()?;
        let url = logs_url(&self.endpoint)?;
        if let Some(token) = &self.auth_token {
            let ok = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(Error::InvalidAuthToken);
            }
        }
        let format = Arc::new(Format::new(
            &self.service,
            &self.static_fields,
            self.span_close,
            self.filter,
            self.max_entry_bytes,
        )?);
        let shared = Arc::new(Shared {
            queue: Queue::new(self.limits),
            counters: Counters::default(),
            flush_timeout: self.flush_timeout,
        });
        let config = WorkerConfig {
            url,
            compression: self.compression,
            auth_token: self.auth_token,
            request_timeout: self.request_timeout,
            backoff: self.backoff,
        };
        let thread = worker::spawn(config, Arc::clone(&shared), Arc::clone(&format))?;
        let layer = EstuaryLayer::new(Arc::clone(&shared), format);
        Ok((layer, WorkerGuard::new(shared, thread)))
    }

    /// The spill settings, `None` when spilling is off; the directory must exist.
    fn spill_limits(&self) -> Result<Option<SpillLimits>, Error> {
        if self.spill_max_bytes == 0 {
            return Ok(None);
        }
        let dir = self.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        if !dir.is_dir() {
            return Err(Error::InvalidSetting {
                name: "spill_dir",
                reason: format!("{} is not a directory", dir.display()),
            });
        }
        Ok(Some(SpillLimits {
            dir,
            max_bytes: self.spill_max_bytes,
        }))
    }

    fn validate_limits(&self) -> Result<(), Error> {
        let l = &self.limits;
        let checks: [(&'static str, bool, &str); 8] = [
            ("batch_max_entries", l.batch_entries >= 1, "at least 1"),
            (
                "batch_max_bytes",
                (1..=10 * 1024 * 1024).contains(&l.batch_bytes),
                "1 byte to 10 MiB (the collector's body limit)",
            ),
            ("batch_interval", !l.batch_interval.is_zero(), "above zero"),
            ("queue_max_entries", l.queue_entries >= 1, "at least 1"),
            ("queue_max_bytes", l.queue_bytes >= 1, "at least 1"),
            ("max_entry_bytes", self.max_entry_bytes >= 1, "at least 1"),
            (
                "request_timeout",
                !self.request_timeout.is_zero(),
                "above zero",
            ),
            (
                "retry_backoff",
                !self.backoff.0.is_zero() && self.backoff.0 <= self.backoff.1,
                "0 < min <= max",
            ),
        ];
        match checks.into_iter().find(|(_, ok, _)| !ok) {
            Some((name, _, reason)) => Err(Error::InvalidSetting {
                name,
                reason: reason.to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// The collector's rule for service names (they become file names).
fn validate_service(service: &str) -> Result<(), Error> {
    let ok = (1..=128).contains(&service.len())
        && !service.starts_with('.')
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidService(service.to_owned()))
    }
}

/// `http://host:port[/prefix]` → `http://host:port[/prefix]/logs`.
fn logs_url(endpoint: &str) -> Result<reqwest::Url, Error> {
    let invalid = |reason: String| Error::InvalidEndpoint {
        url: endpoint.to_owned(),
        reason,
    };
    let mut url = reqwest::Url::parse(endpoint.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "the scheme must be http or https, with a host".into(),
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/logs") {
        url.set_path(&format!("{path}/logs"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_follow_the_collector_rule() {
        for ok in ["checkout", "a", "web-1.eu_west", &"x".repeat(128)] {
            assert!(validate_service(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "sp ace", "ünï", &"x".repeat(129)] {
            assert!(validate_service(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_get_the_logs_path() {
        let url = |e: &str| logs_url(e).map(|u| u.to_string());
        assert_eq!(
            url("http://127.0.0.1:8005").unwrap(),
            "http://127.0.0.1:8005/logs"
        );
        assert_eq!(url("http://h:1/").unwrap(), "http://h:1/logs");
        assert_eq!(
            url("http://h:1/estuary/").unwrap(),
            "http://h:1/estuary/logs"
        );
        assert_eq!(url("http://h:1/logs").unwrap(), "http://h:1/logs");
        assert!(url("ftp://h/").is_err());
        assert!(url("not a url").is_err());
    }

    #[test]
    fn bad_settings_are_named() {
        let err = Builder::new("svc")
            .batch_max_entries(0)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("batch_max_entries"), "{err}");
        let err = Builder::new("svc").auth_token("a b").build().unwrap_err();
        assert!(matches!(err, Error::InvalidAuthToken));
        let err = Builder::new("svc")
            .static_field("level", 1)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidStaticField(_)));
        let err = Builder::new("svc")
            .spill_dir("/no/such/directory")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("spill_dir"), "{err}");
    }

    #[test]
    fn spilling_is_on_by_default_in_the_temporary_directory_and_0_turns_it_off() {
        let on = Builder::new("svc").spill_limits().unwrap().unwrap();
        assert_eq!(on.dir, std::env::temp_dir());
        assert_eq!(on.max_bytes, defaults::SPILL_MAX_BYTES);
        let off = Builder::new("svc").spill_max_bytes(0).spill_dir("/no/such");
        assert_eq!(off.spill_limits().unwrap(), None);
    }
}
