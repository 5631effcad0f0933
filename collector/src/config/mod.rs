//! The command line, in one place: a flag for each setting, each also read from an
//! environment variable. The original API's variables (`PORT`, `LOG_DIR`, `REDIS_URL`,
//! `SERVICE_NAME`) keep their meaning.
//!
//! Flags are parsed once ([`Cli`], [`ServeArgs`] and its groups in `groups.rs`) and turned
//! into the domain's own settings once ([`ServeArgs::settings`] in `settings.rs`): the store,
//! fan-out, forwarders, protection and access modules never see clap or these structs.

mod groups;
mod settings;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use groups::*;
pub use settings::{QueryBackendSettings, Settings, SettingsError};

/// Default TCP port.
pub const DEFAULT_PORT: u16 = 8005;
/// Default bind address: loopback, so a fresh install is not reachable from the network.
pub const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Default storage directory.
pub const DEFAULT_LOG_DIR: &str = "./logs";
/// Default name reported by `/health`.
pub const DEFAULT_SERVICE_NAME: &str = "logging-service";
/// Default cap on a request body, after decompression: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Default cap on one entry: 1 MiB.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 2 * 1024 * 1024;
/// Default most entries one request may hold.
pub const DEFAULT_MAX_REQUEST_ENTRIES: usize = 100_000;
/// Default number of appends a service's writer queues before callers wait.
pub const DEFAULT_WRITER_QUEUE: usize = 1024;
/// Default cap on the bytes one group commit writes at once: 8 MiB.
pub const DEFAULT_MAX_COMMIT_BYTES: usize = 8 * 1024 * 1024;

/// Default number of commits queued for Redis before entries are skipped.
pub const DEFAULT_FANOUT_QUEUE: usize = 4096;
/// Default cap on bytes queued for Redis: 4 MiB, about 200 ms of publishing at the default
/// rate cap with ~200-byte entries; what waits longer is skipped, not held in memory.
pub const DEFAULT_FANOUT_QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Default cap on entries published to Redis per second.
pub const DEFAULT_FANOUT_MAX_RATE: u32 = 100_000;
/// Default number of commits the live ring holds for slow stream readers.
pub const DEFAULT_LIVE_BUFFER: usize = 256;
/// Default seconds between SSE heartbeat comments.
pub const DEFAULT_SSE_HEARTBEAT_SECS: u64 = 15;

/// Default size at which the active file rotates into a segment: 128 MiB.
pub const DEFAULT_ROTATE_BYTES: u64 = 128 * 1024 * 1024;
/// Default seconds between retention passes.
pub const DEFAULT_RETENTION_INTERVAL_SECS: u64 = 60;

