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
pub use settings::{Settings, SettingsError};

/// Default TCP port (the seed's).
pub const DEFAULT_PORT: u16 = 8005;
/// Default bind address: loopback, so a fresh install is not reachable from the network.
pub const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Default storage directory.
pub const DEFAULT_LOG_DIR: &str = "./logs";
/// Default name reported by `/health` (the seed's).
pub const DEFAULT_SERVICE_NAME: &str = "logging-service";
/// Default cap on a request body, after decompression: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Default cap on one entry: 1 MiB.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 1024 * 1024;
/// Default number of appends a service's writer queues before callers wait.
pub const DEFAULT_WRITER_QUEUE: usize = 1024;
/// Default cap on the bytes one group commit writes at once: 8 MiB.
pub const DEFAULT_MAX_COMMIT_BYTES: usize = 8 * 1024 * 1024;

/// Default number of commits queued for Redis before entries are skipped.
pub const DEFAULT_FANOUT_QUEUE: usize = 4096;
/// Default cap on bytes queued for Redis: 16 MiB.
pub const DEFAULT_FANOUT_QUEUE_BYTES: usize = 16 * 1024 * 1024;
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
    about = "Estuary: one place to send logs, one place to read them."
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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector (the default).
    Serve(Box<ServeArgs>),
    /// Follow a collector's live stream, one readable line per entry.
    Tail(crate::cli::tail::TailArgs),
    /// Search a collector's stored entries.
    Query(crate::cli::query::QueryArgs),
    /// Count a collector's entries over time: bars per bucket, stacked by level.
    Stats(crate::cli::stats::StatsArgs),
}

/// Settings of `estuary serve`.
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
pub struct ServeArgs {
    /// TCP port to listen on.
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Address to bind. Loopback by default so that a fresh collector is not open to the
    /// network; use 0.0.0.0 (or a specific interface) behind a firewall or a TLS proxy.
    #[arg(long, env = "ESTUARY_BIND", default_value_t = DEFAULT_BIND)]
    pub bind: IpAddr,

    /// Directory holding one `<service>.log` file per service.
    #[arg(long, env = "LOG_DIR", default_value = DEFAULT_LOG_DIR)]
    pub log_dir: PathBuf,

    /// Redis URL for real-time fan-out (`redis://[:password@]host:port[/db]`, or
    /// `rediss://` for TLS). Unset or empty disables fan-out.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Rotate a service's active file into a segment once it reaches this many bytes
    /// (0 = never by size).
    #[arg(long, env = "ESTUARY_ROTATE_BYTES", default_value_t = DEFAULT_ROTATE_BYTES)]
    pub rotate_bytes: u64,

    /// Also rotate when the UTC day changes.
    #[arg(long, env = "ESTUARY_ROTATE_DAILY")]
    pub rotate_daily: bool,

    /// Keep the count index beside the files (histograms and time windows from the index).
    /// Turn it off only to measure what it costs: without it they read the files.
    #[arg(long, env = "ESTUARY_COUNT_INDEX", default_value_t = true, action = clap::ArgAction::Set)]
    pub count_index: bool,

    /// Gzip rotated segments (queries read them transparently; `zgrep` greps them).
    #[arg(long, env = "ESTUARY_COMPRESS_SEGMENTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub compress_segments: bool,

    /// Delete segments closed longer ago than this (`12h`, `7d`, …). Unset: keep forever.
    #[arg(long, env = "ESTUARY_RETAIN_AGE", value_parser = parse_span)]
    pub retain_age: Option<std::time::Duration>,

    /// Keep at most this many bytes of segments per service (oldest deleted first).
    #[arg(long, env = "ESTUARY_RETAIN_SERVICE_BYTES")]
    pub retain_service_bytes: Option<u64>,

    /// Keep at most this many bytes of segments across all services (oldest deleted first).
    #[arg(long, env = "ESTUARY_RETAIN_BYTES")]
    pub retain_bytes: Option<u64>,

