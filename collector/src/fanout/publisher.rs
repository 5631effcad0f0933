//! The Redis publisher task: drains the fan-out queue into pipelined `PUBLISH`es.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{FanoutReceiver, FanoutStats, Group, GroupCommit, CLUSTER_SUFFIX};

/// Commits waiting that make a group worth publishing at once; with fewer, the publisher
/// lingers first. It takes every waiting commit either way (the queue's bounds cap them).
const FULL_GROUP: usize = 64;
/// How long a group smaller than [`FULL_GROUP`] waits for more commits before it is
/// published (at most a timer tick, ~1 ms, added to the Redis subscribers' latency).
const LINGER: Duration = Duration::from_micros(500);
/// Most bytes of lines in one pipeline (at least one commit): the pipeline is encoded into
/// one buffer, a copy of its lines, so this bounds that copy whatever the commits' sizes.
const PIPELINE_BYTES: usize = 1024 * 1024;
/// First and longest wait between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Publishes lines to `ARGV[1]` (`logs:all`) and to their service's channel, in order:
/// `ARGV[3..]` is a run of `<channel>, <n>, <n lines>` per commit. One call per pipeline
/// chunk instead of two commands per entry (one reply to read, not two per entry), and one
/// call for many small commits instead of one each: a single-entry commit costs Redis a
/// script invocation otherwise, on the same cores as the collector.
///
/// A channel nobody listens to (no subscriber, and no pattern subscriber at all) is not
/// published to. The publisher asks first (see `Publisher::audience`) and sends only the
/// commits someone hears; the script asks again, atomically with its `PUBLISH`es, so a
/// channel whose last subscriber left meanwhile is skipped too. Per-service channels
/// usually have no listener, and each `PUBLISH` of a 200-byte line costs Redis about a
/// microsecond. `ARGV[2]` = `1` publishes to every channel regardless: replicas'
/// subscribers are not counted here.
const PUBLISH_LINES: &str = r"
local all = ARGV[1]
local channels, seen, i = { all }, { [all] = true }, 3
while i < #ARGV do
  local own = ARGV[i]
  if not seen[own] then
    seen[own] = true
    channels[#channels + 1] = own
  end
  i = i + 2 + tonumber(ARGV[i + 1])
end
local everyone = ARGV[2] == '1' or redis.call('PUBSUB', 'NUMPAT') > 0
local heard = {}
if not everyone then
  local counts = redis.call('PUBSUB', 'NUMSUB', unpack(channels))
  for k = 1, #counts, 2 do
    heard[counts[k]] = counts[k + 1] > 0
  end
end
local to_all = everyone or heard[all]
local published = 0
i = 3
while i < #ARGV do
  local own, n = ARGV[i], tonumber(ARGV[i + 1])
  local to_own = everyone or heard[own]
  if to_all or to_own then
    for j = i + 2, i + 1 + n do
      if to_all then redis.call('PUBLISH', all, ARGV[j]) end
      if to_own then redis.call('PUBLISH', own, ARGV[j]) end
    end
  end
  published = published + n
  i = i + 2 + n
end
return published
";
/// Entries per script call (bounds how long one call keeps Redis busy).
const LINES_PER_CALL: usize = 500;
/// How often the cluster channel's listeners and Redis's replicas are counted.
const LISTENER_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Bounds on one connection attempt and one pipeline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes queued commits until told to stop; then publishes what is still queued and
/// returns (at shutdown, after the store drained its writers).
pub struct Publisher {
    client: redis::Client,
    prefix: String,
    collector_id: u64,
    stats: Arc<FanoutStats>,
    connection: Option<MultiplexedConnection>,
    /// Whether Redis has replicas: subscribers on them are not counted by `PUBSUB NUMSUB`
    /// here, so then every channel is published to, listened to or not.
    replicated: bool,
    /// While Redis is down, batches arriving before this instant are skipped without trying.
    retry_at: Instant,
    backoff: Duration,
    /// Whether the current outage was already logged (once per outage, not per entry).
    outage_logged: bool,
    /// When the cluster channel's listeners were last counted.
    listeners_checked: Option<Instant>,
    /// The SHA1 of [`PUBLISH_LINES`] as loaded into Redis.
    script_sha: String,
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
            replicated: false,
            retry_at: Instant::now(),
            backoff: BACKOFF_MIN,
            outage_logged: false,
            listeners_checked: None,
            script_sha: String::new(),
        }
    }

    /// Runs until `stop` is cancelled and the queue is drained (or the store is gone).
    pub async fn run(mut self, queue: FanoutReceiver, stop: CancellationToken) {
        let mut group = Group::default();
        let mut draining = false;
        loop {
            let waiting = tokio::select! {
                waiting = queue.wait() => waiting,
                () = stop.cancelled(), if !draining => {
                    // No more commits come in; what is queued still goes out.
                    queue.close();
                    draining = true;
                    continue;
                }
            };
            if !waiting {
                break;
            }
            if queue.waiting() < FULL_GROUP && !draining {
                // Let a few more commits join: a round trip per group costs Redis and this
                // task about as much as a dozen entries do.
                tokio::time::sleep(LINGER).await;
            }
            queue.take(&mut group);
            let commits: Vec<_> = group.commits().collect();
            let mut rest = &commits[..];
            while !rest.is_empty() {
                let (chunk, after) = rest.split_at(pipeline_len(rest));
                self.publish_counted(chunk).await;
                rest = after;
            }
            drop(commits);
            queue.done(&mut group);
        }
    }

    /// Publishes `group` in one pipeline and counts its entries as published or skipped.
    async fn publish_counted(&mut self, group: &[GroupCommit<'_>]) {
        let entries: usize = group.iter().map(|commit| commit.entries).sum();
        if self.connection.is_none() && Instant::now() < self.retry_at {
            // Still backing off: skip without trying, and without pushing the retry back.
            self.stats.skip(entries);
            return;
        }
        match self.publish(group).await {
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

    async fn publish(&mut self, group: &[GroupCommit<'_>]) -> redis::RedisResult<()> {
        self.check_listeners().await?;
        let audience = self.audience(group).await?;
        let pipe = self.pipeline(group, &audience);
        if !pipe.is_empty() {
            let connection = self.connection().await?;
            pipe.query_async::<()>(connection).await?;
        }
        self.stats.connected.store(true, Ordering::Relaxed);
        if std::mem::take(&mut self.outage_logged) {
            let skipped = self.stats.skipped.load(Ordering::Relaxed);
            tracing::info!(skipped, "Redis fan-out is back");
        }
        self.backoff = BACKOFF_MIN;
        Ok(())
    }

    /// Asks Redis which of `group`'s channels someone listens to, in one round trip of two
    /// small commands, so that lines nobody would receive are never sent: usually nobody
    /// listens to most channels, often to none, and sending a line costs Redis and this task
    /// about as much as publishing it. The answer is fresh for each group, asked after its
    /// commits were queued: a subscription made before an entry is posted is counted for the
    /// group that carries the entry, as it would be by a plain `PUBLISH`.
    async fn audience<'g>(
        &mut self,
        group: &[GroupCommit<'g>],
    ) -> redis::RedisResult<Audience<'g>> {
        if self.replicated {
            return Ok(Audience::Everyone);
        }
        let mut services: Vec<&str> = group.iter().map(|commit| commit.service).collect();
        services.sort_unstable();
        services.dedup();
        let mut numsub = redis::cmd("PUBSUB");
        numsub.arg("NUMSUB").arg(format!("{}all", self.prefix));
        for service in &services {
            numsub.arg(format!("{}{service}", self.prefix));
        }
        let connection = self.connection().await?;
        let (patterns, counts): (u64, Vec<(String, u64)>) = redis::pipe()
            .cmd("PUBSUB")
            .arg("NUMPAT")
            .add_command(numsub)
            .query_async(connection)
            .await?;
        if patterns > 0 {
            return Ok(Audience::Everyone);
        }
        // Redis answers in the order asked: `<prefix>all` first, then each service's.
        let mut heard = counts.into_iter().map(|(_, subscribers)| subscribers > 0);
        let all = heard.next().unwrap_or(true);
        let services = services
            .into_iter()
            .zip(heard)
            .filter_map(|(service, heard)| heard.then_some(service))
            .collect();
        Ok(Audience::Channels { all, services })
    }

    /// The group's lines for `audience`, and its cluster messages if any collector follows.
    fn pipeline(&self, group: &[GroupCommit<'_>], audience: &Audience<'_>) -> redis::Pipeline {
        let all = format!("{}all", self.prefix);
        let cluster = format!("{}{CLUSTER_SUFFIX}", self.prefix);
        let mut pipe = redis::pipe();
        let mut call = self.script_call(&all);
        let mut lines_in_call = 0;
        for commit in group {
            if !audience.hears(commit.service) {
                self.share_with_cluster(&mut pipe, &cluster, commit);
                continue;
            }
            let own = format!("{}{}", self.prefix, commit.service);
            let lines: Vec<&[u8]> = commit
                .lines
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            for chunk in lines.chunks(LINES_PER_CALL) {
                if lines_in_call > 0 && lines_in_call + chunk.len() > LINES_PER_CALL {
                    let full = std::mem::replace(&mut call, self.script_call(&all));
                    pipe.add_command(full).ignore();
                    lines_in_call = 0;
                }
                call.arg(&own).arg(chunk.len()).arg(chunk);
                lines_in_call += chunk.len();
            }
            self.share_with_cluster(&mut pipe, &cluster, commit);
        }
        if lines_in_call > 0 {
            pipe.add_command(call).ignore();
        }
        pipe
    }

    /// Adds `commit` to `pipe` for the other collectors' live streams, if any follows them.
    fn share_with_cluster(
        &self,
        pipe: &mut redis::Pipeline,
        cluster: &str,
        commit: &GroupCommit<'_>,
    ) {
        if !self.stats.cluster_peers.load(Ordering::Relaxed) {
            return;
        }
        let header = format!("{}\n{}\n", self.collector_id, commit.service);
        let mut message = Vec::with_capacity(header.len() + commit.lines.len());
        message.extend_from_slice(header.as_bytes());
        message.extend_from_slice(commit.lines);
        pipe.cmd("PUBLISH").arg(cluster).arg(message).ignore();
    }

    /// An `EVALSHA` of [`PUBLISH_LINES`] with its first arguments: `<prefix>all`, and
    /// whether to publish to channels nobody listens to.
    fn script_call(&self, all: &str) -> redis::Cmd {
        let mut call = redis::cmd("EVALSHA");
        let everyone = if self.replicated { "1" } else { "0" };
        call.arg(&self.script_sha).arg(0).arg(all).arg(everyone);
        call
    }

    /// Once a second, asks Redis whether any other collector follows the cluster channel
    /// (sharing commits costs a copy of every commit through Redis, so it happens only then)
    /// and whether it has replicas.
    async fn check_listeners(&mut self) -> redis::RedisResult<()> {
        if self
            .listeners_checked
            .is_some_and(|at| at.elapsed() < LISTENER_CHECK_INTERVAL)
        {
            return Ok(());
        }
        let channel = format!("{}{CLUSTER_SUFFIX}", self.prefix);
        let connection = self.connection().await?;
        let (_, listeners): (String, u64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async::<Vec<(String, u64)>>(connection)
            .await?
            .pop()
            .unwrap_or_default();
        // A server that refuses `INFO` (some managed ones restrict it) may have replicas.
        let replication: Option<String> = redis::cmd("INFO")
            .arg("replication")
            .query_async(connection)
            .await
            .ok();
        let own = u64::from(self.stats.following_cluster.load(Ordering::Relaxed));
        self.stats
            .cluster_peers
            .store(listeners > own, Ordering::Relaxed);
        self.replicated = replication.is_none_or(|info| {
            info.lines().any(|line| {
                line.strip_prefix("connected_slaves:")
                    .is_some_and(|n| n.trim() != "0")
            })
        });
        self.listeners_checked = Some(Instant::now());
        Ok(())
    }

    async fn connection(&mut self) -> redis::RedisResult<&mut MultiplexedConnection> {
        if self.connection.is_none() {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT));
            let mut connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            // Loaded on every new connection: a restarted Redis has forgotten it.
            self.script_sha = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(PUBLISH_LINES)
                .query_async(&mut connection)
                .await?;
            self.connection = Some(connection);
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

/// Who listens to a group's channels.
enum Audience<'g> {
    /// Every channel is published to (a pattern subscriber, or replicas whose subscribers
    /// are not counted on the primary).
    Everyone,
    /// Only these: `<prefix>all` if `all`, and these services' own channels (sorted).
    Channels { all: bool, services: Vec<&'g str> },
}

impl Audience<'_> {
    /// Whether a line of `service` goes to any channel.
    fn hears(&self, service: &str) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Channels { all, services } => {
                *all || services.binary_search(&service).is_ok()
            }
        }
    }
}

/// How many of `group`'s first commits go into one pipeline: up to [`PIPELINE_BYTES`] of
/// lines, and always at least one.
fn pipeline_len(group: &[GroupCommit<'_>]) -> usize {
    let mut bytes = 0;
    group
        .iter()
        .position(|commit| {
            bytes += commit.lines.len();
            bytes > PIPELINE_BYTES
        })
        .map_or(group.len(), |over| over.max(1))
}
