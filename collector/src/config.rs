//! Every setting of the collector in one place: a flag for each, each also read from an
//! environment variable. The seed's variables (`PORT`, `LOG_DIR`, `REDIS_URL`,
//! `SERVICE_NAME`) keep their meaning.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::store::FsyncPolicy;

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
/// Default number of commits the live ring holds for slow stream readers.
pub const DEFAULT_LIVE_BUFFER: usize = 256;
/// Default seconds between SSE heartbeat comments.
pub const DEFAULT_SSE_HEARTBEAT_SECS: u64 = 15;

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
    pub serve: ServeConfig,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector (the default).
    Serve(ServeConfig),
    /// Follow a collector's live stream, one readable line per entry.
    Tail(crate::cli::tail::TailArgs),
}

/// Settings of `estuary serve`.
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use estuary_collector::config::ServeConfig;
///
/// let config = ServeConfig::parse_from(["serve", "--log-dir", "/var/log/estuary"]);
/// assert_eq!(config.port, 8005);
/// ```
#[derive(Debug, Clone, Parser)]
pub struct ServeConfig {
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

    /// Prefix of the Redis channels: entries go to `<prefix>all` and `<prefix><service>`.
    #[arg(long, env = "ESTUARY_REDIS_PREFIX", default_value = crate::fanout::DEFAULT_PREFIX)]
    pub redis_prefix: String,

    /// Commits queued for Redis; when Redis is slower than ingestion beyond this, entries
    /// are skipped (counted in `/health`), never delaying ingestion.
    #[arg(long, env = "ESTUARY_FANOUT_QUEUE", default_value_t = DEFAULT_FANOUT_QUEUE)]
    pub fanout_queue: usize,

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
    #[arg(long, env = "ESTUARY_FSYNC", value_enum, default_value_t = FsyncPolicy::Never)]
    pub fsync: FsyncPolicy,

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
}

impl ServeConfig {
    /// The socket address to listen on.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use estuary_collector::config::ServeConfig;
    ///
    /// let config = ServeConfig::parse_from(["serve", "--port", "9000"]);
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
    /// use estuary_collector::config::ServeConfig;
    ///
    /// let config = ServeConfig::parse_from(["serve", "--redis-url", ""]);
    /// assert_eq!(config.redis_url(), None);
    /// ```
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }
}
