//! Load on N connections, each sending its pre-serialized request again: as soon as the
//! previous answer arrives (closed loop), or on a fixed schedule whether or not the server
//! keeps up (open loop). Runs on the caller's (single-threaded) tokio runtime.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::http::{Conn, Request};
use super::report::Latencies;

/// Pause before reconnecting after a failed connection, so a dead server is not spun on.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// When answers count: after the warm-up, until the end.
#[derive(Clone, Copy)]
pub struct Window {
    /// When answers start to count.
    pub start: Instant,
    /// When the phase ends.
    pub end: Instant,
}

impl Window {
    /// A window opening `warmup` from now and lasting `measure`.
    pub fn after(warmup: Duration, measure: Duration) -> Self {
        let start = Instant::now() + warmup;
        Window {
            start,
            end: start + measure,
        }
    }

    fn contains(&self, at: Instant) -> bool {
        (self.start..=self.end).contains(&at)
    }
}

/// What one phase of load produced.
#[derive(Default)]
pub struct Tally {
    /// Answers with the expected status inside the window.
    pub ok: u64,
    /// Answers with the expected status, warm-up included.
    pub ok_total: u64,
    /// Other statuses and I/O errors, warm-up included.
    pub errors: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// Latencies of the `ok` answers.
    pub latencies: Latencies,
}

impl Tally {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.ok_total += other.ok_total;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
    }
}

/// Keeps `requests.len()` connections busy with their own request until `window` ends,
/// counting answers with status `expect`.
pub async fn closed_loop(
    addr: SocketAddr,
    requests: Vec<Request>,
    expect: u16,
    window: Window,
) -> Tally {
    let mut tasks = JoinSet::new();
    for request in requests {
        tasks.spawn(drive(addr, request, expect, window, None));
    }
    gather(tasks).await
}

/// Has `requests.len()` connections send their own request every `interval` each (the
/// connections evenly staggered) until `window` ends, counting answers with status
/// `expect`. A request is sent when it is due or, when the previous answer came late, as
/// soon as that answer arrives; its latency counts from when it was due, so a server that
/// stalls shows in the latencies rather than in fewer samples.
pub async fn open_loop(
    addr: SocketAddr,
    requests: Vec<Request>,
    interval: Duration,
    expect: u16,
    window: Window,
) -> Tally {
    let mut tasks = JoinSet::new();
    let stagger = interval / requests.len().max(1) as u32;
    let first = Instant::now();
    for (i, request) in requests.into_iter().enumerate() {
        let schedule = Schedule {
            next: first + stagger * i as u32,
            interval,
        };
        tasks.spawn(drive(addr, request, expect, window, Some(schedule)));
    }
    gather(tasks).await
}

/// When an open-loop connection's next request is due.
struct Schedule {
    next: Instant,
    interval: Duration,
}

/// One connection's loop; reconnects after an I/O error. Without a schedule, closed loop.
async fn drive(
    addr: SocketAddr,
    request: Request,
    expect: u16,
    window: Window,
    mut schedule: Option<Schedule>,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<Conn> = None;
    while Instant::now() < window.end {
        let live = match conn.as_mut() {
            Some(live) => live,
            None => match Conn::connect(addr).await {
                Ok(fresh) => conn.insert(fresh),
                Err(err) => {
                    tally.fail(format!("connect: {err}"));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let sent = match schedule.as_mut() {
            Some(schedule) => {
                let due = schedule.next;
                schedule.next += schedule.interval;
                if due >= window.end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                due
            }
            None => Instant::now(),
        };
        match live.send(&request).await {
            Ok(reply) if reply.status == expect => {
                let done = Instant::now();
                tally.ok_total += 1;
                if window.contains(done) {
                    tally.ok += 1;
                    tally.latencies.record(done - sent);
                }
            }
            Ok(reply) => {
                let body = String::from_utf8_lossy(reply.body).into_owned();
                tally.fail(format!("HTTP {}: {body}", reply.status));
            }
            Err(err) => {
                tally.fail(format!("I/O: {err}"));
                conn = None;
            }
        }
    }
    tally
}

/// `clients` connections each sending `request` `per_client` times in turn (after one
/// untimed warm-up request each), expecting `200`.
pub async fn sequential(
    addr: SocketAddr,
    request: Request,
    clients: usize,
    per_client: usize,
) -> Tally {
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        tasks.spawn(repeat(addr, request.clone(), per_client));
    }
    gather(tasks).await
}

/// The tallies of every task, merged; a task that failed counts as an error.
async fn gather(mut tasks: JoinSet<Tally>) -> Tally {
    let mut total = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(tally) => total.merge(tally),
            Err(err) => total.fail(format!("a load task failed: {err}")),
        }
    }
    total
}

async fn repeat(addr: SocketAddr, request: Request, times: usize) -> Tally {
    let mut tally = Tally::default();
    let mut conn = match Conn::connect(addr).await {
        Ok(conn) => conn,
        Err(err) => {
            tally.fail(format!("connect: {err}"));
            return tally;
        }
    };
    for round in 0..=times {
        let sent = Instant::now();
        match conn.send(&request).await {
            Ok(reply) if reply.status == 200 => {
                // Round 0 warms the connection and the handler's code paths.
                if round > 0 {
                    tally.ok += 1;
                    tally.latencies.record(sent.elapsed());
                }
            }
            Ok(reply) => tally.fail(format!("HTTP {}", reply.status)),
            Err(err) => {
                tally.fail(format!("I/O: {err}"));
                break;
            }
        }
    }
    tally.ok_total = tally.ok;
    tally
}
