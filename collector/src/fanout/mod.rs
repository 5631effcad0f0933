//! Real-time fan-out over Redis pub/sub, after the write.
//!
//! Every commit is queued (bounded, never blocking the writer) for [`publisher`], which
//! publishes each line to `<prefix>all` (the seed's `logs:all`) and `<prefix><service>`,
//! one pipelined round trip per group. It also publishes the whole group once on an
//! internal cluster channel that [`cluster`] on other collectors sharing the Redis feeds
//! into their live streams. When Redis is down, ingestion goes on: entries are skipped
//! and counted, and publishing resumes on its own after a reconnect.

pub mod cluster;
pub mod publisher;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::store::{CommitListener, Committed};

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

/// The store's side of the fan-out: hands commits to the publisher without waiting.
pub struct FanoutQueue {
    sender: mpsc::Sender<Arc<Committed>>,
    stats: Arc<FanoutStats>,
}

impl FanoutQueue {
    /// A queue of `capacity` commits feeding a publisher, and its receiving end.
    pub fn new(capacity: usize, stats: Arc<FanoutStats>) -> (Self, mpsc::Receiver<Arc<Committed>>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (FanoutQueue { sender, stats }, receiver)
    }
}

impl CommitListener for FanoutQueue {
    fn committed(&self, commit: &Arc<Committed>) {
        if self.sender.try_send(commit.clone()).is_err() {
            self.stats.skip(commit.entries);
        }
    }
}

/// A per-process random id, so a collector can tell its own cluster messages from others'.
pub fn collector_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}
