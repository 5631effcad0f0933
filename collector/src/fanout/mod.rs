//! Real-time fan-out over Redis pub/sub, after the write.
//!
//! Every commit is copied into a bounded queue (never blocking the writer) for
//! [`publisher`], which publishes each line to `<prefix>all` (the seed's `logs:all`) and
//! `<prefix><service>`. For each group of commits it first asks Redis which of their
//! channels have subscribers (one small round trip), then sends only the lines someone
//! will receive, in one pipelined round trip. It also publishes each commit on an internal
//! cluster channel that [`peers`] on other collectors sharing the Redis feed into their
//! live streams, while any follows it. When Redis is down, ingestion goes on: entries are
//! skipped and counted, and publishing resumes on its own after a reconnect.

pub mod peers;
pub mod publisher;
mod queue;

pub use queue::{FanoutQueue, FanoutReceiver};
pub(crate) use queue::{Group, GroupCommit};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

/// The default channel prefix: channels are `logs:all` and `logs:<service>`.
pub const DEFAULT_PREFIX: &str = "logs:";

/// The internal channel suffix for collector-to-collector live sharing. `@` cannot occur in a
/// service name, so it never collides with `<prefix><service>`.
pub const CLUSTER_SUFFIX: &str = "@cluster";

/// Counters shown in `/health`.
#[derive(Debug, Default, Serialize)]
pub struct FanoutStats {
    /// Whether the last publish succeeded.
    pub connected: AtomicBool,
    /// Entries published.
    pub published: AtomicU64,
    /// Entries not published (Redis down or slow, queue full).
    pub skipped: AtomicU64,
    /// Whether this collector follows the cluster channel (it has live streams open).
    #[serde(skip)]
    pub following_cluster: AtomicBool,
    /// Whether another collector follows the cluster channel, so commits are worth sharing.
    #[serde(skip)]
    pub cluster_peers: AtomicBool,
}

impl FanoutStats {
    /// Adds `n` to the skipped count.
    pub fn skip(&self, n: usize) {
        self.skipped.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A JSON snapshot.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": true,
            "connected": self.connected.load(Ordering::Relaxed),
            "published": self.published.load(Ordering::Relaxed),
            "skipped": self.skipped.load(Ordering::Relaxed),
        })
    }
}

/// How much fan-out may hold and send.
#[derive(Debug, Clone, Copy)]
pub struct FanoutLimits {
    /// Commits queued at most.
    pub queue_commits: usize,
    /// Bytes queued at most (so a slow Redis cannot grow the collector's memory).
    pub queue_bytes: usize,
    /// Entries published per second at most (0 = no cap). Publishing costs CPU in the
    /// collector and in Redis; beyond the cap entries are skipped and counted, so a burst
    /// of ingestion is never slowed by its own fan-out.
    pub max_rate: u32,
}

/// Redis fan-out, as configured.
#[derive(Debug, Clone)]
pub struct FanoutSettings {
    /// The Redis server.
    pub client: redis::Client,
    /// Channels are `<prefix>all` and `<prefix><service>`.
    pub prefix: String,
    /// What the queue may hold and the rate it may publish at.
    pub limits: FanoutLimits,
}

/// A per-process random id, so a collector can tell its own cluster messages from others'.
pub fn collector_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}
