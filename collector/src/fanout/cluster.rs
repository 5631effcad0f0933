//! Live sharing between collectors: subscribe to the cluster channel and feed other
//! collectors' commits into this one's live hub, so a stream on any collector shows
//! entries ingested by all of them.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use super::CLUSTER_SUFFIX;
use crate::live::{LiveHub, Origin};
use crate::service::ServiceName;

/// Wait before resubscribing after the subscription dropped.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

/// Follows `<prefix>@cluster` until the task is aborted, resubscribing after failures.
pub async fn follow(client: redis::Client, prefix: String, own_id: u64, hub: LiveHub) {
    let channel = format!("{prefix}{CLUSTER_SUFFIX}");
    loop {
        if let Err(err) = follow_once(&client, &channel, own_id, &hub).await {
            tracing::debug!(%err, "cluster subscription failed; retrying");
        }
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

async fn follow_once(
    client: &redis::Client,
    channel: &str,
    own_id: u64,
    hub: &LiveHub,
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        if let Some((id, service, lines)) = parse(message.get_payload_bytes()) {
            if id != own_id {
                let entries = memchr::memchr_iter(b'\n', &lines).count() as u64;
                hub.publish(service, lines, entries, Origin::Remote);
            }
        }
    }
    Ok(())
}

/// `<collector id>\n<service>\n<lines>`.
fn parse(payload: &[u8]) -> Option<(u64, ServiceName, Bytes)> {
    let mut parts = payload.splitn(3, |b| *b == b'\n');
    let id = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let service = ServiceName::parse(std::str::from_utf8(parts.next()?).ok()?).ok()?;
    let lines = Bytes::copy_from_slice(parts.next()?);
    Some((id, service, lines))
}
