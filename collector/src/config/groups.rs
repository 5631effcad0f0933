//! The flag groups of `estuary serve`: access, protection, forwarding.

use std::path::PathBuf;

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
/// token configured anywhere the API is open.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessArgs {
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
pub struct ProtectArgs {
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

    /// TCP connections one client address may hold at once; its further connections are
    /// closed at once, so one client's idle connections cannot fill `--max-connections`.
    #[arg(long, env = "ESTUARY_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)]
    pub max_connections_per_address: usize,

    /// Live streams (SSE) open at once; more are refused with 503.
    #[arg(long, env = "ESTUARY_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS)]
    pub max_streams: usize,

    /// Bytes one query request may read before it answers with what it found, a
    /// `next_cursor` and `"stopped":"scan_bytes"` (the client continues if it wants). 0 = no
    /// limit.
    #[arg(long, env = "ESTUARY_MAX_SCAN_BYTES", default_value_t = DEFAULT_MAX_SCAN_BYTES)]
    pub max_scan_bytes: u64,

    /// Seconds one query request may scan before it answers the same way
    /// (`"stopped":"scan_time"`). 0 = no limit.
    #[arg(long, env = "ESTUARY_MAX_SCAN_SECS", default_value_t = DEFAULT_MAX_SCAN_SECS)]
    pub max_scan_secs: u64,

    /// Queries (pages, histograms, facets) scanning at once; more wait their turn, so
    /// ingestion keeps its CPU under query load. 0 = the number of CPUs.
    #[arg(long, env = "ESTUARY_MAX_QUERIES", default_value_t = 0)]
    pub max_queries: usize,
}

/// Default connections per client address.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 1024;
/// Default bytes one query may read: 2 GiB.
pub const DEFAULT_MAX_SCAN_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Default seconds one query may scan.
pub const DEFAULT_MAX_SCAN_SECS: u64 = 10;

/// Default entries per forwarded request.
pub const DEFAULT_FORWARD_BATCH_ENTRIES: usize = 10_000;
/// Default bytes (of stored lines) per forwarded request: 4 MiB.
pub const DEFAULT_FORWARD_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Default entries per ClickHouse insert.
pub const DEFAULT_CLICKHOUSE_BATCH_ENTRIES: usize = 100_000;
/// Default bytes (of stored lines) per ClickHouse insert: 32 MiB.
pub const DEFAULT_CLICKHOUSE_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// Default milliseconds entries gather after a commit before a partial batch is sent.
pub const DEFAULT_FORWARD_BATCH_WAIT_MS: u64 = 200;
/// Default first retry delay in milliseconds.
pub const DEFAULT_FORWARD_RETRY_MIN_MS: u64 = 200;
/// Default longest retry delay in milliseconds.
pub const DEFAULT_FORWARD_RETRY_MAX_MS: u64 = 30_000;
/// Default seconds one forwarding request may take.
pub const DEFAULT_FORWARD_TIMEOUT_SECS: u64 = 30;

/// Forwarding to Grafana Loki, Elasticsearch/OpenSearch and ClickHouse (see `forward`). Each
/// destination whose URL is set gets its own forwarder; both may run at once.
#[derive(Debug, Clone, clap::Args)]
pub struct ForwardArgs {
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

    /// ClickHouse HTTP interface URL (`http://clickhouse:8123`): entries are inserted into
    /// `--clickhouse-database`.`--clickhouse-table`, which `--query-backend clickhouse`
    /// reads too.
    #[arg(long, env = "ESTUARY_CLICKHOUSE_URL")]
    pub clickhouse_url: Option<String>,

    /// ClickHouse database.
    #[arg(long, env = "ESTUARY_CLICKHOUSE_DATABASE", default_value = crate::forward::clickhouse::DEFAULT_DATABASE)]
    pub clickhouse_database: String,

    /// ClickHouse table.
    #[arg(long, env = "ESTUARY_CLICKHOUSE_TABLE", default_value = crate::forward::clickhouse::DEFAULT_TABLE)]
    pub clickhouse_table: String,

    /// ClickHouse user.
    #[arg(long, env = "ESTUARY_CLICKHOUSE_USER")]
    pub clickhouse_user: Option<String>,

    /// ClickHouse password.
    #[arg(long, env = "ESTUARY_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,

    /// Create the ClickHouse table when it is missing (`false` to leave DDL to operators).
    #[arg(long, env = "ESTUARY_CLICKHOUSE_CREATE_TABLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub clickhouse_create_table: bool,

    /// Compression of ClickHouse insert bodies: `gzip` (less network) or `none` (less CPU on
    /// both sides, for a ClickHouse on the same machine or a fast network).
    #[arg(long, env = "ESTUARY_CLICKHOUSE_COMPRESSION", value_enum, default_value_t = super::CompressionArg::Gzip)]
    pub clickhouse_compression: super::CompressionArg,

    /// Most entries per ClickHouse insert (ClickHouse wants few large inserts: each one
    /// makes a part it has to merge later).
    #[arg(long, env = "ESTUARY_CLICKHOUSE_BATCH_ENTRIES", default_value_t = DEFAULT_CLICKHOUSE_BATCH_ENTRIES)]
    pub clickhouse_batch_entries: usize,

    /// Most bytes of stored lines per ClickHouse insert (roughly). The forwarder holds up
    /// to two batches (one in flight, the next being built).
    #[arg(long, env = "ESTUARY_CLICKHOUSE_BATCH_BYTES", default_value_t = DEFAULT_CLICKHOUSE_BATCH_BYTES)]
    pub clickhouse_batch_bytes: usize,

    /// This collector's name in ClickHouse rows; with the stream position it identifies a
    /// row, so every collector writing to one table needs its own. Default:
    /// `<hostname>:<port>`.
    #[arg(long, env = "ESTUARY_COLLECTOR_NAME")]
    pub collector_name: Option<String>,

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
