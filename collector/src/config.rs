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
    pub serve: ServeConfig,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector (the default).
    Serve(Box<ServeConfig>),
    /// Follow a collector's live stream, one readable line per entry.
    Tail(crate::cli::tail::TailArgs),
    /// Search a collector's stored entries.
    Query(crate::cli::query::QueryArgs),
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

    /// Rotate a service's active file into a segment once it reaches this many bytes
    /// (0 = never by size).
    #[arg(long, env = "ESTUARY_ROTATE_BYTES", default_value_t = DEFAULT_ROTATE_BYTES)]
    pub rotate_bytes: u64,

    /// Also rotate when the UTC day changes.
    #[arg(long, env = "ESTUARY_ROTATE_DAILY")]
    pub rotate_daily: bool,

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

    /// Who may call the API.
    #[command(flatten)]
    pub access: AccessConfig,

    /// Rate limits, timeouts and caps.
    #[command(flatten)]
    pub protect: ProtectConfig,

    /// Forwarding to Loki and Elasticsearch.
    #[command(flatten)]
    pub forward: ForwardConfig,
}

/// Parses `30s`, `15m`, `2h`, `7d` for clap.
fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    crate::timefmt::parse_span(text)
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| format!("{text:?} is not a span like 30s, 15m, 2h or 7d"))
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

/// Default requests per second per client: 0, rate limiting off.
pub const DEFAULT_RATE_LIMIT: u32 = 0;
/// Default burst above the rate: 0, meaning as many as one second's worth.
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 0;
/// Default seconds a client has to send a whole request body.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// Default seconds a client has to send a request head (and an idle connection is kept).
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 60;
/// Default number of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;
/// Default number of live streams open at once.
pub const DEFAULT_MAX_STREAMS: usize = 1024;

/// Who may call the API: optional bearer tokens with scopes (see `api::auth`). With no
/// token configured anywhere the API is open, as the seed's was.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessConfig {
    /// Tokens that may send logs for any service (`POST /logs`), comma-separated in the
    /// variable. Clients send `Authorization: Bearer <token>` or `X-Estuary-Token: <token>`.
    #[arg(
        long = "ingest-token",
        env = "ESTUARY_INGEST_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub ingest_tokens: Vec<crate::api::auth::Secret>,

    /// Tokens that may read logs and open live streams, comma-separated in the variable.
    #[arg(
        long = "query-token",
        env = "ESTUARY_QUERY_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub query_tokens: Vec<crate::api::auth::Secret>,

    /// A file of tokens, one per line: `TOKEN SCOPES [SERVICE...]`, where SCOPES is
    /// `ingest`, `query` or `ingest,query`, and the services (if any) are the only ones the
    /// token may write. `#` starts a comment. Read once at start-up.
    #[arg(long, env = "ESTUARY_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,

    /// Require a query token for `GET /metrics` too (by default it is open, like
    /// `/health`, for scrapers on a private network).
    #[arg(long, env = "ESTUARY_METRICS_TOKEN_REQUIRED")]
    pub metrics_token_required: bool,
}

/// Protection against clients that send too much, too slowly or too many at once.
#[derive(Debug, Clone, clap::Args)]
pub struct ProtectConfig {
    /// Requests per second one client may make: per token when it sends a valid one, else
    /// per IP address. Beyond it: 429 with `Retry-After`. Counts requests, not entries, so a
    /// refused request costs nothing to read. 0 turns rate limiting off (the default).
    #[arg(long, env = "ESTUARY_RATE_LIMIT", default_value_t = DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,

    /// Requests a client may make at once above its rate (a burst); 0 = one second's worth.
    #[arg(long, env = "ESTUARY_RATE_LIMIT_BURST", default_value_t = DEFAULT_RATE_LIMIT_BURST)]
    pub rate_limit_burst: u32,

    /// Seconds a client has to send a whole request body once its headers are in; a body
    /// trickling in slower (slowloris) is cut off with 408. 0 = no limit.
    #[arg(long, env = "ESTUARY_BODY_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_TIMEOUT_SECS)]
    pub body_timeout_secs: u64,

    /// Seconds a client has to send a request's headers once the connection is ready for
    /// one: headers trickling in slower (slowloris) get the connection closed, and so does a
    /// keep-alive connection idle that long. 0 = no limit.
    #[arg(long, env = "ESTUARY_HEADER_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_TIMEOUT_SECS)]
    pub header_timeout_secs: u64,

    /// TCP connections served at once; further connections wait in the listen backlog until
    /// one closes. Keep it below the process's open-file limit (`ulimit -n`).
    #[arg(long, env = "ESTUARY_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Live streams (SSE) open at once; more are refused with 503.
    #[arg(long, env = "ESTUARY_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS)]
    pub max_streams: usize,
}

/// Default entries per forwarded request.
pub const DEFAULT_FORWARD_BATCH_ENTRIES: usize = 10_000;
/// Default bytes (of stored lines) per forwarded request: 4 MiB.
pub const DEFAULT_FORWARD_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Default milliseconds entries gather after a commit before a partial batch is sent.
pub const DEFAULT_FORWARD_BATCH_WAIT_MS: u64 = 200;
/// Default first retry delay in milliseconds.
pub const DEFAULT_FORWARD_RETRY_MIN_MS: u64 = 200;
/// Default longest retry delay in milliseconds.
pub const DEFAULT_FORWARD_RETRY_MAX_MS: u64 = 30_000;
/// Default seconds one forwarding request may take.
pub const DEFAULT_FORWARD_TIMEOUT_SECS: u64 = 30;

