//! The loader that posts a [`Spread`] as NDJSON batches over a few connections, and a
//! timed `GET /histogram` with the work the collector reports having done.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use tokio::task::JoinSet;

use super::entries::{Spread, LINE_BYTES};
use crate::http::{self, Conn};

/// Posts every entry of `spread` for `service` as NDJSON batches of `batch` entries over
/// `connections` keep-alive connections, batches taken in order from a shared counter (so
/// at most `connections` batches are out of order). Returns the time it took.
///
/// # Errors
///
/// An I/O error, or an answer other than 201.
pub async fn post_all(
    addr: SocketAddr,
    service: &str,
    spread: Spread,
    batch: u64,
    connections: usize,
) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (next, service) = (next.clone(), service.to_owned());
        tasks.spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut body = String::with_capacity(batch as usize * LINE_BYTES);
            loop {
                let first = next.fetch_add(batch, Ordering::Relaxed);
                if first >= spread.entries {
                    return anyhow::Ok(());
                }
                body.clear();
                spread.push_ndjson(&service, first, first + batch, &mut body);
                let request = http::post(addr, "/logs", "application/x-ndjson", body.as_bytes());
                let reply = conn.send(&request).await?;
                ensure!(
                    reply.status == 201,
                    "POST /logs answered {}: {}",
                    reply.status,
                    String::from_utf8_lossy(reply.body)
                );
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a loader task failed")??;
    }
    Ok(began.elapsed())
}

/// One `GET /histogram` answer.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    /// Entries counted over all buckets.
    pub total: u64,
    /// Buckets in the answer.
    pub buckets: u64,
    /// Their width in nanoseconds.
    pub bucket_ns: i64,
    /// Blocks answered from the count index.
    pub index_blocks: u64,
    /// Bytes the collector read.
    pub scanned_bytes: u64,
    /// Files it read.
    pub files_scanned: u64,
    /// The per-bucket totals, to compare two answers bucket by bucket.
    pub per_bucket: Vec<u64>,
    /// From sending the request to having the whole answer.
    pub took: Duration,
}

/// Fetches `target` (`/histogram?…`) on `conn`, timing it.
///
/// # Errors
///
/// An I/O error, an answer other than 200, or a body that is not a histogram.
pub async fn histogram(conn: &mut Conn, addr: SocketAddr, target: &str) -> anyhow::Result<Counted> {
    let request = http::get(addr, target);
    let began = Instant::now();
    let reply = conn.send(&request).await?;
    let took = began.elapsed();
    ensure!(
        reply.status == 200,
        "GET {target} answered {}: {}",
        reply.status,
        String::from_utf8_lossy(reply.body)
    );
    let body: serde_json::Value =
        serde_json::from_slice(reply.body).with_context(|| format!("GET {target}"))?;
    let number = |name: &str| {
        body[name]
            .as_u64()
            .with_context(|| format!("GET {target}: no {name} in the answer"))
    };
    let per_bucket: Vec<u64> = body["buckets"]
        .as_array()
        .with_context(|| format!("GET {target}: no buckets"))?
        .iter()
        .map(|b| b["total"].as_u64().unwrap_or_default())
        .collect();
    Ok(Counted {
        total: number("total")?,
        buckets: per_bucket.len() as u64,
        bucket_ns: (body["bucket_seconds"].as_f64().unwrap_or_default() * 1e9) as i64,
        index_blocks: number("index_blocks")?,
        scanned_bytes: number("scanned_bytes")?,
        files_scanned: number("files_scanned")?,
        per_bucket,
        took,
    })
}
