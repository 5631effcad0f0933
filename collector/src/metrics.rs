//! The collector's own metrics, rendered in Prometheus text format by `GET /metrics`.
//!
//! Counters and histograms are recorded through the `metrics` facade into a
//! `metrics-exporter-prometheus` recorder installed once per process (no listener of its
//! own: the collector's router serves the text). Values that already live elsewhere — bytes
//! on disk, live streams, fan-out counters — are read when scraped ([`Scrape`]), so they
//! cost nothing per request and never go stale.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `estuary_ingested_entries_total` | counter | `service` (the first 1,000 services; the rest as `(other)`) |
//! | `estuary_ingested_bytes_total` | counter | `service` (as above) |
//! | `estuary_rejected_requests_total` | counter | `reason`, `status` |
//! | `estuary_commit_duration_seconds` | histogram | |
//! | `estuary_storage_failing_services` | gauge | |
//! | `estuary_forwarder_lag_bytes`, `estuary_forwarder_lag_entries` | gauge | `forwarder` |
//! | `estuary_disk_bytes` | gauge | `service` |
//! | `estuary_fanout_published_total`, `estuary_fanout_skipped_total` | counter | |
//! | `estuary_fanout_connected` | gauge | |
//! | `estuary_live_streams` | gauge | |
//! | `estuary_uptime_seconds` | gauge | |
//! | `estuary_build_info` | gauge (always 1) | `version` |

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Entries stored, per service.
pub const INGESTED_ENTRIES: &str = "estuary_ingested_entries_total";
/// Bytes stored (as written, with the added timestamps), per service.
pub const INGESTED_BYTES: &str = "estuary_ingested_bytes_total";
/// Requests answered with an error, per reason and status.
pub const REJECTED_REQUESTS: &str = "estuary_rejected_requests_total";
/// How long each group commit (write, and fdatasync with `--fsync batch`) took.
pub const COMMIT_SECONDS: &str = "estuary_commit_duration_seconds";
/// Bytes a forwarder has yet to send, per forwarder.
pub const FORWARDER_LAG_BYTES: &str = "estuary_forwarder_lag_bytes";
/// Entries a forwarder has yet to send, per forwarder.
pub const FORWARDER_LAG_ENTRIES: &str = "estuary_forwarder_lag_entries";

/// Services whose last write failed (0 while storage works; `/health` says `degraded`).
pub const STORAGE_FAILING: &str = "estuary_storage_failing_services";

/// Commit latency buckets, in seconds: from a page-cache write to a slow disk flush.
const COMMIT_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    5.0,
];

/// How often histogram samples are folded into buckets when nobody scrapes, which keeps
/// their memory bounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (the first call
/// does; later calls return the same handle) and returns the handle that renders it.
///
/// # Examples
///
/// ```
/// estuary_collector::metrics::record_rejected("not_found", axum::http::StatusCode::NOT_FOUND);
/// let text = estuary_collector::metrics::install().render();
/// ```
pub fn install() -> PrometheusHandle {
    HANDLE.get_or_init(build).clone()
}

fn build() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(COMMIT_SECONDS.into()), &COMMIT_BUCKETS)
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!(
            "another metrics recorder is installed; /metrics shows only scrape-time values"
        );
    }
    describe();
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("estuary-metrics".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        });
    if let Err(err) = spawned {
        tracing::warn!(%err, "could not start the metrics upkeep thread");
    }
    handle
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(INGESTED_ENTRIES, "Entries stored, per service.");
    describe_counter!(
        INGESTED_BYTES,
        "Bytes stored (with added timestamps), per service."
    );
    describe_counter!(
        REJECTED_REQUESTS,
        "Requests answered with an error, by reason and status."
    );
    describe_histogram!(
        COMMIT_SECONDS,
        "Seconds per group commit (write, and fdatasync when on)."
    );
    describe_gauge!(
        FORWARDER_LAG_BYTES,
        "Bytes stored but not yet forwarded, per forwarder."
    );
    describe_gauge!(
        FORWARDER_LAG_ENTRIES,
        "Entries stored but not yet forwarded, per forwarder."
    );
    describe_gauge!(
        STORAGE_FAILING,
        "Services whose last write failed (0 while storage works)."
    );
    metrics::gauge!(STORAGE_FAILING).set(0.0);
}

/// One service's ingestion counters, registered once (by the service's writer) so that a
/// commit costs two atomic additions instead of a registry lookup and a label set per request.
#[derive(Debug, Clone)]
pub struct ServiceCounters {
    entries: metrics::Counter,
    bytes: metrics::Counter,
    commit_seconds: metrics::Histogram,
}

