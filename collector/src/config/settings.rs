//! Flags into domain settings, once. Every other module takes its own settings type and
//! never sees clap.

use std::net::SocketAddr;
use std::time::Duration;

use super::{CompressionArg, FsyncArg, QueryBackendArg, ServeArgs};
use crate::api::auth::AccessSettings;
use crate::api::protect::Limits;
use crate::api::ApiSettings;
use crate::clickhouse::{ClickHouseConfig, Credentials, InsertSettings};
use crate::fanout::{FanoutLimits, FanoutSettings};
use crate::forward::elasticsearch::{ElasticsearchConfig, IndexTemplate};
use crate::forward::http::Auth;
use crate::forward::loki::LokiConfig;
use crate::forward::task::BatchSettings;
use crate::forward::{ForwardError, ForwardSettings};
use crate::store::{FsyncPolicy, RetentionPolicy, RotationPolicy, StoreConfig};

/// Everything `estuary serve` runs with, in the domain's own types.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// What the HTTP handlers need: names, limits, CORS, heartbeats.
    pub api: ApiSettings,
    /// Files, durability, commits, rotation.
    pub store: StoreConfig,
    /// What retention deletes (off when nothing is set).
    pub retention: RetentionPolicy,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// Commits the live ring keeps for slow stream readers.
    pub live_buffer: usize,
    /// Redis fan-out, when a URL is set.
    pub fanout: Option<FanoutSettings>,
    /// Tokens and their scopes.
    pub access: AccessSettings,
    /// Rate limits, timeouts, connection and stream caps.
    pub protect: Limits,
    /// Forwarding to Loki, Elasticsearch and ClickHouse.
    pub forward: ForwardSettings,
    /// Where queries are answered from.
    pub query_backend: QueryBackendSettings,
}

/// Where queries are answered from.
#[derive(Debug, Clone)]
pub enum QueryBackendSettings {
    /// This collector's files.
    Files,
    /// A ClickHouse table (the same the forwarder writes).
    ClickHouse(ClickHouseConfig),
}

/// A flag whose value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `--redis-url` / `REDIS_URL` is not a Redis URL.
    #[error("--redis-url (REDIS_URL) {given:?} is not a Redis URL: expected redis://[:password@]host:port[/db] or rediss://… ({source})")]
    RedisUrl {
        /// What was given.
        given: String,
        /// Why it did not parse.
        source: redis::RedisError,
    },
    /// A forwarding flag is invalid.
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// `--query-backend clickhouse` without a ClickHouse to read.
    #[error("--query-backend clickhouse needs --clickhouse-url (ESTUARY_CLICKHOUSE_URL)")]
    QueryBackendWithoutClickHouse,
}

