//! The in-process live feed: every commit (local, or from another collector through
//! Redis) goes to a bounded broadcast ring that live streams read. A slow reader never
//! slows writers; it falls behind the ring and is told how many entries it missed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::service::ServiceName;
use crate::store::{CommitListener, Committed};

/// Where a live commit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written by this collector; the file's length after the write.
    Local {
        /// The service file's length after this commit.
        end_offset: u64,
    },
    /// Written by another collector sharing the same Redis.
    Remote,
}

/// Lines of one service, in the order they were stored.
#[derive(Debug)]
pub struct LiveCommit {
    /// The service.
    pub service: ServiceName,
    /// Complete lines, each ending in `\n`.
    pub lines: Bytes,
    /// How many entries `lines` holds.
    pub entries: u64,
    /// The hub-wide count of entries before this commit (to tell a lagging reader how many
    /// it missed).
    pub first_entry: u64,
    /// Local or remote.
    pub origin: Origin,
}

/// The broadcast ring. Cheap to clone.
///
/// # Examples
///
/// ```
/// use estuary_collector::live::LiveHub;
///
/// let hub = LiveHub::new(1024);
/// let mut feed = hub.subscribe();
/// assert!(feed.try_recv().is_err()); // nothing yet
/// ```
#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<LiveCommit>>,
    /// Entries published so far; a commit's `first_entry` is taken from here.
    published: Arc<AtomicU64>,
}

impl LiveHub {
    /// A hub whose ring holds `capacity` commits.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        LiveHub {
            sender,
            published: Arc::default(),
        }
    }

    /// A new reader, starting with the next commit published.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveCommit>> {
        self.sender.subscribe()
    }

    /// The number of connected readers.
    pub fn readers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Publishes lines; never blocks.
    pub fn publish(&self, service: ServiceName, lines: Bytes, entries: u64, origin: Origin) {
        let first_entry = self.published.fetch_add(entries, Ordering::Relaxed);
        let commit = LiveCommit {
            service,
            lines,
            entries,
            first_entry,
            origin,
        };
        // No reader is fine: live streams are best-effort views of what is stored.
        let _ = self.sender.send(Arc::new(commit));
    }
}

impl CommitListener for LiveHub {
    fn committed(&self, commit: &Arc<Committed>) {
        self.publish(
            commit.service.clone(),
            commit.lines.clone(),
            commit.entries as u64,
            Origin::Local {
                end_offset: commit.end_offset,
            },
        );
    }
}
