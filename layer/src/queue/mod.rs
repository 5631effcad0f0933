//! The bounded queue between the application's threads and the worker.
//!
//! Entries are appended straight into the open batch's buffer (one `memcpy` under a short
//! lock, no allocation per event); a batch is sealed when it reaches its entry or byte limit
//! and handed whole to the worker, or by the worker once its oldest entry is `interval` old.
//! Everything accepted and not yet delivered or dropped counts against the queue's bounds,
//! including the batch the worker is sending, so memory stays bounded however long the
//! collector is away.
//!
//! When the memory bound is reached, the thread whose entry did not fit first moves the
//! oldest batch still in memory to the [spill file](spill) (a write of the batch's bytes,
//! outside the lock), and only when that is off, broken or full does the overflow policy
//! decide. The worker takes batches in the order they were sealed, from memory or read back
//! from the file.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::FlushError;

mod limits;
mod payload;
mod spill;

pub(crate) use limits::Limits;
pub use limits::Overflow;
pub(crate) use payload::Payload;
use spill::SpillFile;
pub(crate) use spill::SpillLimits;

/// Emptied buffers kept while the worker sleeps: enough for the next batch to start
/// without allocating.
const IDLE_POOL_SIZE: usize = 2;

/// The queue's own counts, for [`Stats`](crate::Stats). The queue keeps them anyway (a flush
/// waits for what was accepted before it), so they are not counted a second time elsewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Depth {
    /// Entries held in memory now: queued, or taken by the worker and not yet delivered or
    /// dropped.
    pub(crate) entries: usize,
    /// Bytes of serialized entries held in memory now.
    pub(crate) bytes: usize,
    /// Entries waiting in the spill file now, and their bytes.
    pub(crate) spilled_entries: usize,
    pub(crate) spilled_bytes: u64,
    /// Entries ever taken by `push`.
    pub(crate) accepted: u64,
    /// Entries ever moved to the spill file.
    pub(crate) spilled_total: u64,
}

/// Why `push` did not take an entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// The queue is at its entry or byte bound (and the policy did not wait).
    Full,
    /// The worker is shutting down or gone.
    Closed,
}

/// A sealed batch waiting for the worker, in memory or in the spill file.
enum Sealed {
    Memory(Payload),
    /// An app thread is writing it to the spill file at this offset (the worker waits for
    /// that rather than take a later batch first).
    Writing {
        at: u64,
    },
    /// In the spill file: `len` bytes at `at`, charged to the queue as `charged` once read.
    OnDisk {
        at: u64,
        len: usize,
        entries: usize,
        charged: (usize, usize),
    },
}

impl Sealed {
    fn in_memory(&self) -> bool {
        matches!(self, Sealed::Memory(_))
    }
}

struct State {
    /// The batch app threads append to.
    open: Payload,
    /// Full batches waiting for the worker, oldest first.
    sealed: VecDeque<Sealed>,
    /// Emptied buffers for reuse. During a burst every buffer is reused rather than freed:
    /// freed, it would go back to the allocator arena of the app thread that allocated it,
    /// and with several threads logging the arenas together could hold up to twice the
    /// queue's bound. Their capacity plus the bytes queued stays within the bound (plus a
    /// batch); the worker trims the pool when it goes idle.
    pool: Vec<Vec<u8>>,
    /// The summed capacity of `pool`.
    pool_bytes: usize,
    /// Entries and bytes in memory, accepted and not yet finished (the fill level the bounds
    /// apply to).
    entries: usize,
    bytes: usize,
    /// The spill file, and the entries and bytes waiting in it.
    spill: SpillFile,
    spilled_entries: usize,
    spilled_bytes: u64,
    /// Entries ever spilled, and entries lost because the file could not be read back (the
    /// worker counts those as dropped).
    spilled_total: u64,
    spill_lost: u64,
    /// Entries ever accepted / finished (delivered or dropped): a flush waits for
    /// `finished` to reach the `accepted` it saw.
    accepted: u64,
    finished: u64,
    /// What the worker is doing; decides who must be woken and what is still taken.
    worker: WorkerState,
    /// Threads waiting on `progress` (only then is it worth a notify).
    waiters: usize,
}