impl ServeArgs {
    /// The domain settings these flags ask for.
    ///
    /// # Errors
    ///
    /// [`SettingsError`] naming the flag whose value cannot be used.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use estuary_collector::config::ServeArgs;
    ///
    /// let args = ServeArgs::parse_from(["serve", "--rotate-bytes", "1000", "--retain-age", "7d"]);
    /// let settings = args.settings().unwrap();
    /// assert_eq!(settings.store.rotation.max_bytes, 1000);
    /// assert!(!settings.retention.is_off());
    /// assert!(settings.fanout.is_none());
    /// ```
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let forward = self.forward()?;
        Ok(Settings {
            listen: self.listen_addr(),
            api: self.api(),
            store: self.store(),
            retention: RetentionPolicy {
                max_age: self.retain_age,
                max_service_bytes: self.retain_service_bytes,
                max_total_bytes: self.retain_bytes,
            },
            retention_interval: Duration::from_secs(self.retention_interval_secs.max(1)),
            live_buffer: self.live_buffer,
            fanout: self.fanout()?,
            access: AccessSettings {
                ingest_tokens: self.access.ingest_tokens.clone(),
                query_tokens: self.access.query_tokens.clone(),
                tokens_file: self.access.tokens_file.clone(),
                metrics_token_required: self.access.metrics_token_required,
            },
            protect: self.limits(),
            forward: forward.clone(),
            query_backend: match (self.query_backend, forward.clickhouse) {
                (QueryBackendArg::Files, _) => QueryBackendSettings::Files,
                (QueryBackendArg::Clickhouse, Some(config)) => {
                    QueryBackendSettings::ClickHouse(config)
                }
                (QueryBackendArg::Clickhouse, None) => {
                    return Err(SettingsError::QueryBackendWithoutClickHouse)
                }
            },
        })
    }

    /// The ClickHouse table's settings, when `--clickhouse-url` is set.
    fn clickhouse(&self) -> Result<Option<ClickHouseConfig>, ForwardError> {
        let flags = &self.forward;
        let Some(url) = non_empty(&flags.clickhouse_url) else {
            return Ok(None);
        };
        for (flag, given) in [
            ("database", &flags.clickhouse_database),
            ("table", &flags.clickhouse_table),
        ] {
            if !crate::clickhouse::sql::valid_identifier(given) {
                return Err(ForwardError::ClickHouseName {
                    flag,
                    given: given.clone(),
                });
            }
        }
        let collector = match flags.collector_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("{}:{}", hostname(), self.port),
        };
        Ok(Some(ClickHouseConfig {
            url: url.trim_end_matches('/').to_owned(),
            database: flags.clickhouse_database.clone(),
            table: flags.clickhouse_table.clone(),
            credentials: Credentials {
                user: flags.clickhouse_user.clone().filter(|u| !u.is_empty()),
                password: flags.clickhouse_password.clone().unwrap_or_default(),
            },
            create_table: flags.clickhouse_create_table,
            collector,
            insert: InsertSettings {
                max_rows: flags.clickhouse_batch_entries.max(1),
                max_bytes: flags.clickhouse_batch_bytes.max(1),
                gzip: flags.clickhouse_compression == CompressionArg::Gzip,
            },
        }))
    }

    fn api(&self) -> ApiSettings {
        ApiSettings {
            service_name: self.service_name.clone(),
            cors_origins: self.cors_origins.clone(),
            max_body_bytes: self.max_body_bytes,
            max_entry_bytes: self.max_entry_bytes,
            max_request_entries: self.max_request_entries.max(1),
            sse_heartbeat: Duration::from_secs(self.sse_heartbeat_secs.max(1)),
        }
    }

    fn store(&self) -> StoreConfig {
        StoreConfig {
            dir: self.log_dir.clone(),
            fsync: match self.fsync {
                FsyncArg::Never => FsyncPolicy::Never,
                FsyncArg::Batch => FsyncPolicy::Batch,
            },
            queue: self.writer_queue,
            max_commit_bytes: self.max_commit_bytes,
            rotation: RotationPolicy {
                max_bytes: self.rotate_bytes,
                daily: self.rotate_daily,
                compress: self.compress_segments,
            },
            count_index: self.count_index,
            max_open_files: self
                .max_open_files
                .map_or_else(crate::store::default_max_open_files, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                }),
            writer_idle: Duration::from_secs(self.writer_idle_secs),
        }
    }

    fn fanout(&self) -> Result<Option<FanoutSettings>, SettingsError> {
        let Some(url) = self.redis_url() else {
            return Ok(None);
        };
        let client = redis::Client::open(url).map_err(|source| SettingsError::RedisUrl {
            given: url.to_owned(),
            source,
        })?;
        Ok(Some(FanoutSettings {
            client,
            prefix: self.redis_prefix.clone(),
            limits: FanoutLimits {
                queue_commits: self.fanout_queue,
                queue_bytes: self.fanout_queue_bytes,
                max_rate: self.fanout_max_rate,
            },
        }))
    }

    fn limits(&self) -> Limits {
        let protect = &self.protect;
        Limits {
            rate_limit: protect.rate_limit,
            rate_limit_burst: protect.rate_limit_burst,
            body_timeout: seconds(protect.body_timeout_secs),
            header_timeout: seconds(protect.header_timeout_secs),
            max_connections: protect.max_connections,
            max_connections_per_address: protect.max_connections_per_address,
            max_streams: protect.max_streams,
            max_queries: match protect.max_queries {
                0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                n => n,
            },
            max_scan_bytes: (protect.max_scan_bytes > 0).then_some(protect.max_scan_bytes),
            max_scan_time: seconds(protect.max_scan_secs),
        }
    }

    fn forward(&self) -> Result<ForwardSettings, ForwardError> {
        let flags = &self.forward;
        let loki = match non_empty(&flags.loki_url) {
            Some(url) => Some(LokiConfig::new(
                url,
                &flags.loki_labels,
                flags.loki_tenant.clone(),
                Auth::from_options(
                    flags.loki_username.as_deref(),
                    flags.loki_password.as_deref(),
                    flags.loki_token.as_deref(),
                ),
            )?),
            None => None,
        };
        let elasticsearch = non_empty(&flags.elasticsearch_url).map(|url| {
            ElasticsearchConfig::new(
                url,
                IndexTemplate(flags.elasticsearch_index.clone()),
                Auth::from_options(
                    flags.elasticsearch_username.as_deref(),
                    flags.elasticsearch_password.as_deref(),
                    flags.elasticsearch_token.as_deref(),
                ),
            )
        });
        Ok(ForwardSettings {
            loki,
            elasticsearch,
            clickhouse: self.clickhouse()?,
            batch: BatchSettings {
                max_entries: flags.forward_batch_entries.max(1),
                max_bytes: flags.forward_batch_bytes.max(1),
                wait: Duration::from_millis(flags.forward_batch_wait_ms),
                retry_min: Duration::from_millis(flags.forward_retry_min_ms.max(1)),
                retry_max: Duration::from_millis(
                    flags
                        .forward_retry_max_ms
                        .max(flags.forward_retry_min_ms)
                        .max(1),
                ),
            },
            request_timeout: Duration::from_secs(flags.forward_timeout_secs.max(1)),
            retain_cap: flags.forward_retain_cap_bytes,
        })
    }
}