    /// Seconds between retention passes.
    #[arg(long, env = "ESTUARY_RETENTION_INTERVAL_SECS", default_value_t = DEFAULT_RETENTION_INTERVAL_SECS)]
    pub retention_interval_secs: u64,

    /// Prefix of the Redis channels: entries go to `<prefix>all` and `<prefix><service>`.
    #[arg(long, env = "ESTUARY_REDIS_PREFIX", default_value = crate::fanout::DEFAULT_PREFIX)]
    pub redis_prefix: String,

    /// Commits queued for Redis; when Redis is slower than ingestion beyond this, entries
    /// are skipped (counted in `/health`), never delaying ingestion.
    #[arg(long, env = "ESTUARY_FANOUT_QUEUE", default_value_t = DEFAULT_FANOUT_QUEUE)]
    pub fanout_queue: usize,

    /// Bytes queued for Redis at most; beyond, entries are skipped (counted in `/health`).
    #[arg(long, env = "ESTUARY_FANOUT_QUEUE_BYTES", default_value_t = DEFAULT_FANOUT_QUEUE_BYTES)]
    pub fanout_queue_bytes: usize,

    /// Entries published to Redis per second at most (0 = no cap). Fan-out is a real-time
    /// view: beyond the cap entries are skipped and counted rather than slowing ingestion.
    #[arg(long, env = "ESTUARY_FANOUT_MAX_RATE", default_value_t = DEFAULT_FANOUT_MAX_RATE)]
    pub fanout_max_rate: u32,

    /// Commits the live ring keeps for stream readers; a reader further behind is told how
    /// many entries it missed.
    #[arg(long, env = "ESTUARY_LIVE_BUFFER", default_value_t = DEFAULT_LIVE_BUFFER)]
    pub live_buffer: usize,

    /// Seconds between heartbeat comments on idle live streams (keeps proxies from
    /// closing them).
    #[arg(long, env = "ESTUARY_SSE_HEARTBEAT_SECS", default_value_t = DEFAULT_SSE_HEARTBEAT_SECS)]
    pub sse_heartbeat_secs: u64,

    /// Name this collector reports in `/health`.
    #[arg(long, env = "SERVICE_NAME", default_value = DEFAULT_SERVICE_NAME)]
    pub service_name: String,

    /// When an acknowledgement is sent: `never` = after the write reaches the OS (survives a
    /// crash of the collector, not a power loss); `batch` = after each group commit is
    /// fdatasync'ed (survives power loss, costs one disk flush per group).
    #[arg(long, env = "ESTUARY_FSYNC", value_enum, default_value_t = FsyncArg::Never)]
    pub fsync: FsyncArg,

    /// Largest accepted request body in bytes, checked before buffering and again after
    /// decompression (413 beyond it).
    #[arg(long, env = "ESTUARY_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Largest accepted single entry in bytes (413 beyond it).
    #[arg(long, env = "ESTUARY_MAX_ENTRY_BYTES", default_value_t = DEFAULT_MAX_ENTRY_BYTES)]
    pub max_entry_bytes: usize,

    /// Appends a service's writer queues before new requests wait for room.
    #[arg(long, env = "ESTUARY_WRITER_QUEUE", default_value_t = DEFAULT_WRITER_QUEUE)]
    pub writer_queue: usize,

    /// Most bytes one group commit writes at once.
    #[arg(long, env = "ESTUARY_MAX_COMMIT_BYTES", default_value_t = DEFAULT_MAX_COMMIT_BYTES)]
    pub max_commit_bytes: usize,

    /// Origins allowed by CORS, comma-separated. Empty (the default, like the seed) allows
    /// any origin, which browser dashboards and front-end loggers rely on.
    #[arg(long, env = "ESTUARY_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Who may call the API.
    #[command(flatten)]
    pub access: AccessArgs,

    /// Rate limits, timeouts and caps.
    #[command(flatten)]
    pub protect: ProtectArgs,

    /// Forwarding to Loki and Elasticsearch.
    #[command(flatten)]
    pub forward: ForwardArgs,
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
