//! The hand-off from the store's writers to the publisher.
//!
//! Small commits (single entries, mostly) are copied into a buffer the publisher swaps
//! out whole, so the writer keeps no reference to them and nothing is allocated per commit
//! once the two buffers have grown: a copy of a few hundred bytes costs less than keeping
//! each commit's own allocation alive until the publisher is done with it (freed in bulk a
//! millisecond later, those allocations had cost the collector ~0.6 µs per single-entry
//! commit in `malloc`; docs/benchmarks/single-entry.md). Bigger commits are shared, not
//! copied: a copy would double their memory while they wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::{FanoutLimits, FanoutStats};
use crate::store::{CommitListener, Committed};

/// Commits up to this many bytes of lines are copied; bigger ones are shared.
const COPIED_COMMIT_BYTES: usize = 8 * 1024;
/// A buffer whose capacity grew past this (a burst of commits) is given back to the
/// allocator after its group is published, so a burst does not hold memory forever.
const KEPT_CAPACITY: usize = 256 * 1024;

/// Commits waiting for the publisher: small ones copied into one buffer, bigger ones
/// shared.
#[derive(Default)]
pub struct Group {
    bytes: Vec<u8>,
    commits: Vec<Slot>,
    /// Bytes held against the queue's byte bound (copied, and shared lines).
    counted: usize,
}

/// One commit of a [`Group`].
enum Slot {
    /// In [`Group::bytes`]: its service name, then its lines.
    Copied {
        start: usize,
        service_end: usize,
        end: usize,
        entries: usize,
    },
    Shared(Arc<Committed>),
}

/// One commit of a [`Group`].
#[derive(Clone, Copy)]
pub struct GroupCommit<'g> {
    /// The service whose file was written (a valid service name).
    pub service: &'g str,
    /// The lines written, each ending in `\n`.
    pub lines: &'g [u8],
    /// How many entries `lines` holds.
    pub entries: usize,
}

impl Group {
    /// The commits, oldest first.
    pub fn commits(&self) -> impl Iterator<Item = GroupCommit<'_>> {
        self.commits.iter().map(|slot| match slot {
            Slot::Copied {
                start,
                service_end,
                end,
                entries,
            } => GroupCommit {
                service: std::str::from_utf8(&self.bytes[*start..*service_end])
                    .expect("service names are UTF-8"),
                lines: &self.bytes[*service_end..*end],
                entries: *entries,
            },
            Slot::Shared(commit) => GroupCommit {
                service: commit.service.as_str(),
                lines: &commit.lines,
                entries: commit.entries,
            },
        })
    }

    /// Whether no commit is waiting.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    /// How many commits are waiting.
    pub fn len(&self) -> usize {
        self.commits.len()
    }

    /// The bytes `commit` holds against the byte bound once pushed.
    fn cost(commit: &Committed) -> usize {
        if commit.lines.len() <= COPIED_COMMIT_BYTES {
            commit.service.as_str().len() + commit.lines.len()
        } else {
            commit.lines.len()
        }
    }

    fn push(&mut self, commit: &Arc<Committed>) {
        self.counted += Self::cost(commit);
        if commit.lines.len() > COPIED_COMMIT_BYTES {
            self.commits.push(Slot::Shared(commit.clone()));
            return;
        }
        let start = self.bytes.len();
        self.bytes
            .extend_from_slice(commit.service.as_str().as_bytes());
        let service_end = self.bytes.len();
        self.bytes.extend_from_slice(&commit.lines);
        self.commits.push(Slot::Copied {
            start,
            service_end,
            end: self.bytes.len(),
            entries: commit.entries,
        });
    }

    /// Empties the group, keeping its buffers unless a burst made them big.
    fn clear(&mut self) {
        self.bytes.clear();
        self.commits.clear();
        self.counted = 0;
        if self.bytes.capacity() > KEPT_CAPACITY {
            self.bytes = Vec::new();
        }
        if self.commits.capacity() > KEPT_CAPACITY / std::mem::size_of::<Slot>() {
            self.commits = Vec::new();
        }
    }
}