/// The `estuary` command line.
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use estuary_collector::config::Cli;
///
/// // No subcommand means `serve`.
/// let cli = Cli::parse_from(["estuary", "--port", "9000"]);
/// assert!(cli.command.is_none());
/// assert_eq!(cli.serve.port, 9000);
/// ```
#[derive(Debug, Parser)]
#[command(
    name = "estuary",
    version,
    about = "Estuary: one place to send logs, one place to read them.",
    long_about = None,
    help_template = TOP_HELP,
    after_help = TOP_EXAMPLES
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without a subcommand, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve` when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `estuary --help`: the commands, not the collector's flags (those are in `serve --help`).
const TOP_HELP: &str = "{about-with-newline}
{usage-heading} {usage}

Commands:
{subcommands}

Options:
  -h, --help     Print help
  -V, --version  Print version{after-help}";

/// Examples under `estuary --help`.
const TOP_EXAMPLES: &str = "Without a command, estuary runs `serve` with the flags given \
(see `estuary serve --help`).

Examples:
  estuary                                   a collector on 127.0.0.1:8005, storing under ./logs
  estuary serve --bind 0.0.0.0 --log-dir /var/lib/estuary
  estuary query checkout --since 1h         read what checkout logged in the last hour
  estuary tail --level warn                 follow every service, warnings and worse
  ESTUARY_TOKEN=… estuary query --all-services --grep timeout";

/// Examples under `estuary serve --help`, one per group of flags.
const SERVE_EXAMPLES: &str = "Examples, by group:
  Network     estuary serve --bind 0.0.0.0 --port 8005
  Storage     estuary serve --log-dir /var/lib/estuary --fsync batch
  Retention   estuary serve --rotate-daily --retain-age 14d --retain-bytes 50000000000
  Fan-out     estuary serve --redis-url redis://127.0.0.1:6379
  Live        estuary serve --live-buffer 1024 --sse-heartbeat-secs 30
  Access      ESTUARY_INGEST_TOKENS=i1 ESTUARY_QUERY_TOKENS=q1 estuary serve
  Protection  estuary serve --rate-limit 200 --max-body-bytes 5000000
  Forwarding  estuary serve --loki-url http://loki:3100 --loki-labels service,level
  Cluster     estuary serve --clickhouse-url http://clickhouse:8123 --query-backend clickhouse

Every flag can also be set by the environment variable shown with it.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector (the default).
    Serve(Box<ServeArgs>),
    /// Follow a collector's live stream, one readable line per entry.
    #[command(long_about = None)]
    Tail(crate::cli::tail::TailArgs),
    /// Search a collector's stored entries: one service, several, or all.
    #[command(long_about = None)]
    Query(crate::cli::query::QueryArgs),
    /// Count a collector's entries over time: bars per bucket, stacked by level.
    Stats(crate::cli::stats::StatsArgs),
}

/// Settings of `estuary serve`, grouped under headings in `--help`.
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use estuary_collector::config::ServeArgs;
///
/// let config = ServeArgs::parse_from(["serve", "--log-dir", "/var/log/estuary"]);
/// assert_eq!(config.port, 8005);
/// ```
#[derive(Debug, Clone, Parser)]
#[command(
    about = "Run the collector: receive logs over HTTP, store them, serve queries and live streams.",
    long_about = None,
    after_help = SERVE_EXAMPLES
)]
pub struct ServeArgs {
    /// TCP port to listen on.
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT, help_heading = "Network")]
    pub port: u16,

    /// Address to bind. Loopback by default so that a fresh collector is not open to the
    /// network; use 0.0.0.0 (or a specific interface) behind a firewall or a TLS proxy.
    #[arg(long, env = "ESTUARY_BIND", default_value_t = DEFAULT_BIND, help_heading = "Network")]
    pub bind: IpAddr,

    /// Directory holding one `<service>.log` file per service.
    #[arg(long, env = "LOG_DIR", default_value = DEFAULT_LOG_DIR, help_heading = "Storage")]
    pub log_dir: PathBuf,

    /// Redis URL for real-time fan-out (`redis://[:password@]host:port[/db]`, or
    /// `rediss://` for TLS). Unset or empty disables fan-out.
    #[arg(long, env = "REDIS_URL", help_heading = "Fan-out (Redis)")]
    pub redis_url: Option<String>,

    /// Rotate a service's active file into a segment once it reaches this many bytes
    /// (0 = never by size).
    #[arg(long, env = "ESTUARY_ROTATE_BYTES", default_value_t = DEFAULT_ROTATE_BYTES, help_heading = "Retention")]
    pub rotate_bytes: u64,

    /// Also rotate when the UTC day changes.
    #[arg(long, env = "ESTUARY_ROTATE_DAILY", help_heading = "Retention")]
    pub rotate_daily: bool,

    /// Keep the count index beside the files (histograms and time windows from the index).
    /// Turn it off only to measure what it costs: without it they read the files.
    #[arg(long, env = "ESTUARY_COUNT_INDEX", default_value_t = true, action = clap::ArgAction::Set, help_heading = "Storage")]
    pub count_index: bool,

    /// Gzip rotated segments (queries read them transparently; `zgrep` greps them).
    #[arg(long, env = "ESTUARY_COMPRESS_SEGMENTS", default_value_t = true, action = clap::ArgAction::Set, help_heading = "Retention")]
    pub compress_segments: bool,

    /// Delete segments closed longer ago than this (`12h`, `7d`, …). Unset: keep forever.
    #[arg(long, env = "ESTUARY_RETAIN_AGE", value_parser = parse_span, help_heading = "Retention")]
    pub retain_age: Option<std::time::Duration>,

    /// Keep at most this many bytes of segments per service (oldest deleted first).
    #[arg(long, env = "ESTUARY_RETAIN_SERVICE_BYTES", help_heading = "Retention")]
    pub retain_service_bytes: Option<u64>,

    /// Keep at most this many bytes of segments across all services (oldest deleted first).
    #[arg(long, env = "ESTUARY_RETAIN_BYTES", help_heading = "Retention")]
    pub retain_bytes: Option<u64>,

    /// Seconds between retention passes.
    #[arg(long, env = "ESTUARY_RETENTION_INTERVAL_SECS", default_value_t = DEFAULT_RETENTION_INTERVAL_SECS, help_heading = "Retention")]
    pub retention_interval_secs: u64,

    /// Prefix of the Redis channels: entries go to `<prefix>all` and `<prefix><service>`.
    #[arg(long, env = "ESTUARY_REDIS_PREFIX", default_value = crate::fanout::DEFAULT_PREFIX, help_heading = "Fan-out (Redis)")]
    pub redis_prefix: String,

    /// Commits queued for Redis; when Redis is slower than ingestion beyond this, entries
    /// are skipped (counted in `/health`), never delaying ingestion.
    #[arg(long, env = "ESTUARY_FANOUT_QUEUE", default_value_t = DEFAULT_FANOUT_QUEUE, help_heading = "Fan-out (Redis)")]
    pub fanout_queue: usize,

    /// Bytes queued for Redis at most; beyond, entries are skipped (counted in `/health`).
    #[arg(long, env = "ESTUARY_FANOUT_QUEUE_BYTES", default_value_t = DEFAULT_FANOUT_QUEUE_BYTES, help_heading = "Fan-out (Redis)")]
    pub fanout_queue_bytes: usize,

    /// Entries published to Redis per second at most (0 = no cap). Fan-out is a real-time
    /// view: beyond the cap entries are skipped and counted rather than slowing ingestion.
    #[arg(long, env = "ESTUARY_FANOUT_MAX_RATE", default_value_t = DEFAULT_FANOUT_MAX_RATE, help_heading = "Fan-out (Redis)")]
    pub fanout_max_rate: u32,

    /// Commits the live ring keeps for stream readers; a reader further behind is told how
    /// many entries it missed.
    #[arg(long, env = "ESTUARY_LIVE_BUFFER", default_value_t = DEFAULT_LIVE_BUFFER, help_heading = "Live streams")]
    pub live_buffer: usize,

    /// Seconds between heartbeat comments on idle live streams (keeps proxies from
    /// closing them).
    #[arg(long, env = "ESTUARY_SSE_HEARTBEAT_SECS", default_value_t = DEFAULT_SSE_HEARTBEAT_SECS, help_heading = "Live streams")]
    pub sse_heartbeat_secs: u64,

    /// Name this collector reports in `/health`.
    #[arg(long, env = "SERVICE_NAME", default_value = DEFAULT_SERVICE_NAME, help_heading = "Network")]
    pub service_name: String,

    /// When an acknowledgement is sent: `never` = after the write reaches the OS (survives a
    /// crash of the collector, not a power loss); `batch` = after each group commit is
    /// fdatasync'ed (survives power loss, costs one disk flush per group).
    #[arg(long, env = "ESTUARY_FSYNC", value_enum, default_value_t = FsyncArg::Never, help_heading = "Storage")]
    pub fsync: FsyncArg,

    /// Largest accepted request body in bytes, checked before buffering and again after
    /// decompression (413 beyond it).
    #[arg(long, env = "ESTUARY_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, help_heading = "Protection")]
    pub max_body_bytes: usize,

    /// Largest accepted single entry in bytes (413 beyond it).
    #[arg(long, env = "ESTUARY_MAX_ENTRY_BYTES", default_value_t = DEFAULT_MAX_ENTRY_BYTES, help_heading = "Protection")]
    pub max_entry_bytes: usize,

    /// Most entries one request may hold (413 beyond it), whatever their size: 9 MiB of
    /// `{}` lines would otherwise be three million entries.
    #[arg(long, env = "ESTUARY_MAX_REQUEST_ENTRIES", default_value_t = DEFAULT_MAX_REQUEST_ENTRIES, help_heading = "Protection")]
    pub max_request_entries: usize,

    /// Appends a service's writer queues before new requests wait for room.
    #[arg(long, env = "ESTUARY_WRITER_QUEUE", default_value_t = DEFAULT_WRITER_QUEUE, help_heading = "Storage")]
    pub writer_queue: usize,

    /// Most files the writers keep open together; beyond, the least recently used writer
    /// closes its files first. Default: half the process's open-file limit (raised to its
    /// hard limit at start-up).
    #[arg(long, env = "ESTUARY_MAX_OPEN_FILES", value_parser = clap::value_parser!(u64).range(2..), help_heading = "Storage")]
    pub max_open_files: Option<u64>,

    /// Seconds a service's writer may sit idle before it closes its files.
    #[arg(long, env = "ESTUARY_WRITER_IDLE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Storage")]
    pub writer_idle_secs: u64,

    /// Most bytes one group commit writes at once.
    #[arg(long, env = "ESTUARY_MAX_COMMIT_BYTES", default_value_t = DEFAULT_MAX_COMMIT_BYTES, help_heading = "Storage")]
    pub max_commit_bytes: usize,

    /// Origins allowed by CORS, comma-separated. Empty (the default) allows
    /// any origin, which browser dashboards and front-end loggers rely on.
    #[arg(
        long,
        env = "ESTUARY_CORS_ORIGINS",
        value_delimiter = ',',
        help_heading = "Network"
    )]
    pub cors_origins: Vec<String>,

    /// Who may call the API.
    #[command(flatten, next_help_heading = "Access")]
    pub access: AccessArgs,

    /// Rate limits, timeouts and caps.
    #[command(flatten, next_help_heading = "Protection")]
    pub protect: ProtectArgs,

    /// Forwarding to Loki, Elasticsearch and ClickHouse.
    #[command(
        flatten,
        next_help_heading = "Forwarding (Loki, Elasticsearch, ClickHouse)"
    )]
    pub forward: ForwardArgs,

    /// Where queries, histograms, facets and `/services` are answered from: this
    /// collector's files, or the ClickHouse table every collector forwards to (needs
    /// `--clickhouse-url`).
    #[arg(long, env = "ESTUARY_QUERY_BACKEND", value_enum, default_value_t = QueryBackendArg::Files, help_heading = "Storage")]
    pub query_backend: QueryBackendArg,
}