/// This machine's host name (`localhost` when it cannot be read).
fn hostname() -> String {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// `secs` seconds, or `None` for 0 (no limit).
fn seconds(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn non_empty(url: &Option<String>) -> Option<&str> {
    url.as_deref().map(str::trim).filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn every_group_reaches_its_domain_type() {
        let args = ServeArgs::parse_from([
            "serve",
            "--fsync",
            "batch",
            "--rate-limit",
            "5",
            "--header-timeout-secs",
            "0",
            "--query-token",
            "q",
            "--redis-url",
            "redis://127.0.0.1:1/2",
            "--loki-url",
            "http://loki:3100/",
            "--forward-retry-min-ms",
            "500",
            "--forward-retry-max-ms",
            "100",
        ]);
        let settings = args.settings().unwrap();
        assert_eq!(settings.store.fsync, FsyncPolicy::Batch);
        assert_eq!(settings.protect.rate_limit, 5);
        assert_eq!(settings.protect.header_timeout, None);
        assert_eq!(settings.access.query_tokens.len(), 1);
        assert!(settings.fanout.is_some());
        let loki = settings.forward.loki.unwrap();
        assert_eq!(loki.push_url, "http://loki:3100/loki/api/v1/push");
        // The longest retry is never shorter than the first.
        assert_eq!(settings.forward.batch.retry_max, Duration::from_millis(500));
        assert!(settings.forward.elasticsearch.is_none());
    }

    #[test]
    fn clickhouse_flags_reach_the_forwarder_and_the_query_backend() {
        let args = ServeArgs::parse_from([
            "serve",
            "--port",
            "9001",
            "--clickhouse-url",
            "http://ch:8123/",
            "--clickhouse-user",
            "estuary",
            "--clickhouse-create-table",
            "false",
            "--query-backend",
            "clickhouse",
        ]);
        let settings = args.settings().unwrap();
        let forward = settings.forward.clickhouse.unwrap();
        assert_eq!(forward.url, "http://ch:8123");
        assert_eq!(forward.qualified(), "`default`.`estuary_logs`");
        assert_eq!(forward.credentials.user.as_deref(), Some("estuary"));
        assert!(!forward.create_table);
        assert_eq!(forward.insert, InsertSettings::default());
        assert!(
            forward.collector.ends_with(":9001"),
            "{}",
            forward.collector
        );
        assert!(matches!(
            settings.query_backend,
            QueryBackendSettings::ClickHouse(_)
        ));
        let args = ServeArgs::parse_from([
            "serve",
            "--clickhouse-url",
            "http://ch:8123",
            "--clickhouse-compression",
            "none",
            "--clickhouse-batch-entries",
            "500",
            "--clickhouse-batch-bytes",
            "65536",
        ]);
        let insert = args.settings().unwrap().forward.clickhouse.unwrap().insert;
        assert_eq!(
            insert,
            InsertSettings {
                max_rows: 500,
                max_bytes: 65536,
                gzip: false
            }
        );
        let args = ServeArgs::parse_from(["serve", "--query-backend", "clickhouse"]);
        assert!(matches!(
            args.settings(),
            Err(SettingsError::QueryBackendWithoutClickHouse)
        ));
    }

    #[test]
    fn a_bad_value_names_its_flag() {
        let args = ServeArgs::parse_from(["serve", "--redis-url", "localhost:6379"]);
        let err = args.settings().unwrap_err().to_string();
        assert!(
            err.contains("--redis-url") && err.contains("localhost:6379"),
            "{err}"
        );
        let args = ServeArgs::parse_from([
            "serve",
            "--loki-url",
            "http://l",
            "--loki-labels",
            "trace_id",
        ]);
        assert!(matches!(args.settings(), Err(SettingsError::Forward(_))));
    }
}