struct Waiting {
    group: Group,
    /// No more commits are taken (shutting down, or the store is gone).
    closed: bool,
}

struct Shared {
    waiting: Mutex<Waiting>,
    /// Told when the first commit joins an empty group, and when the queue closes.
    ready: Notify,
    /// Bytes waiting or being published.
    in_flight: AtomicUsize,
}

impl Shared {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        // A panic while holding the lock leaves only plain buffers behind: still usable.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn close(&self) {
        self.waiting().closed = true;
        self.ready.notify_one();
    }
}

/// The store's side of the fan-out: hands commits to the publisher without waiting, within
/// the queue's commit and byte bounds and the rate cap; everything else is skipped and
/// counted.
pub struct FanoutQueue {
    shared: Arc<Shared>,
    stats: Arc<FanoutStats>,
    limits: FanoutLimits,
    rate: Option<governor::DefaultDirectRateLimiter>,
}

/// The publisher's side of the queue.
pub struct FanoutReceiver {
    shared: Arc<Shared>,
}

impl FanoutQueue {
    /// A queue feeding a publisher, and its receiving end.
    pub fn new(limits: FanoutLimits, stats: Arc<FanoutStats>) -> (Self, FanoutReceiver) {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Waiting {
                group: Group::default(),
                closed: false,
            }),
            ready: Notify::new(),
            in_flight: AtomicUsize::new(0),
        });
        let rate = std::num::NonZeroU32::new(limits.max_rate).map(|per_second| {
            governor::RateLimiter::direct(governor::Quota::per_second(per_second))
        });
        let queue = FanoutQueue {
            shared: shared.clone(),
            stats,
            limits,
            rate,
        };
        (queue, FanoutReceiver { shared })
    }

    fn within_rate(&self, entries: usize) -> bool {
        let Some(rate) = &self.rate else {
            return true;
        };
        std::num::NonZeroU32::new(entries.min(u32::MAX as usize) as u32)
            .is_some_and(|n| matches!(rate.check_n(n), Ok(Ok(()))))
    }

    /// Adds `commit` to the waiting group if the bounds allow; false if it was skipped.
    fn admit(&self, commit: &Arc<Committed>) -> bool {
        if !self.within_rate(commit.entries) {
            return false;
        }
        let bytes = Group::cost(commit);
        let first = {
            let mut waiting = self.shared.waiting();
            let room = !waiting.closed
                && waiting.group.len() < self.limits.queue_commits
                && self.shared.in_flight.load(Ordering::Relaxed) + bytes <= self.limits.queue_bytes;
            if !room {
                return false;
            }
            self.shared.in_flight.fetch_add(bytes, Ordering::Relaxed);
            waiting.group.push(commit);
            waiting.group.len() == 1
        };
        if first {
            self.shared.ready.notify_one();
        }
        true
    }
}

impl CommitListener for FanoutQueue {
    fn committed(&self, commit: &Arc<Committed>) {
        if !self.admit(commit) {
            self.stats.skip(commit.entries);
        }
    }
}