/// `--query-backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryBackendArg {
    /// This collector's files.
    Files,
    /// The ClickHouse table of `--clickhouse-url` (all collectors' entries).
    Clickhouse,
}

/// `--clickhouse-compression`: how insert bodies travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// gzip (level 1): less network, more CPU on both sides.
    Gzip,
    /// As they are: for a ClickHouse on the same machine or a fast network.
    None,
}

/// `--fsync`: when a write counts as done (see `store::FsyncPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FsyncArg {
    /// Acknowledge once the OS has the bytes: survives a collector crash, not power loss.
    Never,
    /// `fdatasync` each group commit before acknowledging: survives power loss.
    Batch,
}

/// Parses `30s`, `15m`, `2h`, `7d` for clap.
fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    crate::timefmt::parse_span(text)
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| format!("{text:?} is not a span like 30s, 15m, 2h or 7d"))
}

impl ServeArgs {
    /// The socket address to listen on.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use estuary_collector::config::ServeArgs;
    ///
    /// let config = ServeArgs::parse_from(["serve", "--port", "9000"]);
    /// assert_eq!(config.listen_addr().to_string(), "127.0.0.1:9000");
    /// ```
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The Redis URL, or `None` when fan-out is disabled (unset or empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use estuary_collector::config::ServeArgs;
    ///
    /// let config = ServeArgs::parse_from(["serve", "--redis-url", ""]);
    /// assert_eq!(config.redis_url(), None);
    /// ```
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }
}