/// The worker's state as the queue sees it: one value rather than a flag per condition,
/// so that mixes which cannot happen (idle after exiting, flushing while draining) cannot
/// be written either.
///
/// `Running` and `Idle` alternate as entries come and go; a flush turns either into
/// `Flushing` until the worker has sealed what was open (then `Idle`); shutdown turns any
/// of those into `Draining`; the worker's end, whatever the state, into `Exited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorkerState {
    /// Sending, or asleep with the open batch's interval timer running.
    Running,
    /// Asleep with nothing queued and no timer: the next entry must wake it.
    Idle,
    /// A flush asked for the open batch now rather than at its interval.
    Flushing,
    /// Shutdown began: new entries are refused, and what is queued is sent until
    /// `deadline`, after which the worker drops what is left and exits.
    Draining { deadline: Instant },
    /// The worker has exited (or panicked); nothing queued will move any more.
    Exited,
}

impl WorkerState {
    /// Whether new entries are still taken.
    fn open(self) -> bool {
        matches!(self, Self::Running | Self::Idle | Self::Flushing)
    }
}

/// See the module documentation.
pub(crate) struct Queue {
    state: Mutex<State>,
    /// Wakes the worker: a batch was sealed, a flush was asked for, or shutdown began.
    worker_wake: Condvar,
    /// Wakes threads waiting for room (blocking overflow policy), flushes and shutdown.
    progress: Condvar,
    limits: Limits,
}

