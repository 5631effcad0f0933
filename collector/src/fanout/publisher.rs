//! The Redis publisher task: drains the fan-out queue into pipelined `PUBLISH`es.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{FanoutStats, CLUSTER_SUFFIX};
use crate::store::Committed;

/// Most commits folded into one pipeline.
const MAX_GROUP: usize = 64;
/// First and longest wait between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Bounds on one connection attempt and one pipeline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes queued commits until the queue closes (at shutdown, after the store closed).
pub struct Publisher {
    client: redis::Client,
    prefix: String,
    collector_id: u64,
    stats: Arc<FanoutStats>,
    connection: Option<MultiplexedConnection>,
    /// While Redis is down, batches arriving before this instant are skipped without trying.
    retry_at: Instant,
    backoff: Duration,
    /// Whether the current outage was already logged (once per outage, not per entry).
    outage_logged: bool,
}

impl Publisher {
    /// A publisher for `client`, on channels `<prefix>all` and `<prefix><service>`.
    pub fn new(
        client: redis::Client,
        prefix: String,
        collector_id: u64,
        stats: Arc<FanoutStats>,
    ) -> Self {
        Publisher {
            client,
            prefix,
            collector_id,
            stats,
            connection: None,
            retry_at: Instant::now(),
            backoff: BACKOFF_MIN,
            outage_logged: false,
        }
    }

    /// Runs until `queue` is closed and drained.
    pub async fn run(mut self, mut queue: mpsc::Receiver<Arc<Committed>>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
            let entries: usize = group.iter().map(|c| c.entries).sum();
            if self.connection.is_none() && Instant::now() < self.retry_at {
                // Still backing off: skip without trying, and without pushing the retry back.
                self.stats.skip(entries);
            } else {
                match self.publish(&group).await {
                    Ok(()) => {
                        self.stats
                            .published
                            .fetch_add(entries as u64, Ordering::Relaxed);
                    }
                    Err(err) => {
                        self.stats.skip(entries);
                        self.mark_down(&err);
                    }
                }
            }
            group.clear();
        }
    }

    async fn publish(&mut self, group: &[Arc<Committed>]) -> redis::RedisResult<()> {
        let pipe = self.pipeline(group);
        let connection = self.connection().await?;
        pipe.query_async::<()>(connection).await?;
        self.stats.connected.store(true, Ordering::Relaxed);
        if std::mem::take(&mut self.outage_logged) {
            let skipped = self.stats.skipped.load(Ordering::Relaxed);
            tracing::info!(skipped, "Redis fan-out is back");
        }
        self.backoff = BACKOFF_MIN;
        Ok(())
    }

    fn pipeline(&self, group: &[Arc<Committed>]) -> redis::Pipeline {
        let all = format!("{}all", self.prefix);
        let cluster = format!("{}{CLUSTER_SUFFIX}", self.prefix);
        let mut pipe = redis::pipe();
        for commit in group {
            let own = format!("{}{}", self.prefix, commit.service);
            for line in commit
                .lines
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
            {
                pipe.cmd("PUBLISH").arg(&all).arg(line).ignore();
                pipe.cmd("PUBLISH").arg(&own).arg(line).ignore();
            }
            let header = format!("{}\n{}\n", self.collector_id, commit.service);
            let mut message = Vec::with_capacity(header.len() + commit.lines.len());
            message.extend_from_slice(header.as_bytes());
            message.extend_from_slice(&commit.lines);
            pipe.cmd("PUBLISH").arg(&cluster).arg(message).ignore();
        }
        pipe
    }

    async fn connection(&mut self) -> redis::RedisResult<&mut MultiplexedConnection> {
        if self.connection.is_none() {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT));
            let connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await;
            self.connection = Some(connection?);
        }
        Ok(self.connection.as_mut().expect("just connected"))
    }

    /// Drops the connection, schedules the next attempt, and logs the outage once.
    fn mark_down(&mut self, err: &redis::RedisError) {
        self.connection = None;
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.stats.connected.store(false, Ordering::Relaxed);
        if !std::mem::replace(&mut self.outage_logged, true) {
            tracing::warn!(%err, "Redis fan-out is down; ingestion goes on, entries are skipped until it is back");
        }
    }
}
