//! Talking to the collector under test: loading it with an exact number of entries, and
//! reading its forwarder's counters from `/health`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::task::JoinSet;

use crate::http::{self, Conn, Request};

/// How long [`sent_all`] waits at most.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Sends `total` requests, cycling through `requests`, over `connections` keep-alive
/// connections, each answer expected to be a 201.
///
/// # Errors
///
/// An I/O error or another answer.
pub async fn post_all(
    addr: SocketAddr,
    requests: Vec<Request>,
    connections: usize,
    total: u64,
) -> anyhow::Result<()> {
    let (next, requests) = (Arc::new(AtomicU64::new(0)), Arc::new(requests));
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (requests, next) = (requests.clone(), next.clone());
        tasks.spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            loop {
                let n = next.fetch_add(1, Relaxed);
                if n >= total {
                    return Ok(());
                }
                let request = &requests[(n % requests.len() as u64) as usize];
                let reply = conn.send(request).await?;
                if reply.status != 201 {
                    bail!(
                        "POST /logs answered {}: {}",
                        reply.status,
                        String::from_utf8_lossy(reply.body)
                    );
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a loading task failed")??;
    }
    Ok(())
}

/// The first forwarder's entry in `/health`.
///
/// # Errors
///
/// An I/O error or an unreadable answer.
pub async fn forwarder_health(addr: SocketAddr) -> anyhow::Result<serde_json::Value> {
    let mut conn = Conn::connect(addr).await?;
    let reply = conn.send(&http::get(addr, "/health")).await?;
    let health: serde_json::Value =
        serde_json::from_slice(reply.body).context("parsing /health")?;
    Ok(health["forwarders"][0].clone())
}

/// What the forwarder had sent right after the load, and how long it then took to send all
/// `accepted` entries (`None` past [`DRAIN`]).
///
/// # Errors
///
/// As [`forwarder_health`].
pub async fn drain(addr: SocketAddr, accepted: u64) -> anyhow::Result<(u64, Option<Duration>)> {
    let at_end = sent(&forwarder_health(addr).await?);
    let began = Instant::now();
    let (done, _) = sent_all(addr, accepted).await?;
    Ok((at_end, done.then(|| began.elapsed())))
}

/// Waits until the forwarder has sent `entries` (it counts an entry once the destination's
/// answer is read), for at most [`DRAIN`]; returns whether it did, and its last `/health`.
///
/// # Errors
///
/// As [`forwarder_health`].
pub async fn sent_all(addr: SocketAddr, entries: u64) -> anyhow::Result<(bool, serde_json::Value)> {
    let began = Instant::now();
    loop {
        let health = forwarder_health(addr).await?;
        if sent(&health) >= entries {
            return Ok((true, health));
        }
        if began.elapsed() > DRAIN {
            return Ok((false, health));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn sent(health: &serde_json::Value) -> u64 {
    health["sent_entries"].as_u64().unwrap_or(0)
}
