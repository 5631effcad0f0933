//! Real-time fan-out over Redis pub/sub, after the write.
//!
//! Every commit is queued (bounded, never blocking the writer) for [`publisher`], which
//! publishes each line to `<prefix>all` (the seed's `logs:all`) and `<prefix><service>`,
//! one pipelined round trip per group. It also publishes the whole group once on an
//! internal cluster channel that [`peers`] on other collectors sharing the Redis feeds
//! into their live streams. When Redis is down, ingestion goes on: entries are skipped
//! and counted, and publishing resumes on its own after a reconnect.

pub mod peers;
pub mod publisher;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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

/// A commit waiting for the publisher, holding its place in the byte budget.
pub struct Queued {
    /// The commit.
    pub commit: Arc<Committed>,
    /// Gives the commit's bytes back to the budget when dropped (published or not).
    _budget: BudgetRelease,
}

struct BudgetRelease {
    bytes: usize,
    in_flight: Arc<AtomicUsize>,
}

impl Drop for BudgetRelease {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The store's side of the fan-out: hands commits to the publisher without waiting, within
/// the queue's commit and byte bounds and the rate cap; everything else is skipped and counted.
pub struct FanoutQueue {
    sender: mpsc::Sender<Queued>,
    stats: Arc<FanoutStats>,
    limits: FanoutLimits,
    in_flight: Arc<AtomicUsize>,
    rate: Option<governor::DefaultDirectRateLimiter>,
}

impl FanoutQueue {
    /// A queue feeding a publisher, and its receiving end.
    pub fn new(limits: FanoutLimits, stats: Arc<FanoutStats>) -> (Self, mpsc::Receiver<Queued>) {
        let (sender, receiver) = mpsc::channel(limits.queue_commits.max(1));
        let rate = std::num::NonZeroU32::new(limits.max_rate).map(|per_second| {
            governor::RateLimiter::direct(governor::Quota::per_second(per_second))
        });
        let queue = FanoutQueue {
            sender,
            stats,
            limits,
            in_flight: Arc::default(),
            rate,
        };
        (queue, receiver)
    }

    fn admit(&self, commit: &Committed) -> Option<BudgetRelease> {
        if let Some(rate) = &self.rate {
            let entries = std::num::NonZeroU32::new(commit.entries.min(u32::MAX as usize) as u32)?;
            if !matches!(rate.check_n(entries), Ok(Ok(()))) {
                return None;
            }
        }
        let bytes = commit.lines.len();
        let before = self.in_flight.fetch_add(bytes, Ordering::Relaxed);
        let release = BudgetRelease {
            bytes,
            in_flight: self.in_flight.clone(),
        };
        (before + bytes <= self.limits.queue_bytes).then_some(release)
    }
}

impl CommitListener for FanoutQueue {
    fn committed(&self, commit: &Arc<Committed>) {
        let Some(budget) = self.admit(commit) else {
            self.stats.skip(commit.entries);
            return;
        };
        let queued = Queued {
            commit: commit.clone(),
            _budget: budget,
        };
        if self.sender.try_send(queued).is_err() {
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