impl Queue {
    pub(crate) fn new(limits: Limits) -> Self {
        Queue {
            state: Mutex::new(State {
                open: Payload::default(),
                sealed: VecDeque::new(),
                pool: Vec::new(),
                pool_bytes: 0,
                entries: 0,
                bytes: 0,
                spill: SpillFile::default(),
                spilled_entries: 0,
                spilled_bytes: 0,
                spilled_total: 0,
                spill_lost: 0,
                accepted: 0,
                finished: 0,
                worker: WorkerState::Running,
                waiters: 0,
            }),
            worker_wake: Condvar::new(),
            progress: Condvar::new(),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the counters are still
        // usable, and refusing to log would be worse than a slightly off count.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one NDJSON line (ending in `\n`), following the overflow policy when full.
    pub(crate) fn push(&self, line: &[u8]) -> Result<(), Rejected> {
        let mut st = self.lock();
        st = self.wait_for_room(st, line.len())?;
        let limits = &self.limits;
        if st.open.entries > 0 && st.open.buf.len() + line.len() > limits.batch_bytes {
            self.seal(&mut st);
        }
        if st.open.entries == 0 {
            st.open.started = Some(Instant::now());
            // An idle worker sleeps without a timeout; it must start the batch interval.
            if st.worker == WorkerState::Idle {
                self.worker_wake.notify_one();
            }
        }
        st.open.buf.extend_from_slice(line);
        st.open.entries += 1;
        st.entries += 1;
        st.bytes += line.len();
        st.accepted += 1;
        if st.open.entries >= limits.batch_entries || st.open.buf.len() >= limits.batch_bytes {
            self.seal(&mut st);
        }
        Ok(())
    }

    fn wait_for_room<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        len: usize,
    ) -> Result<MutexGuard<'a, State>, Rejected> {
        let mut deadline = None;
        loop {
            if !st.worker.open() {
                return Err(Rejected::Closed);
            }
            // An empty queue takes any entry, so a bound below one entry's size cannot
            // block a thread forever.
            let fits =
                st.entries < self.limits.queue_entries && st.bytes + len <= self.limits.queue_bytes;
            if fits || st.entries == 0 {
                return Ok(st);
            }
            // Full: whatever is open should go out now rather than at the interval (with a
            // queue smaller than a batch, nothing else would ever seal it).
            if st.open.entries > 0 && st.sealed.is_empty() {
                self.seal(&mut st);
            }
            let spilled;
            (st, spilled) = self.spill_oldest(st);
            if spilled {
                continue;
            }
            let timeout = match self.limits.overflow {
                Overflow::DropNewest => return Err(Rejected::Full),
                Overflow::Block => None,
                Overflow::BlockFor(max) => {
                    let end = *deadline.get_or_insert_with(|| Instant::now() + max);
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Rejected::Full);
                    }
                    Some(left)
                }
            };
            st.waiters += 1;
            st = wait(&self.progress, st, timeout);
            st.waiters -= 1;
        }
    }

    fn seal(&self, st: &mut State) {
        // A new buffer starts at about the size batches have (the last one's, plus an
        // eighth): grown by doubling, a batch sealed at its entry limit could hold up to twice
        // the memory the queue's byte bound charges it.
        let hint = st.open.buf.len();
        let capacity = std::cmp::min((hint + hint / 8).max(4096), self.limits.batch_bytes);
        let buf = match st.pool.pop() {
            Some(buf) => {
                st.pool_bytes -= buf.capacity();
                buf
            }
            None => Vec::with_capacity(capacity),
        };
        let mut sealed = std::mem::replace(&mut st.open, Payload::from_lines(buf, 0));
        sealed.charged = (sealed.entries, sealed.buf.len());
        st.sealed.push_back(Sealed::Memory(sealed));
        self.worker_wake.notify_one();
    }

    /// Moves the oldest batch in memory to the spill file (sealing the open one if it is
    /// the only one), writing outside the lock. Whether room was made: `false` when spilling
    /// is off, broken or full, or nothing in memory can go (the worker holds it).
    fn spill_oldest<'a>(&'a self, mut st: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, bool) {
        let Some(limits) = self.limits.spill.as_ref() else {
            return (st, false);
        };
        if !st.spill.has_room(limits) {
            return (st, false);
        }
        if st.open.entries > 0 && !st.sealed.iter().any(Sealed::in_memory) {
            self.seal(&mut st);
        }
        let Some(slot) = st.sealed.iter().position(Sealed::in_memory) else {
            return (st, false);
        };
        let len = match &st.sealed[slot] {
            Sealed::Memory(payload) => payload.buf.len(),
            _ => return (st, false),
        };
        let Some((file, at)) = st.spill.reserve(Some(limits), len) else {
            return (st, false);
        };
        let Sealed::Memory(payload) =
            std::mem::replace(&mut st.sealed[slot], Sealed::Writing { at })
        else {
            unreachable!("the slot was found holding a batch in memory");
        };
        drop(st);
        let written = spill::write_at(&file, &payload.buf, at);
        let mut st = self.lock();
        // Only the worker takes batches, and it waits while the oldest one is being written.
        let slot = st
            .sealed
            .iter()
            .position(|s| matches!(s, Sealed::Writing { at: a } if *a == at));
        let Some(slot) = slot else {
            unreachable!("a batch being written stays in its slot");
        };
        let ok = match written {
            Ok(()) => {
                let (entries, bytes) = payload.charged;
                st.sealed[slot] = Sealed::OnDisk {
                    at,
                    len,
                    entries: payload.entries,
                    charged: payload.charged,
                };
                st.entries -= entries;
                st.bytes -= bytes;
                st.spilled_entries += entries;
                st.spilled_bytes += len as u64;
                st.spilled_total += entries as u64;
                self.recycle(&mut st, payload.buf);
                true
            }
            Err(e) => {
                st.spill
                    .fail(format!("cannot write to the spill file: {e}"));
                st.sealed[slot] = Sealed::Memory(payload);
                false
            }
        };
        // The worker may be waiting for this very batch.
        self.worker_wake.notify_one();
        (st, ok)
    }

    /// Worker: reads the oldest batch (in the spill file) back, outside the lock; `None` if
    /// that failed (its entries are then finished and counted as lost).
    fn read_back<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
    ) -> (MutexGuard<'a, State>, Option<Payload>) {
        let Some(Sealed::OnDisk {
            at,
            len,
            entries,
            charged,
        }) = st.sealed.pop_front()
        else {
            unreachable!("read_back is called with a spilled batch first in line");
        };
        st.spilled_entries -= charged.0;
        st.spilled_bytes -= len as u64;
        st.entries += charged.0;
        st.bytes += charged.1;
        let file = st.spill.file();
        let mut buf = match st.pool.pop() {
            Some(buf) => {
                st.pool_bytes -= buf.capacity();
                buf
            }
            None => Vec::new(),
        };
        drop(st);
        buf.clear();
        buf.resize(len, 0);
        let read = match file {
            Some(file) => spill::read_at(&file, &mut buf, at),
            None => Err(std::io::Error::other(
                "the spill file was closed after an error",
            )),
        };
        let mut st = self.lock();
        if st.sealed.iter().all(Sealed::in_memory) {
            st.spill.rewind();
        }
        match read {
            Ok(()) => {
                let mut payload = Payload::from_lines(buf, entries);
                payload.charged = charged;
                (st, Some(payload))
            }
            Err(e) => {
                st.spill
                    .fail(format!("cannot read the spill file back: {e}"));
                st.entries -= charged.0;
                st.bytes -= charged.1;
                st.finished += charged.0 as u64;
                st.spill_lost += charged.0 as u64;
                self.recycle(&mut st, buf);
                if st.waiters > 0 {
                    self.progress.notify_all();
                }
                (st, None)
            }
        }
    }

    /// Worker: entries lost because the spill file failed since the last call, and what went
    /// wrong with it (once).
    pub(crate) fn take_spill_trouble(&self) -> (u64, Option<String>) {
        let mut st = self.lock();
        let lost = std::mem::take(&mut st.spill_lost);
        (lost, st.spill.problem.take())
    }

    /// Worker: waits for the next batch; `None` once shutdown began and nothing is left.
    pub(crate) fn next_payload(&self) -> Option<Payload> {
        let mut st = self.lock();
        loop {
            match st.sealed.front() {
                Some(Sealed::Memory(_)) => {
                    if let Some(Sealed::Memory(payload)) = st.sealed.pop_front() {
                        return Some(payload);
                    }
                }
                Some(Sealed::OnDisk { .. }) => {
                    let payload;
                    (st, payload) = self.read_back(st);
                    if payload.is_some() {
                        return payload;
                    }
                    continue;
                }
                Some(Sealed::Writing { .. }) => {
                    // Its writer wakes us when done.
                    st = wait(&self.worker_wake, st, None);
                    continue;
                }
                None => {}
            }
            let age = st.open.started.map(|t| t.elapsed());
            let due = match st.worker {
                WorkerState::Flushing | WorkerState::Draining { .. } => true,
                _ => age >= Some(self.limits.batch_interval),
            };
            if st.open.entries > 0 && due {
                self.seal(&mut st);
                continue;
            }
            if let WorkerState::Draining { .. } = st.worker {
                return None;
            }
            let left = age.map(|age| self.limits.batch_interval.saturating_sub(age));
            if left.is_none() {
                // Nothing open: sleep until an entry arrives. This also ends a flush (it
                // left nothing open: its batch was sealed above).
                st.worker = WorkerState::Idle;
                // The burst is over: give back what it made the pool keep.
                let kept = st.pool.len().min(IDLE_POOL_SIZE);
                let freed: usize = st.pool.drain(kept..).map(|buf| buf.capacity()).sum();
                st.pool_bytes -= freed;
                if st.sealed.is_empty() {
                    st.spill.truncate();
                }
            }
            st = wait(&self.worker_wake, st, left);
            // Only an idle worker comes back running: a flush or shutdown that woke it
            // keeps its own state.
            if st.worker == WorkerState::Idle {
                st.worker = WorkerState::Running;
            }
        }
    }

    /// Worker: whether full batches wait behind the one it is about to send.
    pub(crate) fn backlogged(&self) -> bool {
        !self.lock().sealed.is_empty()
    }

    /// Worker: the batch was delivered or dropped; frees its room in the queue.
    pub(crate) fn finish(&self, payload: Payload) {
        let mut st = self.lock();
        let (entries, bytes) = payload.charged;
        st.entries -= entries;
        st.bytes -= bytes;
        st.finished += entries as u64;
        self.recycle(&mut st, payload.buf);
        if st.waiters > 0 {
            self.progress.notify_all();
        }
    }

    /// Keeps an emptied batch buffer for reuse, within the bound (see `State::pool`).
    fn recycle(&self, st: &mut State, mut buf: Vec<u8>) {
        // A buffer with much more room than its lines used is not kept (see `seal`).
        let roomy = buf.capacity() > 2 * buf.len().max(4096);
        let room = self
            .limits
            .queue_bytes
            .saturating_add(self.limits.batch_bytes);
        if !roomy && st.pool_bytes + buf.capacity() + st.bytes <= room {
            buf.clear();
            st.pool_bytes += buf.capacity();
            st.pool.push(buf);
        }
    }

    /// Worker: waits until `until`, returning early at the shutdown deadline.
    pub(crate) fn pause(&self, until: Instant) {
        let mut st = self.lock();
        loop {
            let end = match st.worker {
                WorkerState::Draining { deadline } => deadline.min(until),
                _ => until,
            };
            let now = Instant::now();
            if now >= end {
                return;
            }
            st = wait(&self.worker_wake, st, Some(end - now));
        }
    }

    /// The shutdown deadline while the worker drains the queue.
    pub(crate) fn shutdown_deadline(&self) -> Option<Instant> {
        match self.lock().worker {
            WorkerState::Draining { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Sends everything queued so far; waits until it is delivered or dropped, or until
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// With the entries still pending: [`FlushError::WorkerGone`] once the worker drains
    /// or has exited, else [`FlushError::Timeout`].
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        let target = st.accepted;
        if matches!(st.worker, WorkerState::Running | WorkerState::Idle) {
            st.worker = WorkerState::Flushing;
        }
        self.worker_wake.notify_one();
        self.wait_progress(st, deadline, |st| st.finished >= target)
            .map_err(|st| {
                let pending = target.saturating_sub(st.finished);
                if st.worker.open() {
                    FlushError::Timeout { pending }
                } else {
                    FlushError::WorkerGone { pending }
                }
            })
    }

    /// Starts shutdown (new entries are refused; the worker sends what is queued until
    /// `deadline`), then waits until the worker has exited or `wait_until` passed. Returns
    /// the entries left unsent when it gave up waiting.
    pub(crate) fn shutdown(&self, deadline: Instant, wait_until: Instant) -> Result<(), u64> {
        let mut st = self.lock();
        if st.worker.open() {
            st.worker = WorkerState::Draining { deadline };
        }
        self.worker_wake.notify_all();
        self.progress.notify_all();
        self.wait_progress(st, wait_until, |st| st.worker == WorkerState::Exited)
            .map_err(|st| st.accepted.saturating_sub(st.finished))
    }

    fn wait_progress<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Instant,
        done: impl Fn(&State) -> bool,
    ) -> Result<(), MutexGuard<'a, State>> {
        st.waiters += 1;
        let result = loop {
            if done(&st) {
                break Ok(());
            }
            let now = Instant::now();
            if now >= deadline || st.worker == WorkerState::Exited {
                break Err(());
            }
            st = wait(&self.progress, st, Some(deadline - now));
        };
        st.waiters -= 1;
        result.map_err(|()| st)
    }

    /// Worker: it exited; whatever is still queued will not be sent. Returns that count.
    pub(crate) fn worker_exited(&self) -> u64 {
        let mut st = self.lock();
        st.worker = WorkerState::Exited;
        self.progress.notify_all();
        st.accepted - st.finished
    }

    /// What the queue holds and has taken, read under one lock so the numbers agree.
    pub(crate) fn depth(&self) -> Depth {
        let st = self.lock();
        Depth {
            entries: st.entries,
            bytes: st.bytes,
            spilled_entries: st.spilled_entries,
            spilled_bytes: st.spilled_bytes,
            accepted: st.accepted,
            spilled_total: st.spilled_total,
        }
    }
}

/// Waits on `cv` (at most `timeout`), shrugging off poisoning like [`Queue::lock`].
fn wait<'a>(
    cv: &Condvar,
    st: MutexGuard<'a, State>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, State> {
    match timeout {
        None => cv.wait(st).unwrap_or_else(PoisonError::into_inner),
        Some(t) => match cv.wait_timeout(st, t) {
            Ok((st, _)) => st,
            Err(poisoned) => poisoned.into_inner().0,
        },
    }
}

#[cfg(test)]
mod tests;
