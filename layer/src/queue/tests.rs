//! The queue on its own, with the test playing the worker: the worker's states, the
//! overflow policies and the fill level, without threads or HTTP in the way.

use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::tests::wait_until;

const HOUR: Duration = Duration::from_secs(3600);
const PATIENCE: Duration = Duration::from_secs(5);

fn limits(batch_entries: usize, interval: Duration, queue_entries: usize) -> Limits {
    Limits {
        batch_entries,
        batch_bytes: 1 << 20,
        batch_interval: interval,
        queue_entries,
        queue_bytes: 1 << 20,
        overflow: Overflow::DropNewest,
    }
}

fn queue(batch_entries: usize, interval: Duration, queue_entries: usize) -> Arc<Queue> {
    Arc::new(Queue::new(limits(batch_entries, interval, queue_entries)))
}

/// A queue of one entry with the given policy.
fn one_entry_queue(overflow: Overflow) -> Arc<Queue> {
    let limits = limits(100, HOUR, 1);
    Arc::new(Queue::new(Limits { overflow, ..limits }))
}

/// Runs `f` on a thread; its result, or `None` if it did not finish within [`PATIENCE`]
/// (so a broken wake-up fails the test instead of hanging it).
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

fn state(q: &Queue) -> WorkerState {
    q.lock().worker
}

/// Plays the worker on a thread: takes batches, reports their entry counts, finishes them,
/// and marks itself exited once the queue says stop.
fn worker(q: &Arc<Queue>) -> (Receiver<usize>, std::thread::JoinHandle<()>) {
    let (tx, rx) = channel();
    let q = Arc::clone(q);
    let thread = std::thread::spawn(move || {
        while let Some(batch) = q.next_payload() {
            let _ = tx.send(batch.entries);
            q.finish(batch);
        }
        q.worker_exited();
    });
    (rx, thread)
}

fn shut_down(q: &Queue) -> Result<(), u64> {
    let now = Instant::now();
    q.shutdown(now + PATIENCE, now + PATIENCE)
}