impl ServiceCounters {
    /// The counters of `service` (or of [`OTHER_SERVICES`] past [`MAX_SERVICE_SERIES`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let counters = estuary_collector::metrics::ServiceCounters::of("checkout");
    /// counters.stored(3, 600);
    /// ```
    pub fn of(service: &str) -> Self {
        let labels = [("service", service_label(service.to_owned()))];
        ServiceCounters {
            entries: metrics::counter!(INGESTED_ENTRIES, &labels),
            bytes: metrics::counter!(INGESTED_BYTES, &labels),
            commit_seconds: metrics::histogram!(COMMIT_SECONDS),
        }
    }

    /// Counts `entries` entries of `bytes` bytes (with the added timestamps) as stored.
    pub fn stored(&self, entries: usize, bytes: usize) {
        self.entries.increment(entries as u64);
        self.bytes.increment(bytes as u64);
    }

    /// Starts timing a group commit into [`COMMIT_SECONDS`].
    pub fn time_commit(&self) -> CommitTimer {
        CommitTimer(Instant::now(), self.commit_seconds.clone())
    }
}

/// The most services with series of their own: each series stays in memory for the life
/// of the process, so a flood of distinct services must not grow it without bound.
pub const MAX_SERVICE_SERIES: usize = 1000;

/// The label value under which services beyond [`MAX_SERVICE_SERIES`] are counted (not a
/// valid service name, so it never collides with one).
pub const OTHER_SERVICES: &str = "(other)";

/// `service` itself while it has, or can get, a series of its own; else [`OTHER_SERVICES`].
fn service_label(service: String) -> String {
    static LABELLED: OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        OnceLock::new();
    let mut labelled = LABELLED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if labelled.contains(&service) {
        return service;
    }
    if labelled.len() < MAX_SERVICE_SERIES {
        labelled.insert(service.clone());
        return service;
    }
    OTHER_SERVICES.to_owned()
}

/// Counts a request refused with `status` for `reason` (a short snake_case word).
pub fn record_rejected(reason: &'static str, status: StatusCode) {
    metrics::counter!(REJECTED_REQUESTS, "reason" => reason, "status" => status.as_u16().to_string())
        .increment(1);
}

/// Measures one group commit into [`COMMIT_SECONDS`] when dropped; made by
/// [`ServiceCounters::time_commit`].
#[must_use = "the commit is measured when the timer is dropped"]
pub struct CommitTimer(Instant, metrics::Histogram);

impl Drop for CommitTimer {
    fn drop(&mut self) {
        self.1.record(self.0.elapsed().as_secs_f64());
    }
}

/// Sets how far the forwarder `forwarder` is behind the files, in bytes and entries. For
/// forwarders to call whenever they learn their position (after each send is enough).
///
/// # Examples
///
/// ```
/// estuary_collector::metrics::set_forwarder_lag("loki", 4096, 12);
/// ```
pub fn set_forwarder_lag(forwarder: &str, bytes: u64, entries: u64) {
    let labels = [("forwarder", forwarder.to_owned())];
    metrics::gauge!(FORWARDER_LAG_BYTES, &labels).set(bytes as f64);
    metrics::gauge!(FORWARDER_LAG_ENTRIES, &labels).set(entries as f64);
}

/// Sets how many services' last write failed.
pub fn set_storage_failing(services: usize) {
    metrics::gauge!(STORAGE_FAILING).set(services as f64);
}

/// Values read at scrape time rather than recorded as they change.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Bytes on disk per service, sorted by service.
    pub disk: Vec<(String, u64)>,
    /// Live streams open.
    pub live_streams: usize,
    /// Fan-out `(published, skipped, connected)`, when fan-out is on.
    pub fanout: Option<(u64, u64, bool)>,
    /// Seconds since start.
    pub uptime_seconds: u64,
}

impl Scrape {
    /// Appends these values to `out` in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        family(
            out,
            "estuary_disk_bytes",
            "gauge",
            "Bytes on disk per service (active file and segments).",
        );
        for (service, bytes) in &self.disk {
            // Service names are [A-Za-z0-9._-]: nothing to escape.
            let _ = writeln!(out, "estuary_disk_bytes{{service=\"{service}\"}} {bytes}");
        }
        if let Some((published, skipped, connected)) = self.fanout {
            sample(
                out,
                "estuary_fanout_published_total",
                "counter",
                "Entries published to Redis.",
                published,
            );
            sample(
                out,
                "estuary_fanout_skipped_total",
                "counter",
                "Entries not published to Redis (down or slow).",
                skipped,
            );
            sample(
                out,
                "estuary_fanout_connected",
                "gauge",
                "Whether the last publish to Redis succeeded.",
                u64::from(connected),
            );
        }
        sample(
            out,
            "estuary_live_streams",
            "gauge",
            "Live streams (SSE) open.",
            self.live_streams as u64,
        );
        sample(
            out,
            "estuary_uptime_seconds",
            "gauge",
            "Seconds since the collector started.",
            self.uptime_seconds,
        );
        family(
            out,
            "estuary_build_info",
            "gauge",
            "The collector's version.",
        );
        let _ = writeln!(
            out,
            "estuary_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}
