//! The writers in service: at most one per service, and at most a bound of them holding
//! their files open. A writer idle for a while retires; when a new service needs a writer
//! at the bound, the least recently used one is asked to retire.
//!
//! Retiring is race-free: a retiring writer leaves the registry first (under its lock), so
//! no new append can find it, then closes its queue and writes what was already queued. A
//! producer that took its sender just before gets its append back from the closed queue and
//! asks again; the new writer for that service waits until the retiring one has finished
//! before it opens the file, and takes one of the bounded slots first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::writer::Append;
use crate::service::ServiceName;

/// The registry of running writers.
pub(super) struct Writers {
    state: Mutex<State>,
    /// One permit per writer that may hold its files open.
    slots: Arc<Semaphore>,
    max_open: usize,
    idle: Duration,
}

#[derive(Default)]
struct State {
    active: HashMap<ServiceName, Entry>,
    /// Writers that left the registry and are writing what was queued, by service: the id
    /// and the token cancelled when they have finished.
    retiring: HashMap<ServiceName, (u64, CancellationToken)>,
    /// Ticks once per lookup: the least recently used writer has the smallest `last_used`.
    clock: u64,
    next_id: u64,
    closed: bool,
}

struct Entry {
    sender: mpsc::Sender<Append>,
    id: u64,
    last_used: u64,
    retire: Arc<Retire>,
    done: CancellationToken,
}

/// How a writer is asked to retire.
#[derive(Default)]
pub(super) struct Retire {
    asked: AtomicBool,
    wake: Notify,
}

impl Retire {
    /// Whether the registry asked this writer to retire.
    pub(super) fn asked(&self) -> bool {
        self.asked.load(Ordering::Acquire)
    }

    /// Resolves when the writer is asked to retire (at once if it already was).
    pub(super) async fn requested(&self) {
        while !self.asked() {
            self.wake.notified().await;
        }
    }

    fn ask(&self) {
        self.asked.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// What a running writer needs to take its slot and to leave the registry.
pub(super) struct Lifecycle {
    writers: Arc<Writers>,
    service: ServiceName,
    id: u64,
    /// Set when the registry asks this writer to retire.
    pub(super) retire: Arc<Retire>,
    /// The previous writer of this service, when it was still retiring.
    predecessor: Option<CancellationToken>,
    done: CancellationToken,
}

impl Writers {
    /// A registry allowing `max_open` writers to hold files, retiring writers idle for
    /// `idle`.
    pub(super) fn new(max_open: usize, idle: Duration) -> Arc<Self> {
        let max_open = max_open.max(1);
        Arc::new(Writers {
            state: Mutex::default(),
            slots: Arc::new(Semaphore::new(max_open)),
            max_open,
            idle,
        })
    }

    /// The sender of `service`'s writer, starting one with `start` (given its queue's
    /// receiving end and its lifecycle) when none is running; `None` once the store closed.
    pub(super) fn sender_for(
        self: &Arc<Self>,
        service: &ServiceName,
        queue: usize,
        start: impl FnOnce(mpsc::Receiver<Append>, Lifecycle),
    ) -> Option<mpsc::Sender<Append>> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.clock += 1;
        let now = state.clock;
        if let Some(entry) = state.active.get_mut(service) {
            if !entry.sender.is_closed() {
                entry.last_used = now;
                return Some(entry.sender.clone());
            }
            // Its writer ended without retiring (it panicked): start another.
            state.active.remove(service);
        }
        if state.active.len() >= self.max_open {
            retire_least_recently_used(&mut state, 1);
        }
        state.next_id += 1;
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let entry = Entry {
            sender: sender.clone(),
            id: state.next_id,
            last_used: now,
            retire: Arc::default(),
            done: CancellationToken::new(),
        };
        let lifecycle = Lifecycle {
            writers: self.clone(),
            service: service.clone(),
            id: entry.id,
            retire: entry.retire.clone(),
            predecessor: state.retiring.get(service).map(|(_, done)| done.clone()),
            done: entry.done.clone(),
        };
        state.active.insert(service.clone(), entry);
        drop(state);
        start(receiver, lifecycle);
        Some(sender)
    }

    /// Asks up to `count` of the least recently used writers to retire, giving their files
    /// back (when descriptors run out).
    pub(super) fn shed(&self, count: usize) {
        retire_least_recently_used(&mut self.lock(), count);
    }

    /// The number of writers that are running (retiring ones included).
    pub(super) fn running(&self) -> usize {
        let state = self.lock();
        state.active.len() + state.retiring.len()
    }

    /// No more writers start; the running ones finish their queues once every sender is
    /// gone.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.active.clear();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Moves the `count` least recently used writers from `active` to `retiring` and asks them
/// to retire.
fn retire_least_recently_used(state: &mut State, count: usize) {
    for _ in 0..count {
        let Some(service) = state
            .active
            .iter()
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(service, _)| service.clone())
        else {
            return;
        };
        retire_entry(state, &service);
    }
}

fn retire_entry(state: &mut State, service: &ServiceName) {
    if let Some(entry) = state.active.remove(service) {
        entry.retire.ask();
        state
            .retiring
            .insert(service.clone(), (entry.id, entry.done));
    }
}

impl Lifecycle {
    /// Waits for the service's previous writer to finish, then for a slot.
    pub(super) async fn start(&mut self) -> OwnedSemaphorePermit {
        if let Some(previous) = self.predecessor.take() {
            previous.cancelled().await;
        }
        // The semaphore is never closed.
        self.writers
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the writer slots are never closed")
    }