impl Drop for FanoutQueue {
    /// The store is gone: the publisher publishes what is waiting, then stops.
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl FanoutReceiver {
    /// Waits until at least one commit is waiting; false once the queue is closed and
    /// empty.
    pub async fn wait(&self) -> bool {
        loop {
            let ready = self.shared.ready.notified();
            {
                let waiting = self.shared.waiting();
                if !waiting.group.is_empty() {
                    return true;
                }
                if waiting.closed {
                    return false;
                }
            }
            ready.await;
        }
    }

    /// How many commits are waiting.
    pub fn waiting(&self) -> usize {
        self.shared.waiting().group.len()
    }

    /// Swaps the waiting commits into `into` (which must be empty), leaving its buffers
    /// for the next commits.
    pub fn take(&self, into: &mut Group) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut self.shared.waiting().group, into);
    }

    /// Gives a published group's bytes back to the byte bound, and empties it.
    pub fn done(&self, group: &mut Group) {
        self.shared
            .in_flight
            .fetch_sub(group.counted, Ordering::Relaxed);
        group.clear();
    }

    /// Takes no more commits: those arriving from now on are skipped and counted.
    pub fn close(&self) {
        self.shared.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceName;

    fn commit(service: &str, lines: &[u8]) -> Arc<Committed> {
        Arc::new(Committed {
            service: ServiceName::parse(service).expect("service"),
            lines: bytes::Bytes::copy_from_slice(lines),
            entries: lines.iter().filter(|b| **b == b'\n').count(),
            end_offset: 0,
        })
    }

    fn bounded(queue_commits: usize, queue_bytes: usize) -> (FanoutQueue, FanoutReceiver) {
        let limits = FanoutLimits {
            queue_commits,
            queue_bytes,
            max_rate: 0,
        };
        FanoutQueue::new(limits, Arc::default())
    }

    #[tokio::test]
    async fn commits_come_out_in_order_small_ones_copied_big_ones_shared() {
        let (queue, receiver) = bounded(16, 1 << 20);
        let big = vec![b'x'; COPIED_COMMIT_BYTES].into_iter().chain([b'\n']);
        let big: Vec<u8> = big.collect();
        let shared = commit("b", &big);
        queue.committed(&commit("a", b"{\"n\":1}\n{\"n\":2}\n"));
        queue.committed(&shared);
        queue.committed(&commit("c", b"{\"n\":3}\n"));
        assert!(receiver.wait().await);
        let mut group = Group::default();
        receiver.take(&mut group);
        let got: Vec<_> = group
            .commits()
            .map(|c| (c.service, c.lines.len(), c.entries))
            .collect();
        assert_eq!(got, [("a", 16, 2), ("b", big.len(), 1), ("c", 8, 1)]);
        // The big commit's lines are the writer's own, not a copy.
        assert_eq!(Arc::strong_count(&shared), 2);
        let lines = group.commits().nth(1).expect("b").lines.as_ptr();
        assert_eq!(lines, shared.lines.as_ptr());
        receiver.done(&mut group);
        assert_eq!(Arc::strong_count(&shared), 1);
        assert_eq!(queue.shared.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn commits_beyond_either_bound_are_skipped_and_counted_until_published() {
        let line = b"{\"n\":1}\n";
        let one = 1 + line.len();
        let (queue, receiver) = bounded(10, 2 * one);
        for _ in 0..3 {
            queue.committed(&commit("a", line));
        }
        assert_eq!(queue.stats.skipped.load(Ordering::Relaxed), 1, "byte bound");
        let mut group = Group::default();
        receiver.take(&mut group);
        // Taken but not yet published: its bytes still count.
        queue.committed(&commit("a", line));
        assert_eq!(queue.stats.skipped.load(Ordering::Relaxed), 2);
        receiver.done(&mut group);
        queue.committed(&commit("a", line));
        assert_eq!(receiver.waiting(), 1);

        let (queue, receiver) = bounded(1, 1 << 20);
        queue.committed(&commit("a", line));
        queue.committed(&commit("a", line));
        assert_eq!(
            queue.stats.skipped.load(Ordering::Relaxed),
            1,
            "commit bound"
        );
        assert_eq!(receiver.waiting(), 1);
    }

    #[tokio::test]
    async fn a_closed_queue_hands_out_what_it_holds_then_ends() {
        let (queue, receiver) = bounded(16, 1 << 20);
        queue.committed(&commit("a", b"{}\n"));
        receiver.close();
        queue.committed(&commit("a", b"{}\n"));
        assert_eq!(queue.stats.skipped.load(Ordering::Relaxed), 1);
        assert!(receiver.wait().await);
        let mut group = Group::default();
        receiver.take(&mut group);
        assert_eq!(group.len(), 1);
        receiver.done(&mut group);
        assert!(!receiver.wait().await);

        // Dropping the store's side closes it too.
        let (queue, receiver) = bounded(16, 1 << 20);
        drop(queue);
        assert!(!receiver.wait().await);
    }
}
