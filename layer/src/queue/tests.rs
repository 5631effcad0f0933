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
        spill: None,
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
        ..Depth::default()
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
        ..Depth::default()
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

/// A queue of batches of 10 entries holding at most 25 in memory, spilling to a file in
/// `dir` of at most `max_bytes`.
fn spilling_queue(dir: &std::path::Path, max_bytes: u64) -> Arc<Queue> {
    let spill = Some(SpillLimits {
        dir: dir.to_owned(),
        max_bytes,
    });
    Arc::new(Queue::new(Limits {
        spill,
        ..limits(10, HOUR, 25)
    }))
}

/// Line `i`: 15 bytes.
fn numbered(i: usize) -> Vec<u8> {
    format!("{{\"i\":{i:08}}}\n").into_bytes()
}

/// Plays the worker until the queue is empty, returning every line in the order taken.
fn drain(q: &Queue) -> Vec<u8> {
    let mut lines = Vec::new();
    while q.depth().entries + q.depth().spilled_entries > 0 {
        let batch = q.next_payload().expect("a batch");
        lines.extend_from_slice(&batch.buf);
        q.finish(batch);
    }
    lines
}

#[test]
fn past_the_memory_bound_batches_spill_to_disk_and_come_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let q = spilling_queue(dir.path(), 1 << 20);
    // No worker yet: everything past 25 entries in memory must go to the file.
    for i in 0..1000 {
        assert_eq!(q.push(&numbered(i)), Ok(()), "entry {i} was refused");
        let depth = q.depth();
        assert!(depth.entries <= 25, "memory past its bound: {depth:?}");
    }
    let depth = q.depth();
    let first_round = depth.spilled_total;
    assert_eq!(depth.entries + depth.spilled_entries, 1000);
    assert_eq!(depth.spilled_total, depth.spilled_entries as u64);
    assert!(depth.spilled_entries >= 970, "{depth:?}");
    assert_eq!(depth.spilled_bytes, 15 * depth.spilled_entries as u64);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the spill file is unlinked, so nothing is left behind"
    );
    let file = q.lock().spill.file().expect("the spill file");
    assert_eq!(file.metadata().unwrap().len(), depth.spilled_bytes);

    q.flush(Duration::ZERO).unwrap_err(); // seals what is open, for `drain`
    let expected: Vec<u8> = (0..1000).flat_map(numbered).collect();
    assert!(drain(&q) == expected, "lines lost, altered or out of order");
    assert_eq!(
        q.lock().spill.end,
        0,
        "drained: the next batch goes to the start"
    );
    let size = file.metadata().unwrap().len();
    assert_eq!(
        size, depth.spilled_bytes,
        "pages are kept while a burst may go on"
    );

    // Spilling again reuses the file from its start.
    for i in 0..40 {
        q.push(&numbered(i)).unwrap();
    }
    assert!(q.depth().spilled_entries > 0);
    assert_eq!(
        q.depth().spilled_total,
        first_round + q.depth().spilled_entries as u64
    );
    assert_eq!(
        file.metadata().unwrap().len(),
        size,
        "written over, not grown"
    );

    // Once the worker has sent everything and goes idle, the file gives its pages back.
    let (batches, thread) = worker(&q);
    q.flush(PATIENCE).unwrap();
    assert_eq!(batches.try_iter().sum::<usize>(), 40);
    wait_until("the worker to idle", || state(&q) == WorkerState::Idle);
    assert_eq!(q.depth().spilled_entries, 0);
    assert_eq!(file.metadata().unwrap().len(), 0, "truncated once idle");
    shut_down(&q).unwrap();
    thread.join().unwrap();
}

#[test]
fn a_full_spill_file_leaves_the_decision_to_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    // Room on disk for three batches of 10 lines of 15 bytes.
    let q = spilling_queue(dir.path(), 3 * 150);
    let taken = (0..100).filter(|&i| q.push(&numbered(i)).is_ok()).count();
    assert_eq!(
        taken,
        25 + 30,
        "the memory bound plus three spilled batches"
    );
    assert_eq!(q.depth().spilled_entries, 30);
    q.flush(Duration::ZERO).unwrap_err();
    let expected: Vec<u8> = (0..taken).flat_map(numbered).collect();
    assert!(
        drain(&q) == expected,
        "the oldest entries are the ones kept"
    );
}

#[test]
fn a_spill_directory_that_fails_turns_spilling_off_and_says_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("removed");
    let q = spilling_queue(&gone, 1 << 20);
    let taken = (0..100).filter(|&i| q.push(&numbered(i)).is_ok()).count();
    assert_eq!(
        taken, 25,
        "with no file, the policy (drop newest) applies at the bound"
    );
    let (lost, problem) = q.take_spill_trouble();
    assert_eq!(lost, 0);
    let problem = problem.expect("the failure is reported");
    assert!(problem.contains("cannot create a spill file"), "{problem}");
    assert_eq!(q.take_spill_trouble(), (0, None), "reported once");
}

#[test]
fn the_worker_waits_for_a_batch_still_being_written_rather_than_skip_it() {
    let dir = tempfile::tempdir().unwrap();
    let q = spilling_queue(dir.path(), 1 << 20);
    for i in 0..25 {
        q.push(&numbered(i)).unwrap();
    }
    // Stage the state an app thread leaves while it writes: the oldest batch in the file's
    // place, the next one behind it in memory.
    let at = {
        let mut st = q.lock();
        let (_, at) = st.spill.reserve(q.limits.spill.as_ref(), 150).unwrap();
        let Some(Sealed::Memory(first)) = st.sealed.pop_front() else {
            panic!("a batch in memory first")
        };
        st.sealed.push_front(Sealed::Writing { at });
        (at, first)
    };
    let taken = on_thread({
        let q = Arc::clone(&q);
        move || q.next_payload().map(|b| b.buf)
    });
    let early = taken.recv_timeout(Duration::from_millis(100));
    assert!(early.is_err(), "took a later batch first: {early:?}");
    // The writer finishes: the file holds the batch and the slot says so.
    let (at, first) = at;
    {
        let mut st = q.lock();
        let file = st.spill.file().unwrap();
        spill::write_at(&file, &first.buf, at).unwrap();
        st.sealed[0] = Sealed::OnDisk {
            at,
            len: first.buf.len(),
            entries: first.entries,
            charged: first.charged,
        };
        st.entries -= first.charged.0;
        st.bytes -= first.charged.1;
        st.spilled_entries += first.charged.0;
        st.spilled_bytes += first.buf.len() as u64;
        q.worker_wake.notify_one();
    }
    let expected: Vec<u8> = (0..10).flat_map(numbered).collect();
    assert_eq!(taken.recv_timeout(PATIENCE).unwrap(), Some(expected));
}
