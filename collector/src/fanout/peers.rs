//! Live sharing between collectors: subscribe to the cluster channel and feed other
//! collectors' commits into this one's live hub, so a stream on any collector shows
//! entries ingested by all of them.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{FanoutStats, CLUSTER_SUFFIX};
use crate::live::{LiveHub, Origin};
use crate::service::ServiceName;

/// Wait before resubscribing after the subscription dropped.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

/// How often the follower checks whether this collector has live streams open.
const READERS_CHECK: Duration = Duration::from_millis(250);

/// Follows `<prefix>@cluster` while this collector has live streams open (and only then:
/// the channel carries every shared commit), until `stop` is cancelled.
pub async fn follow(
    client: redis::Client,
    prefix: String,
    own_id: u64,
    hub: LiveHub,
    stats: Arc<FanoutStats>,
    stop: CancellationToken,
) {
    tokio::select! {
        () = follow_forever(client, prefix, own_id, hub, stats) => {}
        () = stop.cancelled() => {}
    }
}

async fn follow_forever(
    client: redis::Client,
    prefix: String,
    own_id: u64,
    hub: LiveHub,
    stats: Arc<FanoutStats>,
) {
    let channel = format!("{prefix}{CLUSTER_SUFFIX}");
    loop {
        while hub.readers() == 0 {
            tokio::time::sleep(READERS_CHECK).await;
        }
        if let Err(err) = follow_while_read(&client, &channel, own_id, &hub, &stats).await {
            tracing::debug!(%err, "cluster subscription failed; retrying");
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
        stats.following_cluster.store(false, Ordering::Relaxed);
    }
}

async fn follow_while_read(
    client: &redis::Client,
    channel: &str,
    own_id: u64,
    hub: &LiveHub,
    stats: &FanoutStats,
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    stats.following_cluster.store(true, Ordering::Relaxed);
    let mut messages = pubsub.into_on_message();
    let mut check = tokio::time::interval(READERS_CHECK);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return Ok(()) };
                if let Some((id, service, lines)) = parse(message.get_payload_bytes()) {
                    if id != own_id {
                        let entries = memchr::memchr_iter(b'\n', &lines).count() as u64;
                        hub.publish(service, lines, entries, Origin::Remote);
                    }
                }
            }
            _ = check.tick() => {
                if hub.readers() == 0 {
                    return Ok(());
                }
            }
        }
    }
}

/// `<collector id>\n<service>\n<lines>`.
fn parse(payload: &[u8]) -> Option<(u64, ServiceName, Bytes)> {
    let mut parts = payload.splitn(3, |b| *b == b'\n');
    let id = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let service = ServiceName::parse(std::str::from_utf8(parts.next()?).ok()?).ok()?;
    let lines = Bytes::copy_from_slice(parts.next()?);
    Some((id, service, lines))
}