    /// How long the writer may sit idle.
    pub(super) fn idle(&self) -> Duration {
        self.writers.idle
    }

    /// Leaves the registry because the writer is idle, if `still_idle` (checked under the
    /// registry's lock) agrees and the store is not closing. Returns whether the writer is
    /// now retiring (also when it was asked to meanwhile).
    pub(super) fn leave_if(&self, still_idle: impl FnOnce() -> bool) -> bool {
        let mut state = self.writers.lock();
        if self.retire.asked() {
            return true;
        }
        let ours = state
            .active
            .get(&self.service)
            .is_some_and(|entry| entry.id == self.id);
        if state.closed || !ours || !still_idle() {
            return false;
        }
        retire_entry(&mut state, &self.service);
        true
    }

    /// Called when the writer has written everything and closed its files.
    pub(super) fn finished(self) {
        let mut state = self.writers.lock();
        if state
            .retiring
            .get(&self.service)
            .is_some_and(|(id, _)| *id == self.id)
        {
            state.retiring.remove(&self.service);
        }
        drop(state);
        self.done.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ServiceName {
        ServiceName::parse(s).unwrap()
    }

    #[tokio::test]
    async fn the_least_recently_used_writer_retires_at_the_bound() {
        let writers = Writers::new(2, Duration::from_secs(3600));
        let mut started = Vec::new();
        // The queues' receiving ends, kept open as running writers would.
        let mut queues = Vec::new();
        for service in ["a", "b", "a", "c"] {
            writers.sender_for(&name(service), 4, |queue, lifecycle| {
                queues.push(queue);
                started.push((service, lifecycle.retire.clone()))
            });
        }
        let names: Vec<_> = started.iter().map(|(s, _)| *s).collect();
        assert_eq!(names, ["a", "b", "c"], "a was reused");
        assert!(started[1].1.asked(), "b was used least recently");
        assert!(!started[0].1.asked());
        assert_eq!(writers.running(), 3, "b still retiring");
    }

    #[tokio::test]
    async fn a_new_writer_waits_for_the_retiring_one_of_its_service() {
        // Two slots: the second writer waits for its predecessor, not for a slot.
        let writers = Writers::new(2, Duration::from_secs(3600));
        let mut first = None;
        writers.sender_for(&name("a"), 4, |_, l| first = Some(l));
        let mut first = first.unwrap();
        let slot = first.start().await;
        assert!(first.leave_if(|| true));
        let mut second = None;
        writers.sender_for(&name("a"), 4, |_, l| second = Some(l));
        let mut second = second.unwrap();
        let waiting = tokio::spawn(async move { second.start().await });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "waits while the first writes");
        drop(slot);
        first.finished();
        let _slot = waiting.await.unwrap();
        assert_eq!(writers.running(), 1);
    }

    /// One writer slot, writers retiring after a millisecond idle, and eight producers
    /// spread over four services: writers retire and restart all the time, and still
    /// every entry is stored once, whole, in each producer's order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn constant_retiring_loses_reorders_and_tears_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::store::StoreConfig::new(dir.path());
        config.max_open_files = 2;
        config.writer_idle = Duration::from_millis(1);
        let store = crate::store::Store::open(config).unwrap();
        let producers: Vec<_> = (0..8)
            .map(|p| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..150 {
                        let service = name(&format!("s{}", (p + i) % 4));
                        let line = format!("{{\"p\":{p},\"i\":{i}}}\n");
                        let batch =
                            crate::body::ServiceLines::from_lines(service, line.into_bytes());
                        store.append_all(vec![batch]).await.unwrap();
                        if i % 16 == 0 {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
        store.close().await;
        let mut last = [-1i64; 8];
        let mut total = 0;
        for s in 0..4 {
            let text = std::fs::read_to_string(dir.path().join(format!("s{s}.log"))).unwrap();
            let mut per_service = [-1i64; 8];
            for line in text.lines() {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap();
                let (p, i) = (
                    entry["p"].as_u64().unwrap() as usize,
                    entry["i"].as_i64().unwrap(),
                );
                assert!(i > per_service[p], "producer {p} in order in s{s}");
                per_service[p] = i;
                last[p] = last[p].max(i);
                total += 1;
            }
        }
        assert_eq!(total, 8 * 150);
        assert!(last.iter().all(|&i| i == 149));
    }

    #[tokio::test]
    async fn a_writer_that_ended_without_retiring_is_replaced() {
        let writers = Writers::new(2, Duration::from_secs(3600));
        let mut starts = 0;
        for _ in 0..2 {
            // The receiving end is dropped at once, as by a writer that panicked.
            let sender = writers.sender_for(&name("a"), 4, |_, _| starts += 1);
            assert!(sender.is_some());
        }
        assert_eq!(
            starts, 2,
            "the dead writer's queue was not handed out again"
        );
    }

    #[tokio::test]
    async fn nothing_starts_after_close() {
        let writers = Writers::new(4, Duration::from_secs(1));
        writers.close();
        assert!(writers.sender_for(&name("a"), 4, |_, _| {}).is_none());
    }
}