#[test]
fn an_idle_worker_wakes_for_the_first_entry_and_runs_its_interval() {
    let q = queue(100, Duration::from_millis(20), 100);
    let (batches, thread) = worker(&q);
    wait_until("the worker to idle", || state(&q) == WorkerState::Idle);
    q.push(b"{}\n").unwrap();
    assert_eq!(
        batches.recv_timeout(PATIENCE),
        Ok(1),
        "the entry was never sent"
    );
    shut_down(&q).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_flush_seals_the_open_batch_once_then_the_interval_applies_again() {
    let q = queue(100, HOUR, 100);
    let (batches, thread) = worker(&q);
    q.push(b"{}\n").unwrap();
    q.push(b"{}\n").unwrap();
    q.flush(PATIENCE).unwrap();
    assert_eq!(batches.try_recv(), Ok(2));
    wait_until("the flush to end", || state(&q) == WorkerState::Idle);
    q.push(b"{}\n").unwrap();
    // A worker stuck in `Flushing` would send this at once instead of after an hour.
    let early = batches.recv_timeout(Duration::from_millis(100));
    assert!(early.is_err(), "sent before its interval: {early:?}");
    shut_down(&q).unwrap();
    assert_eq!(batches.try_recv(), Ok(1), "shutdown sends the open batch");
    thread.join().unwrap();
}

#[test]
fn shutdown_drains_what_is_queued_and_refuses_new_entries() {
    let q = queue(2, HOUR, 100);
    for _ in 0..3 {
        q.push(b"{}\n").unwrap();
    }
    let (batches, thread) = worker(&q);
    assert_eq!(shut_down(&q), Ok(()));
    thread.join().unwrap();
    assert_eq!(batches.iter().collect::<Vec<_>>(), [2, 1]);
    assert_eq!(state(&q), WorkerState::Exited);
    assert_eq!(q.push(b"{}\n"), Err(Rejected::Closed));
    assert_eq!(
        q.flush(PATIENCE),
        Ok(()),
        "everything accepted was finished"
    );
}

#[test]
fn entries_are_refused_from_the_moment_shutdown_begins() {
    let q = queue(100, HOUR, 100);
    q.push(b"{}\n").unwrap();
    // No worker: shutdown begins, gives up waiting, and the queue stays closed.
    let now = Instant::now();
    assert_eq!(q.shutdown(now + HOUR, now), Err(1));
    assert!(matches!(state(&q), WorkerState::Draining { .. }));
    assert_eq!(q.push(b"{}\n"), Err(Rejected::Closed));
    assert_eq!(
        q.flush(Duration::ZERO),
        Err(FlushError::WorkerGone { pending: 1 })
    );
}

#[test]
fn flush_times_out_while_the_worker_lives_and_knows_when_it_is_gone() {
    let q = queue(100, HOUR, 100);
    q.push(b"{}\n").unwrap();
    q.push(b"{}\n").unwrap();
    let pending = Err(FlushError::Timeout { pending: 2 });
    assert_eq!(q.flush(Duration::from_millis(10)), pending);
    assert_eq!(q.worker_exited(), 2, "left behind");
    let started = Instant::now();
    assert_eq!(
        q.flush(PATIENCE),
        Err(FlushError::WorkerGone { pending: 2 })
    );
    assert!(
        started.elapsed() < PATIENCE,
        "waited for a worker that is gone"
    );
    assert_eq!(q.push(b"{}\n"), Err(Rejected::Closed));
    // Shutdown after the worker is gone returns at once and does not revive the queue.
    assert_eq!(shut_down(&q), Ok(()));
    assert_eq!(state(&q), WorkerState::Exited);
}

#[test]
fn a_retry_pause_ends_at_the_shutdown_deadline() {
    let q = queue(100, HOUR, 100);
    let paused = {
        let q = Arc::clone(&q);
        on_thread(move || q.pause(Instant::now() + HOUR))
    };
    // Whether the pause starts before or after this, it must end at the deadline.
    let now = Instant::now();
    let _ = q.shutdown(
        now + Duration::from_millis(30),
        now + Duration::from_millis(30),
    );
    assert_eq!(
        paused.recv_timeout(PATIENCE),
        Ok(()),
        "paused past the deadline"
    );
}

#[test]
fn drop_newest_refuses_at_the_bound() {
    let q = queue(100, HOUR, 2);
    q.push(b"{}\n").unwrap();
    q.push(b"{}\n").unwrap();
    assert_eq!(q.push(b"{}\n"), Err(Rejected::Full));
    assert_eq!(q.depth().entries, 2);
}

#[test]
fn block_waits_until_the_worker_frees_room() {
    let q = one_entry_queue(Overflow::Block);
    q.push(b"{}\n").unwrap();
    let blocked = {
        let q = Arc::clone(&q);
        on_thread(move || q.push(b"{}\n"))
    };
    wait_until("the push to wait", || q.lock().waiters == 1);
    assert!(blocked.try_recv().is_err(), "did not wait");
    // The full queue sealed its open batch, so the worker can take it and free the room.
    let batch = q.next_payload().unwrap();
    q.finish(batch);
    assert_eq!(blocked.recv_timeout(PATIENCE), Ok(Ok(())));
    assert_eq!(q.depth().accepted, 2);
}

#[test]
fn block_for_gives_up_after_its_time() {
    let q = one_entry_queue(Overflow::BlockFor(Duration::from_millis(20)));
    q.push(b"{}\n").unwrap();
    let started = Instant::now();
    assert_eq!(q.push(b"{}\n"), Err(Rejected::Full));
    assert!(started.elapsed() >= Duration::from_millis(20));
}

#[test]
fn depth_holds_entries_until_finished_and_credits_what_was_charged() {
    let q = queue(2, HOUR, 100);
    q.push(b"{\"a\":1}\n").unwrap();
    q.push(b"{}\n").unwrap();
    let held = Depth {
        entries: 2,
        bytes: 11,
        accepted: 2,
    };
    assert_eq!(q.depth(), held);
    let mut batch = q.next_payload().unwrap();
    assert_eq!(q.depth(), held, "a batch being sent still counts");
    // The worker may drop a line (a rejected entry); the queue still gets back all it lent.
    batch.buf.truncate(8);
    batch.entries = 1;
    q.finish(batch);
    let done = Depth {
        entries: 0,
        bytes: 0,
        accepted: 2,
    };
    assert_eq!(q.depth(), done);
}

#[test]
fn emptied_buffers_are_reused_within_the_bound_and_given_back_when_idle() {
    let line = [&[b'x'; 999][..], b"\n"].concat();
    let q = Arc::new(Queue::new(Limits {
        batch_bytes: 10_000,
        queue_bytes: 50_000,
        ..limits(10, HOUR, 1_000)
    }));
    // A burst: the queue fills (5 batches of 10 lines), then the worker empties it.
    while q.push(&line).is_ok() {}
    let mut batches = Vec::new();
    while !q.lock().sealed.is_empty() {
        batches.push(q.next_payload().expect("a sealed batch"));
    }
    assert_eq!(batches.len(), 5);
    for batch in batches {
        q.finish(batch);
        let st = q.lock();
        let held = st.pool_bytes + st.bytes;
        assert!(
            held <= 50_000 + 10_000,
            "pool and queue within the bound: {held}"
        );
    }
    assert!(
        q.lock().pool.len() >= 4,
        "the burst's buffers are kept for reuse"
    );
    // The next batch starts in a kept buffer, without growing.
    q.push(&line).unwrap();
    assert!(q.lock().open.buf.capacity() >= 10_000);
    let last = q.lock().pool.len();
    // With nothing open the worker goes idle, and gives the burst's buffers back.
    let (batches, worker) = worker(&q);
    q.flush(PATIENCE).expect("flushed");
    assert_eq!(batches.recv_timeout(PATIENCE), Ok(1));
    wait_until("the idle worker trims the pool", || {
        q.lock().pool.len() <= IDLE_POOL_SIZE
    });
    assert!(last > IDLE_POOL_SIZE);
    let st = q.lock();
    assert_eq!(
        st.pool_bytes,
        st.pool.iter().map(Vec::capacity).sum::<usize>()
    );
    drop(st);
    q.shutdown(Instant::now() + PATIENCE, Instant::now() + PATIENCE)
        .expect("the worker exits");
    worker.join().unwrap();
}