/// Forwarding to Grafana Loki and Elasticsearch/OpenSearch (see `forward`). Each
/// destination whose URL is set gets its own forwarder; both may run at once.
#[derive(Debug, Clone, clap::Args)]
pub struct ForwardConfig {
    /// Loki base URL (`http://loki:3100`); entries are pushed to `/loki/api/v1/push`.
    #[arg(long, env = "ESTUARY_LOKI_URL")]
    pub loki_url: Option<String>,

    /// Entry fields that become Loki labels, comma-separated (`service` is the service
    /// name). Only low-cardinality fields: per-entry fields such as `trace_id` are refused.
    #[arg(long, env = "ESTUARY_LOKI_LABELS", value_delimiter = ',', default_value = crate::forward::loki::DEFAULT_LABELS)]
    pub loki_labels: Vec<String>,

    /// Loki tenant, sent as `X-Scope-OrgID`.
    #[arg(long, env = "ESTUARY_LOKI_TENANT")]
    pub loki_tenant: Option<String>,

    /// Loki basic-auth user name.
    #[arg(long, env = "ESTUARY_LOKI_USERNAME")]
    pub loki_username: Option<String>,

    /// Loki basic-auth password.
    #[arg(long, env = "ESTUARY_LOKI_PASSWORD", hide_env_values = true)]
    pub loki_password: Option<String>,

    /// Loki bearer token (used when no user name is set).
    #[arg(long, env = "ESTUARY_LOKI_TOKEN", hide_env_values = true)]
    pub loki_token: Option<String>,

    /// Elasticsearch/OpenSearch base URL (`http://es:9200`); entries go to `/_bulk`.
    #[arg(long, env = "ESTUARY_ELASTICSEARCH_URL")]
    pub elasticsearch_url: Option<String>,

    /// Index template: `{service}`, and the entry's UTC date as `{yyyy.MM.dd}` (or any
    /// shape of `yyyy`, `MM`, `dd` in braces). A name without date may be a data stream.
    #[arg(long, env = "ESTUARY_ELASTICSEARCH_INDEX", default_value = crate::forward::elasticsearch::DEFAULT_INDEX)]
    pub elasticsearch_index: String,

    /// Elasticsearch basic-auth user name.
    #[arg(long, env = "ESTUARY_ELASTICSEARCH_USERNAME")]
    pub elasticsearch_username: Option<String>,

    /// Elasticsearch basic-auth password.
    #[arg(long, env = "ESTUARY_ELASTICSEARCH_PASSWORD", hide_env_values = true)]
    pub elasticsearch_password: Option<String>,

    /// Elasticsearch bearer token or API key value (used when no user name is set).
    #[arg(long, env = "ESTUARY_ELASTICSEARCH_TOKEN", hide_env_values = true)]
    pub elasticsearch_token: Option<String>,

    /// Most entries per forwarded request.
    #[arg(long, env = "ESTUARY_FORWARD_BATCH_ENTRIES", default_value_t = DEFAULT_FORWARD_BATCH_ENTRIES)]
    pub forward_batch_entries: usize,

    /// Most bytes of stored lines per forwarded request (roughly).
    #[arg(long, env = "ESTUARY_FORWARD_BATCH_BYTES", default_value_t = DEFAULT_FORWARD_BATCH_BYTES)]
    pub forward_batch_bytes: usize,

    /// Milliseconds entries gather after a commit before a partial batch is sent.
    #[arg(long, env = "ESTUARY_FORWARD_BATCH_WAIT_MS", default_value_t = DEFAULT_FORWARD_BATCH_WAIT_MS)]
    pub forward_batch_wait_ms: u64,

    /// First retry delay in milliseconds after a failed request (doubles each time).
    #[arg(long, env = "ESTUARY_FORWARD_RETRY_MIN_MS", default_value_t = DEFAULT_FORWARD_RETRY_MIN_MS)]
    pub forward_retry_min_ms: u64,

    /// Longest retry delay in milliseconds; retries go on for as long as the outage lasts.
    #[arg(long, env = "ESTUARY_FORWARD_RETRY_MAX_MS", default_value_t = DEFAULT_FORWARD_RETRY_MAX_MS)]
    pub forward_retry_max_ms: u64,

    /// Seconds one forwarding request may take before it is retried.
    #[arg(long, env = "ESTUARY_FORWARD_TIMEOUT_SECS", default_value_t = DEFAULT_FORWARD_TIMEOUT_SECS)]
    pub forward_timeout_secs: u64,

    /// Retention keeps segments a forwarder has not sent yet, unless it is further behind
    /// than this many bytes: then retention deletes anyway and the loss is logged as an
    /// error. Unset: a stuck forwarder holds segments forever.
    #[arg(long, env = "ESTUARY_FORWARD_RETAIN_CAP_BYTES")]
    pub forward_retain_cap_bytes: Option<u64>,
}

impl ForwardConfig {
    /// The batching and retry settings of every forwarder.
    pub fn batch_settings(&self) -> crate::forward::task::BatchSettings {
        use std::time::Duration;
        crate::forward::task::BatchSettings {
            max_entries: self.forward_batch_entries.max(1),
            max_bytes: self.forward_batch_bytes.max(1),
            wait: Duration::from_millis(self.forward_batch_wait_ms),
            retry_min: Duration::from_millis(self.forward_retry_min_ms.max(1)),
            retry_max: Duration::from_millis(
                self.forward_retry_max_ms
                    .max(self.forward_retry_min_ms)
                    .max(1),
            ),
        }
    }

    /// How long one request may take.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.forward_timeout_secs.max(1))
    }
}
